"""gwalert parse: read notice files and report on them as the LVK user guide's script does."""

from __future__ import annotations

import argparse
import json
import os
import sys

HELP = "read LVK notice files (Avro, bare Avro or GCN JSON) and print what they say"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Plain output is exactly the LVK Public Alerts User Guide's example report for each\n"
        "notice; --json prints one JSON object per notice (JSON Lines) for scripts.\n"
        "The format is detected from the bytes, not the file name. Use - for stdin; a\n"
        "directory stands for the files in it. With several files each report is headed\n"
        "'==> FILE <==' (as head does)."
    )
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="notice file or directory, or - for stdin")
    parser.add_argument("--json", action="store_true", help="one JSON object per notice")


def run(args: argparse.Namespace) -> int:
    from ..errors import GwalertError
    from ..notice import read_notices
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
            outputs = [_render(n, path, args.json) for n in notices]
        except GwalertError as exc:
            if getattr(args, "debug", False):
                raise
            error(f"{name}: {not_a_notice(path) or exc}")
            failed += 1
            continue
        if headers:
            sys.stdout.write(f"{chr(10) if i else ''}==> {name} <==\n")
        for text in outputs:
            sys.stdout.write(text)
        sys.stdout.flush()
    return 1 if failed else 0


def _expand(paths: list[str]) -> list[str]:
    """Directories stand for their (non-hidden) files, sorted, as ``listen DIR`` reads them."""
    out: list[str] = []
    for p in paths:
        if p != "-" and os.path.isdir(p):
            files = sorted(os.path.join(p, f) for f in os.listdir(p)
                           if not f.startswith(".") and os.path.isfile(os.path.join(p, f)))
            out += files or [p]  # an empty directory is reported as such
        else:
            out.append(p)
    return out


def _render(notice, path: str, as_json: bool) -> str:
    if as_json:
        from ..summary import summarize

        facts = summarize(notice)
        facts["file"] = path
        return json.dumps(facts) + "\n"
    from ..report import guide_report

    return guide_report(notice)
