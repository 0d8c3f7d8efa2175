"""gwalert sample: write a drill set of mock notices made with the official schema."""

from __future__ import annotations

import argparse

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
    from ..safefiles import check_name, write_file
    from ..samples import sample_set

    for name, data in sorted(sample_set().items()):
        print(write_file(args.out, (), check_name(name), data))
    return 0
