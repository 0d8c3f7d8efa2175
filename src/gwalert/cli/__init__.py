"""The ``gwalert`` command: one module per verb in this package.

Each verb module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``,
and imports nothing heavy at module level: ``gwalert parse`` must start fast.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Sequence
from typing import Any

from ..util import suggest

#: Verbs in the order ``--help`` lists them; each is ``gwalert.cli.<verb>``.
VERBS = [
    "parse",
    "sample",
    "skymap",
    "plan",
    "listen",
    "respond",
    "publish",
    "notices",
    "events",
    "show",
    "doctor",
    "rules",
    "replay",
    "serve",
]

EPILOG = """\
Run 'gwalert VERB --help' for the options of one verb.
Exit status: 0 success, 1 an input or operation failed, 2 usage error."""


def _version() -> str:
    from .. import __version__

    return __version__


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """``--debug`` and ``-v``: every verb and sub-command takes them."""
    parser.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks and debug logging",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="more logging (repeat for more)",
    )


def _unknown_verb(argv: Sequence[str]) -> str | None:
    """The first word if it is not a verb (options before it are skipped)."""
    for word in argv:
        if word.startswith("-"):
            if word in ("-h", "--help", "--version"):
                return None
            continue
        return None if word in VERBS else word
    return None


class Parser(argparse.ArgumentParser):
    """argparse with two differences, for every verb and sub-command:

    * a value that starts with ``-`` and a digit is a value, not an option (``--site
      -30.24,-70.74,2663``, ``--radec -45 -30``): argparse itself only takes plain negative
      numbers (``-30.24``) as values;
    * an unknown option is reported under the usage of the (sub-)command it was given to,
      with the closest option it has (``parse --jsno``: did you mean '--json'?).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # argparse's own test for "a negative number, not an option" (^-\d+$|^-\d*\.\d+$),
        # widened to any word starting with -DIGIT or -.DIGIT: gwalert has no such option
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras and self._is_command():
            self.error(unknown_options(self, extras))
        return parsed, extras

    def _is_command(self) -> bool:
        """True for a parser that runs a command (it has no sub-commands of its own)."""
        return not any(isinstance(a, argparse._SubParsersAction) for a in self._actions)


def unknown_options(parser: argparse.ArgumentParser, extras: Sequence[str]) -> str:
    """The error for words a command does not take: each unknown option with the closest
    one the command has (did you mean), then any other stray words."""
    known = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
    options = [w for w in extras if w.startswith("-") and len(w) > 1]
    others = [w for w in extras if w not in options]
    parts = [
        f"unknown option {(name := w.split('=', 1)[0])}{suggest(name, known)}" for w in options
    ]
    if others:
        parts.append(f"unrecognized arguments: {' '.join(others)}")
    return "; ".join(parts)


class _VersionAction(argparse.Action):
    """``--version``, with the version looked up only when asked (importlib.metadata is
    slow to import)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(
            option_strings, dest, nargs=0, help="show program's version number and exit"
        )

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        print(f"{parser.prog} {_version()}")
        parser.exit()


def _chosen_verb(argv: Sequence[str]) -> str | None:
    """The verb the command line runs, when nothing before it asks for the overview
    (``-h``, ``--help``, ``--version``): only that verb's module needs importing."""
    for word in argv:
        if word in ("-h", "--help", "--version"):
            return None
        if not word.startswith("-"):
            return word if word in VERBS else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; with ``only``, the other verbs are left out (neither their
    modules nor their sub-parsers: ``gwalert parse`` starts without loading the others)."""
    common = Parser(add_help=False)
    add_common_options(common)
    parser = Parser(
        prog="gwalert",
        description="Receive, understand and act on LIGO/Virgo/KAGRA gravitational-wave alerts.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="verb", metavar="VERB", title="verbs")
    sub.required = True
    for verb in VERBS:
        if only is not None and verb != only:
            continue  # never reached: the command line names ``only``
        module = importlib.import_module(f"gwalert.cli.{verb.replace('-', '_')}")
        p = sub.add_parser(
            verb,
            help=module.HELP,
            description=module.HELP,
            parents=[common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def error(message: str) -> None:
    """Print one ``gwalert: …`` line on stderr."""
    from ..redact import redact
    from ..terminal import escape

    print(f"gwalert: {escape(redact(message))}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    word = _unknown_verb(argv)
    if word is not None:
        print(
            f"usage: gwalert [-h] [--debug] [-v] [--version] VERB ...\n"
            f"gwalert: error: unknown verb {word!r}{suggest(word, VERBS)}; verbs: "
            f"{', '.join(VERBS)}",
            file=sys.stderr,
        )
        return 2
    parser = build_parser(_chosen_verb(argv))
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    verbose = getattr(args, "verbose", 0) or 0
    if debug or verbose or getattr(args._module, "LOGGING", True):
        # a verb whose modules never log (``LOGGING = False``) starts without the logging
        # package unless asked for debug output
        import logging

        level = (
            logging.DEBUG if debug or verbose > 1 else logging.INFO if verbose else logging.WARNING
        )
        logging.basicConfig(level=level, format="%(asctime)s gwalert %(levelname)s: %(message)s")
        from ..redact import install_log_filter

        install_log_filter()
    from ..errors import GwalertError

    try:
        return int(args._module.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1
    except GwalertError as exc:
        if debug:
            raise
        error(str(exc))
        from ..config import ConfigError

        return 2 if isinstance(exc, ConfigError) else 1
    except Exception as exc:  # noqa: BLE001 - last resort: one line, traceback with --debug
        if debug:
            raise
        error(f"unexpected error: {type(exc).__name__}: {exc} (rerun with --debug for details)")
        return 1


def entry() -> None:
    """The ``gwalert`` program (console script, ``python -m gwalert``): :func:`main`, then the
    process ends by :func:`._process.leave` (never finalizing under a thread still running)."""
    from ._process import leave

    leave(main())


if __name__ == "__main__":
    entry()
