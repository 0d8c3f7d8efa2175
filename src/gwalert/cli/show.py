"""gwalert show: one superevent's history from the store."""

from __future__ import annotations

import argparse
import json

from ._store import add_store_arguments, open_store, superevent_facts

HELP = "show one superevent's history (every notice stored for it)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("superevent_id", metavar="ID", help="superevent id, e.g. S230518h")
    add_store_arguments(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object")


def run(args: argparse.Namespace) -> int:
    from ..errors import GwalertError

    store = open_store(args)
    try:
        event = store.get_superevent(args.superevent_id)
        if event is None:
            raise GwalertError(f"{args.superevent_id}: not in the store {store.url}")
        rows = list(store.iter_notices(args.superevent_id, with_raw=False))
        if args.json:
            history = [{"id": r.id, "alert_type": r.alert_type, "time_created": r.time_created,
                        "received_at": r.received_at, "source": r.source,
                        "summary": r.summary} for r in rows]
            facts = superevent_facts(event)
            print(json.dumps({**facts, "notices": history}))
            return 0
        state = "RETRACTED" if event.retracted else f"latest {event.latest_alert_type}"
        print(f"{event.superevent_id}: {state}, {event.n_notices} notice(s)")
        for r in sorted(rows, key=lambda r: (r.time_created, r.id)):
            s = r.summary or {}
            where = ""
            if s.get("ra") is not None:
                where = f"  RA {s['ra']:.2f} Dec {s['dec']:.2f}"
                if s.get("distmean") is not None:
                    where += f"  {s['distmean']:.0f} ± {s.get('diststd') or 0:.0f} Mpc"
                if s.get("area_90") is not None:
                    where += f"  90% area {s['area_90']:.0f} deg²"
            print(f"  {r.time_created}  {r.alert_type:<13} #{r.id} received {r.received_at} "
                  f"from {r.source}{where}")
    finally:
        store.close()
    return 0
