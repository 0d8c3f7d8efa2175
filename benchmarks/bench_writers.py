"""Many writers, one truth (issue 16's "Done when"): four ``gwalert listen DIR`` processes
storing different notices of the same superevents at once, on one PostgreSQL and on one SQLite
file, then every superevent checked against the fold of its notices.

    .venv/bin/python benchmarks/bench_writers.py [--superevents 120] [--listeners 4]
        [--postgres postgresql://postgres@127.0.0.1:5432/test] [--no-sqlite] [--no-postgres]

Each listener has its own directory holding one alert type of every superevent (PRELIMINARY,
INITIAL, UPDATE, RETRACTION: the same superevents, different notices), in Avro or JSON at
random, and runs the actions of one rule matching every notice (a command appending
``$GWALERT_ACTION_ID`` to a log, so a duplicate run shows). Reported: wall time, notices stored,
dead letters, superevents whose count/latest/retracted differ from the fold, ledger rows per
notice, actions run more than once. PostgreSQL gets a throwaway schema (dropped afterwards).
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TYPES = ("PRELIMINARY", "INITIAL", "UPDATE", "RETRACTION")


def write_dirs(root: Path, n: int, listeners: int, rng: random.Random) -> int:
    from gwalert import samples

    count = 0
    for i in range(n):
        sid = f"S2601{i // 26 // 26 % 100:02d}{chr(97 + i // 26 % 26)}{chr(97 + i % 26)}"
        for j, kind in enumerate(TYPES[:listeners] if listeners <= 4 else TYPES):
            rec = samples.make_record(
                sid, kind, time_created=f"2026-01-01T00:{10 * (j + 1):02d}:00Z", far=1e-9
            )
            fmt = rng.choice(("avro", "json"))
            d = root / f"feed{j % listeners}"
            d.mkdir(exist_ok=True)
            (d / f"{sid}-{kind}.{fmt}").write_bytes(samples.encode(rec, fmt))
            count += 1
    return count


def run(url: str, work: Path, n: int, listeners: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    root = work / "dirs"
    root.mkdir()
    expected = write_dirs(root, n, listeners, rng)
    log = work / "actions.log"
    config = work / "gwalert.toml"
    config.write_text(
        '[[rule]]\nname = "every"\nmax_age = false\n\n[[rule.action]]\ntype = "command"\n'
        f'argv = ["sh", "-c", "echo $GWALERT_ACTION_ID >> {log}"]\n'
    )
    cmd = [sys.executable, "-m", "gwalert", "listen", "--store", url, "--config", str(config)]
    start = time.monotonic()
    procs = [
        subprocess.Popen(
            [*cmd, "-q", str(d)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        for d in sorted(root.iterdir())
    ]
    errors = [p.communicate()[1] for p in procs]
    took = time.monotonic() - start
    codes = [p.returncode for p in procs]

    import sqlalchemy as sa

    from gwalert.store import Store
    from gwalert.store.fold import fold
    from gwalert.store.ledger import actions

    store = Store.open(url)
    try:
        rows = list(store.iter_notices(with_raw=False))
        by_sid = defaultdict(list)
        for r in rows:
            by_sid[r.superevent_id].append(r)
        wrong = 0
        for ev in store.iter_superevents():
            ns = by_sid.get(ev.superevent_id, [])
            want = fold(ev.superevent_id, ns)
            retracted = any(x.alert_type == "RETRACTION" for x in ns)
            latest = (
                max(ns, key=lambda x: (x.time_created, x.content_hash, x.alert_type))
                if ns
                else None
            )
            if (
                want is None
                or latest is None
                or ev.n_notices != len(ns)
                or bool(ev.retracted) != retracted
                or ev.latest_notice_id != latest.id
                or ev.latest_notice_id != want.latest_notice_id
            ):
                wrong += 1
        with store.engine.connect() as conn:
            ledger = conn.execute(
                sa.select(actions.c.notice_id, actions.c.state, actions.c.last_error)
            ).all()
        dead = store.counts()["dead_letters"]
        n_events = store.counts()["superevents"]
    finally:
        store.close()
    ran = Counter(log.read_text().split()) if log.exists() else Counter()
    per_notice = Counter(r.notice_id for r in ledger)
    return {
        "wall_s": round(took, 1),
        "exit_codes": codes,
        "notices_expected": expected,
        "notices_stored": len(rows),
        "dead_letters": dead,
        "superevents": n_events,
        "superevents_wrong": wrong,
        "ledger_rows": len(ledger),
        "notices_with_not_one_row": sum(1 for v in per_notice.values() if v != 1)
        + (len(rows) - len(per_notice)),
        "action_states": dict(Counter(r.state for r in ledger)),
        "actions_run": sum(ran.values()),
        "actions_run_twice": sum(1 for v in ran.values() if v > 1),
        "errors": sorted({str(r.last_error)[:120] for r in ledger if r.last_error})[:3],
        "stderr": [line for e in errors for line in e.strip().splitlines()[:-1] if line][:8],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--superevents", type=int, default=120)
    ap.add_argument("--listeners", type=int, default=4)
    ap.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    import sqlalchemy as sa

    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.no_sqlite:
            (work / "sqlite").mkdir()
            url = str(work / "sqlite" / "store.sqlite")
            res = run(url, work / "sqlite", args.superevents, args.listeners, args.seed)
            print("sqlite:", res)
            ok &= _good(res)
        if not args.no_postgres:
            schema = f"gwalert_bench_{uuid.uuid4().hex[:10]}"
            admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            try:
                (work / "pg").mkdir()
                base = args.postgres.replace("postgresql+psycopg://", "postgresql://")
                url = f"{base}?options=-csearch_path%3D{schema}"
                res = run(url, work / "pg", args.superevents, args.listeners, args.seed)
                print("postgresql:", res)
                ok &= _good(res)
            finally:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
                admin.dispose()
    return 0 if ok else 1


def _good(res: dict[str, object]) -> bool:
    return (
        res["notices_stored"] == res["notices_expected"]
        and res["dead_letters"] == 0
        and res["superevents_wrong"] == 0
        and res["notices_with_not_one_row"] == 0
        and res["actions_run_twice"] == 0
        and res["actions_run"] == res["notices_expected"]
    )


if __name__ == "__main__":
    sys.exit(main())
