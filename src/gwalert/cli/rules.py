"""gwalert rules: check a rules config file."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "check a rules config file (unknown keys and wrong types name file, rule and key)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="rules_command", metavar="COMMAND", required=True)
    check = sub.add_parser("check", help="validate a config file and list its rules",
                           description="Validate a config file: every rule, filter and action "
                                       "option; python callables are imported.")
    check.add_argument("file", metavar="FILE", help="the TOML config file")
    check.add_argument("--json", action="store_true",
                       help="print the validated config as JSON (secrets hidden)")


def run(args: argparse.Namespace) -> int:
    from ..rules import load_config

    config = load_config(args.file)
    if args.json:
        json.dump(config.describe(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 0
    print(f"{args.file}: OK, {len(config.rules)} rule(s)")
    for rule in config.rules:
        filters = [k for k, v in rule.describe().items()
                   if k not in ("name", "actions", "max_age") and v is not None]
        age = "no max_age" if rule.max_age is None else f"max_age {rule.max_age}"
        actions = ", ".join(f"{a.name} ({a.type})" if a.name != a.type else a.type
                            for a in rule.actions)
        print(f"  {rule.name}: {' '.join(filters) or 'every notice'}; {age} -> {actions}")
    return 0
