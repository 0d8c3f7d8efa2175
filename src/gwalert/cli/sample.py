"""gwalert sample: write a drill set of mock notices made with the official schema."""

from __future__ import annotations

import argparse
import os

HELP = "write sample (mock) notices to a directory, for drills and offline tests"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        "-o",
        default="gwalert-samples",
        metavar="DIR",
        help="directory to write into (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    from ..samples import sample_set

    os.makedirs(args.out, exist_ok=True)
    for name, data in sorted(sample_set().items()):
        path = os.path.join(args.out, name)
        with open(path, "wb") as fh:
            fh.write(data)
        print(path)
    return 0
