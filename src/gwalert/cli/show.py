"""gwalert show: one superevent's history from the store."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ._store import add_store_arguments, open_store, superevent_facts

HELP = "show one superevent's history (every notice stored for it); --save writes its files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Each notice line gives the false alarm rate (as 1 per N years), "
        "significance, leading classification, distance, 90% area and any external "
        "coincidence (+ Fermi coincidence). --save DIR writes, per notice, the raw "
        "notice, its sky map FITS and a PNG (and the combined sky map of an "
        "external coincidence)."
    )
    parser.add_argument("superevent_id", metavar="ID", help="superevent id, e.g. S230518h")
    add_store_arguments(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object")
    parser.add_argument(
        "--save", metavar="DIR", help="write each notice's raw file, sky-map FITS and PNG into DIR"
    )
    parser.add_argument("--no-plot", action="store_true", help="with --save: no PNGs")


def run(args: argparse.Namespace) -> int:
    from ..errors import GwalertError
    from ._facts import key_numbers, key_text

    store = open_store(args)
    try:
        event = store.get_superevent(args.superevent_id)
        if event is None:
            raise GwalertError(f"{args.superevent_id}: not in the store {store.url}")
        rows = sorted(
            store.iter_notices(args.superevent_id, with_raw=False),
            key=lambda r: (r.time_created, r.id),
        )
        copies = _arrivals(store, [r.id for r in rows])
        saved = _save(store, rows, args.save, not args.no_plot) if args.save else {}
        if args.json:
            history = [
                {
                    "id": r.id,
                    "alert_type": r.alert_type,
                    "time_created": r.time_created,
                    "received_at": r.received_at,
                    "source": r.source,
                    **key_numbers(r.summary or {}),
                    "summary": r.summary,
                    "arrivals": [
                        {k: v for k, v in a.items() if k not in ("role", "behind", "where")}
                        for a in copies.get(r.id, [])
                    ],
                    **({"files": saved[r.id]} if r.id in saved else {}),
                }
                for r in rows
            ]
            facts = superevent_facts(event)
            print(json.dumps({**facts, "notices": history}))
            return 0
        state = "RETRACTED" if event.retracted else f"latest {event.latest_alert_type}"
        print(f"{event.superevent_id}: {state}, {event.n_notices} notice(s)")
        for r in rows:
            s = r.summary or {}
            where = ""
            if s.get("ra") is not None:
                where = f"  RA {s['ra']:.2f} Dec {s['dec']:.2f}"
            text = key_text(s)
            print(
                f"  {r.time_created}  {r.alert_type:<13} #{r.id} received {r.received_at} "
                f"from {r.source}{where}{'  ' + text if text else ''}"
            )
            for a in copies.get(r.id, []):
                print(
                    f"      {a['role']:<6} {a['feed']}  received {a['received_at']}"
                    f"{a['behind']}{a['where']}"
                )
            for path in saved.get(r.id, {}).values():
                print(f"      -> {path}")
    finally:
        store.close()
    return 0


def _save(store: Any, rows: list[Any], folder: str, with_plot: bool) -> dict[int, dict]:
    """Per notice: raw notice, sky-map FITS, PNG (and combined map) under FOLDER/ID/…"""
    from pathlib import Path

    from ..actions.save import notice_dir, save_combined, write_file
    from ..alerts import decode
    from ..errors import GwalertError

    out: dict[int, dict] = {}
    for r in rows:
        full = store.get_notice(r.id)
        notices = decode(bytes(full.raw))
        notice = next((n for n in notices if n.content_hash == r.content_hash), notices[0])
        where = notice_dir(folder, dict(r.summary or {}), r.content_hash)
        files: dict[str, str] = {}
        try:
            where.mkdir(parents=True, exist_ok=True)
            ext = "json" if str(r.format) == "json" else "avro"
            files["notice"] = str(write_file(where / f"notice.{ext}", bytes(full.raw)))
            data = notice.event.skymap_bytes if notice.event else None
            if data:
                files["skymap"] = str(write_file(where / "skymap.multiorder.fits", data))
                if with_plot and notice.skymap is not None:  # bytes present: decodes
                    png = Path(where / "skymap.png")
                    notice.skymap.plot(
                        png, event=notice.superevent_id, alert_type=str(notice.alert_type)
                    )
                    files["plot"] = str(png)
            files.update(save_combined(notice, where, with_plot))
        except OSError as exc:
            raise GwalertError(f"cannot save into {where}: {exc.strerror or exc}") from None
        out[r.id] = files
    print(f"saved {len(out)} notice(s) under {folder}", file=sys.stderr)
    return out


def _arrivals(store: object, ids: list[int]) -> dict[int, list[dict]]:
    """Each notice's copies (feed, when, how far behind the first), first copy first."""
    from ..store.arrivals import for_notices, lead_seconds

    out: dict[int, list[dict]] = {}
    for nid, rows in for_notices(store.engine, ids).items():  # type: ignore[attr-defined]
        items = []
        for row, lead in zip(rows, lead_seconds(rows), strict=True):
            first = bool(row.is_first)
            where = "" if row.partition is None else f"  [{row.partition}]@{row.offset}"
            behind = "" if first or lead is None else f"  {lead * 1000:+.1f} ms after the first"
            items.append(
                {
                    "feed": row.feed,
                    "source": row.source,
                    "partition": row.partition,
                    "offset": row.offset,
                    "received_at": row.received_at,
                    "broker_time": row.broker_time,
                    "first": first,
                    "behind_ms": None if lead is None else round(lead * 1000, 3),
                    "role": "first" if first else "later",
                    "behind": behind,
                    "where": where,
                }
            )
        if items:
            out[nid] = items
    return out
