"""gwalert rules: check a rules config file."""

from __future__ import annotations

import argparse
import json
import sys

HELP = (
    "rules check: validate a config file (keys, types, impossible rules, unset environment "
    "variables); rules status: the actions recorded in the ledger"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from . import add_common_options

    sub = parser.add_subparsers(dest="rules_command", metavar="COMMAND", required=True)
    check = sub.add_parser(
        "check",
        help="validate a config file and list its rules",
        description="Validate a config file: every rule, filter and action "
        "option; python callables are imported; rules that "
        "can never match and environment variables that are "
        "not set are errors.",
    )
    add_common_options(check)
    check.add_argument(
        "file",
        metavar="FILE",
        nargs="?",
        help="the TOML config file (default: gwalert.toml in the user config "
        "directory, as listen and replay use)",
    )
    check.add_argument(
        "--json", action="store_true", help="print the validated config as JSON (secrets hidden)"
    )
    status = sub.add_parser(
        "status",
        help="list the actions recorded in the store's ledger",
        description="List recorded actions: due, running, done, failed "
        "(with the error) or skipped (older than max_age).",
    )
    add_common_options(status)
    status.add_argument("--store", metavar="URL", help="store URL or SQLite path")
    status.add_argument("--config", metavar="FILE", help="config file naming the store")
    status.add_argument(
        "--state",
        choices=["due", "running", "done", "failed", "skipped"],
        help="only actions in this state",
    )
    status.add_argument("--json", action="store_true", help="one JSON object per action")


def run(args: argparse.Namespace) -> int:
    if args.rules_command == "status":
        return _status(args)
    from ..config import default_config_path
    from ..errors import GwalertError
    from ..rules import load_config

    name = args.file or str(default_config_path())
    if args.file is None and not default_config_path().exists():
        raise GwalertError(f"{name}: no config file (give FILE, or create this one)")
    config = load_config(name)
    unset = unset_env(config)
    if unset:
        for line in unset:
            print(f"gwalert: {name}: {line}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(config.describe(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 0
    print(f"{name}: OK, {len(config.rules)} rule(s)")
    for rule in config.rules:
        filters = [
            k
            for k, v in rule.describe().items()
            if k not in ("name", "actions", "max_age") and v is not None
        ]
        age = "no max_age" if rule.max_age is None else f"max_age {_age(rule.max_age)}"
        actions = ", ".join(
            f"{a.name} ({a.type})" if a.name != a.type else a.type for a in rule.actions
        )
        print(f"  {rule.name}: {' '.join(filters) or 'every notice'}; {age} -> {actions}")
    return 0


def _age(td: object) -> str:
    from ..util import duration

    return duration(td)  # type: ignore[arg-type]


def unset_env(config: object) -> list[str]:
    """One line per action option naming an environment variable that is not set (the
    action would fail when it runs: say so now)."""
    import os

    out = []
    for rule in config.rules:  # type: ignore[attr-defined]
        for action in rule.actions:
            for key, value in action.options.items():
                if key.endswith("_env") and isinstance(value, str) and not os.environ.get(value):
                    out.append(
                        f"rule {rule.name!r}: action {action.name!r}: {key} names "
                        f"${value}, which is not set in this environment"
                    )
    return out


def _status(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from ..store import ledger
    from ..store.notices import notices
    from ._ledger_text import error_text
    from ._store import open_store

    store = open_store(args, must_exist=True)
    try:
        ledger.create(store.engine)
        a, n = ledger.actions.c, notices.c
        query = (
            sa.select(
                a.id,
                a.notice_id,
                n.superevent_id,
                n.alert_type,
                a.rule,
                a.action,
                a.action_type,
                a.state,
                a.attempts,
                a.last_error,
                a.created_at,
                a.finished_at,
            )
            .select_from(ledger.actions.outerjoin(notices, n.id == a.notice_id))
            .order_by(a.id)
        )
        if args.state:
            query = query.where(a.state == args.state)
        with store.engine.connect() as conn:
            rows = list(conn.execute(query).mappings())
            totals = ledger.counts(conn)
    finally:
        store.close()
    from ..redact import ledger_row
    from ..terminal import escape

    for r in map(ledger_row, rows):
        if args.json:
            print(json.dumps(r, default=str))
        else:
            error = error_text(r["last_error"])
            why = f": {error}" if error and r["state"] != "done" else ""
            print(
                escape(
                    f"{r['superevent_id']} {r['alert_type']} {r['rule']}/{r['action']}: "
                    f"{r['state']} ({r['attempts']} attempt(s)){why}"
                )
            )
    if not args.json:
        print(", ".join(f"{v} {k}" for k, v in totals.items()), file=sys.stderr)
    return 0
