"""gwalert events: superevents in the store with their latest state."""

from __future__ import annotations

import argparse
import json

HELP = "list the superevents in the store with their latest state"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", metavar="URL", help="store URL or SQLite path")
    parser.add_argument("--config", metavar="FILE", help="gwalert config file")
    parser.add_argument("--json", action="store_true", help="one JSON object per superevent")


def run(args: argparse.Namespace) -> int:
    from ._store import open_store

    store = open_store(args)
    try:
        if not args.json:
            print("superevent_id\tlatest_alert_type\tlatest_time_created\tretracted\tnotices\t"
                  "last_received_at")
        for row in store.iter_superevents():
            facts = dict(row._mapping)
            facts["retracted"] = bool(facts["retracted"])
            if args.json:
                print(json.dumps(facts))
            else:
                print(f"{row.superevent_id}\t{row.latest_alert_type}\t{row.latest_time_created}"
                      f"\t{'yes' if row.retracted else 'no'}\t{row.n_notices}\t"
                      f"{row.last_received_at}")
    finally:
        store.close()
    return 0
