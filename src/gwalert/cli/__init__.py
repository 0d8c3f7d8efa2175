"""The ``gwalert`` command: one module per verb in this package.

Each verb module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``,
and imports nothing heavy at module level: ``gwalert parse`` must start fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from ..util import suggest

#: Verbs in the order ``--help`` lists them; each is ``gwalert.cli.<verb>``.
VERBS = [
    "parse",
    "sample",
    "skymap",
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


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    add_common_options(common)
    parser = argparse.ArgumentParser(
        prog="gwalert",
        description="Receive, understand and act on LIGO/Virgo/KAGRA gravitational-wave alerts.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", title="verbs")
    sub.required = True
    for verb in VERBS:
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
    print(f"gwalert: {message}", file=sys.stderr, flush=True)


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
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    verbose = getattr(args, "verbose", 0) or 0
    level = logging.DEBUG if debug or verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s gwalert %(levelname)s: %(message)s")
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
        return 1
    except Exception as exc:  # noqa: BLE001 - last resort: one line, traceback with --debug
        if debug:
            raise
        error(f"unexpected error: {type(exc).__name__}: {exc} (rerun with --debug for details)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
