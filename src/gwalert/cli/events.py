"""gwalert events: superevents in the store with their latest state."""

from __future__ import annotations

import argparse
import json

from ._store import add_store_arguments, open_store, superevent_facts

HELP = "list the superevents in the store with their latest state and key numbers"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Columns after 'last_received_at' are the latest notice's key numbers: "
        "false alarm rate (as 1 per N years), significance, leading "
        "classification, distance (Mpc) and 90% area (deg²)."
    )
    add_store_arguments(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per superevent")


def run(args: argparse.Namespace) -> int:
    from ..terminal import print_line
    from ._facts import key_numbers

    store = open_store(args)
    try:
        if not args.json:
            print(
                "superevent_id\tlatest_alert_type\tlatest_time_created\tretracted\tnotices\t"
                "last_received_at\tfar\tsignificant\tclassification\tdistance\tarea_90"
            )
        for row in store.iter_superevents():
            facts = superevent_facts(row)
            latest = store.get_notice(row.latest_notice_id) if row.latest_notice_id else None
            summary = dict(latest.summary or {}) if latest is not None else {}
            if row.retracted and summary.get("is_retraction"):
                # the key numbers of the last notice that had an event
                for n in reversed(list(store.iter_notices(row.superevent_id, with_raw=False))):
                    if not (n.summary or {}).get("is_retraction"):
                        summary = dict(n.summary or {})
                        break
            key = key_numbers(summary)
            if args.json:
                print(json.dumps({**facts, **key}))
            else:
                dist = (
                    ""
                    if key["distmean"] is None
                    else f"{key['distmean']:.0f} ± {key['diststd'] or 0:.0f}"
                )
                sig = "" if key["significant"] is None else "yes" if key["significant"] else "no"
                area = "" if key["area_90"] is None else f"{key['area_90']:.0f}"
                print_line(
                    f"{row.superevent_id}\t{row.latest_alert_type}\t{row.latest_time_created}"
                    f"\t{'yes' if row.retracted else 'no'}\t{row.n_notices}\t"
                    f"{row.last_received_at}\t{key['far_text'] or ''}\t{sig}\t"
                    f"{key['classification'] or ''}\t{dist}\t{area}",
                    keep="\t",
                )
    finally:
        store.close()
    return 0
