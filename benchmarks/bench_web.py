"""Dashboard benchmark: how fast ``gwalert serve`` answers over a store of many superevents.

    .venv/bin/python benchmarks/bench_web.py [--superevents 1000] [--repeat 15]

Fills a fresh SQLite store with N superevents (3 notices each: preliminary, initial, update,
each with a sky map; every 10th retracted; every 5th with two ledger actions, one failed), then
runs the real application under uvicorn on loopback and times requests from this process
(median and max of ``--repeat``; times include HTTP on loopback, so they bound the server time
from above). Targets (issue 10): the list of 1,000 superevents < 200 ms; a page with a map
< 1 s after its first view (the PNG is rendered once per notice, then served from the cache).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def fill(store, n: int) -> None:
    from gwalert import samples
    from gwalert.alerts import decode
    from gwalert.store import ledger
    from gwalert.summary import safe_summary

    skymap = samples.gaussian_skymap(meta={"OBJECT": "bench"})
    template = decode(samples.encode(samples.make_record(skymap=skymap)))[0]
    summary = safe_summary(template)  # the same map everywhere: analyse it once
    ledger.create(store.engine)
    for i in range(n):
        sid = f"S{26 - i // 9000:02d}{(i // 300) % 12 + 1:02d}{i % 28 + 1:02d}" + _suffix(i)
        day = f"2026-{(i // 28) % 12 + 1:02d}-{i % 28 + 1:02d}"
        types = ["PRELIMINARY", "INITIAL", "UPDATE"] + (["RETRACTION"] if i % 10 == 0 else [])
        for k, kind in enumerate(types):
            rec = samples.make_record(
                sid,
                kind,
                time_created=f"{day}T00:{10 + k:02d}:00Z",
                skymap=None if kind == "RETRACTION" else skymap,
                far=10.0 ** -(6 + i % 8),
            )
            if rec["event"]:
                rec["event"]["time"] = f"{day}T00:00:00.000Z"
            notice = decode(samples.encode(rec))[0]
            facts = dict(
                summary,
                superevent_id=sid,
                alert_type=kind,
                far=rec["event"]["far"] if rec["event"] else None,
            )
            if kind == "RETRACTION":
                facts = {"superevent_id": sid, "alert_type": kind}
            nid, _ = store.add(notice, source="kafka://bench/igwn.gwalert", summary=facts)
            if i % 5 == 0 and kind == "PRELIMINARY":
                with store.engine.begin() as conn:
                    ledger.insert_new(
                        conn,
                        [
                            ledger.row(nid, "r", "ok", "webhook", max_attempts=3, state="done"),
                            ledger.row(
                                nid,
                                "r",
                                "bad",
                                "webhook",
                                max_attempts=3,
                                state="failed",
                                error="HTTP 500",
                            ),
                        ],
                    )


def _suffix(i: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    j = i // 28
    return letters[j % 26] + (letters[j // 26] if j >= 26 else "")


def timed(url: str, repeat: int) -> tuple[float, float, int]:
    from web_server import get

    times = []
    size = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        status, _, body = get(url)
        times.append(time.perf_counter() - t0)
        assert status == 200, (url, status)
        size = len(body)
    return statistics.median(times), max(times), size


def _cpu_per_list(app, repeat: int) -> float:
    """CPU seconds the list page costs the server thread (what load on the machine does not
    inflate as much as wall time)."""
    from starlette.requests import Request

    from gwalert.web.pages import index

    class Holder:
        pass

    holder = Holder()
    holder.state = app.state
    times = []
    for _ in range(repeat):
        request = Request(
            {
                "type": "http",
                "method": "GET",
                "path": "/",
                "query_string": b"",
                "headers": [],
                "app": holder,
            }
        )
        c0 = time.thread_time()
        index(request)
        times.append(time.thread_time() - c0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--superevents", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    from web_server import get, running

    from gwalert.store import Store
    from gwalert.web import create_app

    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(str(Path(tmp) / "bench.sqlite"))
        t0 = time.perf_counter()
        fill(store, args.superevents)
        counts = store.counts()
        print(
            f"store: {counts['superevents']} superevents, {counts['notices']} notices "
            f"(filled in {time.perf_counter() - t0:.1f} s)"
        )
        app = create_app(store, cache_dir=Path(tmp) / "cache", prerender=False)
        with running(app) as base:
            sid = next(iter(store.iter_superevents())).superevent_id
            detail = get(base + f"/api/events/{sid}")[2]
            import json

            nid = json.loads(detail)["skymap_notice_id"]
            t0 = time.perf_counter()
            get(base + f"/maps/{nid}/skymap.png")
            first_png = time.perf_counter() - t0
            rows = [
                ("/ (all superevents)", "/"),
                ("/fragments/events (live update)", "/fragments/events"),
                ("/?kind=real&q=S26 (filtered)", "/?kind=real&q=S26"),
                ("/api/events", "/api/events"),
                ("/api/version (poll)", "/api/version"),
                (f"/events/{sid}", f"/events/{sid}"),
                ("sky-map PNG, cached", f"/maps/{nid}/skymap.png"),
                ("/health", "/health"),
                ("/metrics", "/metrics"),
            ]
            print(f"first view of a sky-map PNG (rendered): {first_png * 1000:.0f} ms")
            print(f"{'request':40s} {'median':>9s} {'max':>9s} {'bytes':>9s}")
            for name, path in rows:
                med, worst, size = timed(base + path, args.repeat)
                print(f"{name:40s} {med * 1000:7.1f}ms {worst * 1000:7.1f}ms {size:9d}")
            cpu = _cpu_per_list(app, args.repeat)
            print(
                f"server CPU time for / (in-process, thread time): median {cpu * 1000:.1f} ms"
                f" (target < 200 ms); load average {os.getloadavg()[0]:.1f}"
            )
            page = timed(base + f"/events/{sid}", args.repeat)[0]
            png = timed(base + f"/maps/{nid}/skymap.png", args.repeat)[0]
            print(
                f"page with a map after its first view (HTML + PNG): "
                f"{(page + png) * 1000:.0f} ms (target < 1000 ms)"
            )
        store.close()


if __name__ == "__main__":
    main()
