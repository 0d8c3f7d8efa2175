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
        copies = _arrivals(store, [r.id for r in rows])
        if args.json:
            history = [{"id": r.id, "alert_type": r.alert_type, "time_created": r.time_created,
                        "received_at": r.received_at, "source": r.source,
                        "summary": r.summary,
                        "arrivals": [{k: v for k, v in a.items()
                                      if k not in ("role", "behind", "where")}
                                     for a in copies.get(r.id, [])]}
                       for r in rows]
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
            for a in copies.get(r.id, []):
                print(f"      {a['role']:<6} {a['feed']}  received {a['received_at']}"
                      f"{a['behind']}{a['where']}")
    finally:
        store.close()
    return 0


def _arrivals(store: object, ids: list[int]) -> dict[int, list[dict]]:
    """Each notice's copies (feed, when, how far behind the first), first copy first."""
    from ..arrivals import for_notices, lead_seconds

    out: dict[int, list[dict]] = {}
    for nid, rows in for_notices(store.engine, ids).items():  # type: ignore[attr-defined]
        items = []
        for row, lead in zip(rows, lead_seconds(rows), strict=True):
            first = bool(row.is_first)
            where = "" if row.partition is None else f"  [{row.partition}]@{row.offset}"
            behind = "" if first or lead is None else f"  {lead * 1000:+.1f} ms after the first"
            items.append({"feed": row.feed, "source": row.source, "partition": row.partition,
                          "offset": row.offset, "received_at": row.received_at,
                          "broker_time": row.broker_time, "first": first,
                          "behind_ms": None if lead is None else round(lead * 1000, 3),
                          "role": "first" if first else "later", "behind": behind,
                          "where": where})
        if items:
            out[nid] = items
    return out
