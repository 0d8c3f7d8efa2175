"""N listeners and M action workers on one PostgreSQL: exactly once, and throughput vs M.

    .venv/bin/python benchmarks/bench_scale.py [--notices K] [--listeners 1,2,4,8]
        [--workers 1,2,4,8] [--postgres URL]

A simulation in one process of a redundant deployment sharing one database (a throwaway schema
in the local ``test`` database by default):

* listeners: N pipelines built by :func:`gwalert.app.build` with ``actions=False`` (what
  ``gwalert listen --no-actions`` runs), each with its own engine and two feeds (the Avro and the
  JSON copies of K notices, as files), all started at once: every notice is offered 2N times
  and must be stored once, with one first arrival and one ledger row;
* workers: M responders (what ``gwalert respond`` runs), each with its own engine, two action
  threads and its own lease owner, started on the ledger of those K notices; the action is a
  Python function that sleeps 50 ms (an action's wait on a network service) and counts its
  runs by idempotency key.

Prints, per N, the notices stored per second and the checks; per M, the actions finished per
second (from the first claim to the last finish) and whether every action ran exactly once.
Python threads share one interpreter here, so the figures are a lower bound of what separate
processes on separate hosts reach.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def schema(base: str) -> tuple[str, object]:
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"gwalert_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    return f"{base}?options=-csearch_path%3D{name}", (admin, name)


def drop(handle) -> None:
    admin, name = handle
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
    admin.dispose()


def write_notices(tmp: Path, k: int) -> list[Path]:
    from gwalert import samples

    skymap = samples.gaussian_skymap(max_level=4)
    dirs = []
    for fmt in ("avro", "json"):
        d = tmp / fmt
        d.mkdir()
        for i in range(k):
            rec = samples.make_record(
                f"MS26{i // 100:04d}{'abcdefghij'[i // 10 % 10]}",
                ("PRELIMINARY", "INITIAL", "UPDATE")[i % 3],
                skymap=skymap,
                time_created=f"2026-03-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
            )
            (d / f"{i:05d}.{fmt}").write_bytes(samples.encode(rec, fmt))
        dirs.append(d)
    return dirs


def listeners(url: str, cfg: Path, dirs: list[Path], n: int) -> tuple[float, int, int]:
    from gwalert.app import build
    from gwalert.feedset import Feed, FeedSet
    from gwalert.sources.files import FileSource
    from gwalert.store import Store

    stores = [Store.open(url) for _ in range(n)]
    runners = []
    for store in stores:
        app = build(store, str(cfg), actions=False)
        feeds = [Feed(str(d), lambda d=d: FileSource(d)) for d in dirs]
        runners.append(FeedSet(feeds, app.pipeline))
    threads = [threading.Thread(target=r.run) for r in runners]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    new = sum(r.stats.new for r in runners)
    messages = sum(r.stats.messages for r in runners)
    for store in stores:
        store.close()
    return elapsed, new, messages


def workers(url: str, cfg: Path, m: int, k: int, runs: list[str]) -> tuple[float, bool]:
    from gwalert.app import responder
    from gwalert.store import Store, ledger

    stores = [Store.open(url) for _ in range(m)]
    engines = [responder(s, str(cfg), lease=30.0, workers=2) for s in stores]
    runs.clear()
    t0 = time.perf_counter()
    for e in engines:
        e.start()
    ok = engines[0].wait_idle(600)
    elapsed = time.perf_counter() - t0
    for e in engines:
        e.stop()
    with stores[0].engine.connect() as conn:
        counts = ledger.counts(conn)
    for s in stores:
        s.close()
    once = ok and counts["done"] == k and len(runs) == len(set(runs)) == k
    return elapsed, once


def reset_actions(url: str) -> None:
    from gwalert.store import ledger, normalize_url

    engine = sa.create_engine(normalize_url(url))
    with engine.begin() as conn:
        conn.execute(
            ledger.actions.update().values(
                state=ledger.DUE,
                attempts=0,
                next_attempt_at=0.0,
                lease_owner=None,
                lease_until=None,
                started_at=None,
                finished_at=None,
                last_error=None,
            )
        )
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=200)
    parser.add_argument("--listeners", default="1,2,4,8")
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--postgres", default=BASE, help="database to create schemas in")
    args = parser.parse_args()
    ns = [int(x) for x in args.listeners.split(",")]
    ms = [int(x) for x in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="gwalert-bench-scale-") as tmp:
        tmp_path = Path(tmp)
        sys.path.insert(0, tmp)
        (tmp_path / "bench_sleep.py").write_text(
            textwrap.dedent("""
            import threading, time
            RUNS = []
            def act(notice, context):
                RUNS.append(context.action_id)
                time.sleep(0.05)
        """)
        )
        import bench_sleep

        cfg = tmp_path / "gwalert.toml"
        cfg.write_text(
            '[[rule]]\nname = "all"\nmax_age = false\n[[rule.action]]\n'
            'type = "python"\ncallable = "bench_sleep:act"\n'
        )
        dirs = write_notices(tmp_path, args.notices)
        print(f"{args.notices} notices, each as Avro and as JSON (2 feeds per listener)")
        url = None
        for n in ns:
            url, handle = schema(args.postgres)
            elapsed, new, messages = listeners(url, cfg, dirs, n)
            engine = sa.create_engine(url)
            with engine.connect() as conn:
                stored = conn.execute(sa.text("SELECT COUNT(*) FROM gwalert_notices")).scalar()
                planned = conn.execute(sa.text("SELECT COUNT(*) FROM gwalert_actions")).scalar()
                firsts = conn.execute(
                    sa.text("SELECT COUNT(*) FROM gwalert_arrivals WHERE is_first")
                ).scalar()
            engine.dispose()
            good = stored == new == planned == firsts == args.notices
            print(
                f"N={n} listeners: {messages} messages in {elapsed:.2f} s "
                f"({messages / elapsed:.0f} messages/s, {stored / elapsed:.0f} notices/s); "
                f"stored {stored}, ledger rows "
                f"{planned}, first arrivals {firsts}: {'exactly once' if good else 'WRONG'}"
            )
            if n != ns[-1]:
                drop(handle)
        base_rate = None
        for m in ms:
            reset_actions(url)
            elapsed, once = workers(url, cfg, m, args.notices, bench_sleep.RUNS)
            rate = args.notices / elapsed
            base_rate = base_rate or rate
            print(
                f"M={m} workers (2 action threads each): {args.notices} actions in "
                f"{elapsed:.2f} s = {rate:.0f} actions/s ({rate / base_rate:.2f}x M={ms[0]}); "
                f"{'exactly once' if once else 'NOT exactly once'}"
            )
        drop(handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
