"""gwalert parse: read notice files and report on them as the LVK user guide's script does."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..util import why

#: Nothing ``parse`` reaches logs: the command starts without the logging package.
LOGGING = False

HELP = "read LVK notice files (Avro, bare Avro or GCN JSON) and print what they say"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Plain output is exactly the LVK Public Alerts User Guide's example report for each\n"
        "notice; --json prints one JSON object per notice (JSON Lines) for scripts.\n"
        "The format is detected from the bytes, not the file name. Use - for stdin; a\n"
        "directory stands for the files in it. With several files each report is headed\n"
        "'==> FILE <==' (as head does).\n"
        "A notice that strays from the IGWN alert schema but carries what gwalert needs\n"
        "(superevent_id, alert_type, time_created) is reported, each deviation on stderr as\n"
        "'gwalert: FILE: warning: ...'; a file that cannot be understood gets one line\n"
        "'gwalert: FILE: reason' and the exit status is 1."
    )
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="notice file or directory, or - for stdin"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per notice")


def run(args: argparse.Namespace) -> int:
    from ..alerts import read_notices
    from ..errors import GwalertError
    from . import error
    from ._input import not_a_notice

    failed = 0
    paths = _expand(args.paths)
    headers = len(paths) > 1 and not args.json
    for i, path in enumerate(paths):
        name = "<stdin>" if path == "-" else path
        if path != "-" and os.path.isdir(path):
            error(f"{name}: no files in this directory")
            failed += 1
            continue
        try:
            notices = read_notices(path)
            problems: list[str] = []
            outputs = [_render(n, path, args.json, problems) for n in notices]
        except Exception as exc:  # noqa: BLE001 - one line per bad file, the others still read
            if getattr(args, "debug", False):
                raise
            error(f"{name}: {not_a_notice(path) or _reason(exc, GwalertError)}")
            failed += 1
            continue
        for notice in notices:
            for warning in notice.warnings:
                error(f"{name}: warning: {warning}")
        if problems:  # reported above, and one line here and the exit status say it
            more = len(problems) - 1
            error(f"{name}: {problems[0]}{f' (and {more} more)' if more else ''}")
            failed += 1
        if headers:
            sys.stdout.write(f"{chr(10) if i else ''}==> {name} <==\n")
        for text in outputs:
            sys.stdout.write(text)
        sys.stdout.flush()
    return 1 if failed else 0


def _reason(exc: BaseException, known: type[BaseException]) -> str:
    """The line for a file that could not be reported on: gwalert's own message, else what
    failed (a sky map the analysis could not handle, ...)."""
    if isinstance(exc, known):
        return str(exc)
    return f"could not be analysed: {why(exc, None)}"


def _expand(paths: list[str]) -> list[str]:
    """Directories stand for their (non-hidden) files, sorted, as ``listen DIR`` reads them."""
    out: list[str] = []
    for p in paths:
        if p != "-" and os.path.isdir(p):
            files = sorted(
                os.path.join(p, f)
                for f in os.listdir(p)
                if not f.startswith(".") and os.path.isfile(os.path.join(p, f))
            )
            out += files or [p]  # an empty directory is reported as such
        else:
            out.append(p)
    return out


def _render(notice, path: str, as_json: bool, problems: list[str]) -> str:
    if as_json:
        from ..store.sanitize import json_value
        from ..summary import summarize

        facts = summarize(notice).to_json()
        facts["file"] = path
        if facts.get("skymap_error"):
            problems.append(facts["skymap_error"])
        return json.dumps(json_value(facts), allow_nan=False) + "\n"
    from ..report import guide_report

    return guide_report(notice, problems)
