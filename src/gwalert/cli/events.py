"""gwalert events: superevents in the store with their latest state."""

from __future__ import annotations

import argparse
import json

from ._store import add_store_arguments, open_store, superevent_facts

HELP = "list the superevents in the store with their latest state"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_store_arguments(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per superevent")


def run(args: argparse.Namespace) -> int:
    store = open_store(args)
    try:
        if not args.json:
            print("superevent_id\tlatest_alert_type\tlatest_time_created\tretracted\tnotices\t"
                  "last_received_at")
        for row in store.iter_superevents():
            facts = superevent_facts(row)
            if args.json:
                print(json.dumps(facts))
            else:
                print(f"{row.superevent_id}\t{row.latest_alert_type}\t{row.latest_time_created}"
                      f"\t{'yes' if row.retracted else 'no'}\t{row.n_notices}\t"
                      f"{row.last_received_at}")
    finally:
        store.close()
    return 0
