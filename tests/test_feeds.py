"""Two feeds, many processes, one database, against REAL components: tansu (two topics standing
for SCiMMA's Avro feed and GCN's JSON feed, carrying the same notices in different orders and
with different delays) and PostgreSQL on 127.0.0.1.

Cases: one listener with both feeds (each notice stored once, both arrivals recorded, each
action once, metrics name both feeds); two ``listen --no-actions`` processes and ``respond``
workers on one PostgreSQL, one listener and one worker killed with -9 mid-stream (nothing lost,
nothing twice, the dead worker's actions taken over after the lease by a worker on "another
host"); one feed's broker unreachable from the start (the other delivers, ``doctor`` names the
broken one); N listeners and M workers in one process on one database (exactly once).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from waiting import wait_until

from gwalert import samples
from gwalert.store import Store, normalize_url

pytestmark = pytest.mark.broker

# tansu answers JoinGroup after half the session timeout: keep it short for the tests.
FAST_GROUP = [
    "--kafka-option",
    "session.timeout.ms=6000",
    "--kafka-option",
    "heartbeat.interval.ms=1000",
]


# ------------------------------------------------------------------------------ helpers
def records(n: int, skymap: bytes, prefix: str = "MS2601") -> list[dict]:
    """``n`` distinct notices (several superevents, several alert types)."""
    out = []
    for i in range(n):
        sid = f"{prefix}{i // 3:02d}a"
        kind = ("PRELIMINARY", "INITIAL", "UPDATE")[i % 3]
        out.append(
            samples.make_record(
                sid,
                kind,
                skymap=skymap,
                time_created=f"2026-01-01T0{i // 60 % 10}:{i % 60:02d}:00Z",
            )
        )
    return out


def produce(bootstrap: str, topic: str, values: list[bytes], pauses: list[float]) -> None:
    """One message per request (tansu's high watermark is wrong after batches)."""
    import confluent_kafka

    producer = confluent_kafka.Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 0, "message.max.bytes": 16 << 20}
    )
    for value, pause in zip(values, pauses, strict=True):
        producer.produce(topic, value=value)
        assert producer.flush(120) == 0
        time.sleep(pause)  # pacing the input stream (an interleaving), not a wait


def create_topic(bootstrap: str, name: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, 2)]).values():
        future.result(120)


def publish_both(
    bootstrap: str, avro_topic: str, json_topic: str, recs: list[dict], seed: int
) -> list[threading.Thread]:
    """The Avro copies in order on one topic, the JSON copies shuffled with other delays on
    the other, at the same time (two threads, started)."""
    rng = random.Random(seed)
    avro = [samples.encode(r, "avro") for r in recs]
    order = list(range(len(recs)))
    rng.shuffle(order)
    gcn = [samples.encode(recs[i], "json") for i in order]
    threads = [
        threading.Thread(
            target=produce,
            args=(bootstrap, avro_topic, avro, [rng.uniform(0.0, 0.08) for _ in avro]),
        ),
        threading.Thread(
            target=produce,
            args=(bootstrap, json_topic, gcn, [rng.uniform(0.02, 0.15) for _ in gcn]),
        ),
    ]
    for t in threads:
        t.start()
    return threads


def rules(tmp_path: Path, sleep: float = 0.0) -> Path:
    """One rule for every notice: a command that logs its start (with its pid) and, after
    ``sleep`` s, its end, keyed by GWALERT_ACTION_ID."""
    act = tmp_path / "act.py"
    act.write_text(
        textwrap.dedent("""
        import fcntl, os, sys, time
        out, aid = sys.argv[1], os.environ["GWALERT_ACTION_ID"]
        with open(os.path.join(out, "starts.log"), "a") as f:
            f.write(f"{aid} {os.getpid()}\\n")
        time.sleep(float(sys.argv[2]))
        # idempotent by GWALERT_ACTION_ID, as a user's script is: an attempt cut short by a
        # dead worker may have finished on its own before being run again
        with open(os.path.join(out, "done.log"), "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.seek(0)
            if aid not in f.read().splitlines():
                f.write(f"{aid}\\n")
    """)
    )
    cfg = tmp_path / "gwalert.toml"
    cfg.write_text(
        textwrap.dedent(f"""
        [responder]
        workers = 4
        backoff = 0.1
        backoff_max = 0.5

        [[rule]]
        name = "all"
        max_age = false

        [[rule.action]]
        type = "command"
        argv = [{json.dumps(sys.executable)}, {json.dumps(str(act))},
                {json.dumps(str(tmp_path))}, "{sleep}"]
    """)
    )
    return cfg


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def gwalert(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gwalert", *args], capture_output=True, text=True, timeout=timeout
    )


def spawn(args: list[str], out: Path, prefix: list[str] | None = None) -> subprocess.Popen:
    fh = open(out, "ab")  # noqa: SIM115 - owned by the child
    return subprocess.Popen(
        [*(prefix or []), sys.executable, "-m", "gwalert", *args],
        stdout=fh,
        stderr=subprocess.STDOUT,
    )


def assigned(out: Path, topic: str) -> bool:
    """Whether the listener logging (-v) to ``out`` was assigned partitions of ``topic``."""
    return any(": assigned " in line and f"{topic}[" in line for line in lines(out))


def query(url: str, sql: str) -> list:
    engine = sa.create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            try:
                return list(conn.execute(sa.text(sql)))
            except sa.exc.ProgrammingError:
                return []
            except sa.exc.OperationalError:
                return []
    finally:
        engine.dispose()


def count(url: str, table: str) -> int:
    rows = query(url, f"SELECT COUNT(*) FROM {table}")
    return rows[0][0] if rows else 0


def stop(*procs: subprocess.Popen | None) -> None:
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        if proc is not None:
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()


def check_arrivals(url: str, n: int, feeds: set[str]) -> dict[int, list]:
    """Every notice has exactly one first arrival; copies come only from ``feeds``."""
    rows = query(
        url,
        'SELECT notice_id, feed, is_first, received_at, partition, "offset" '
        "FROM gwalert_arrivals ORDER BY notice_id, id",
    )
    by_notice: dict[int, list] = {}
    for r in rows:
        by_notice.setdefault(r[0], []).append(r)
    assert len(by_notice) == n
    for nid, copies in by_notice.items():
        assert sum(bool(c[2]) for c in copies) == 1, (nid, copies)
        assert {c[1] for c in copies} <= feeds
        assert len({c[1] for c in copies}) == len(copies), (nid, copies)  # one copy per feed
    return by_notice


# ------------------------------------------------------------------------------ the cases
@pytest.fixture(scope="module")
def skymap() -> bytes:
    return samples.gaussian_skymap(max_level=4)


@pytest.mark.slow
def test_one_listener_two_feeds(kafka_broker, tmp_path, skymap) -> None:
    """The issue's drill: `gwalert listen kafka://…/avro-feed gcn://…/json-feed --no-auth`
    with a rules file: each notice once, both arrivals, which was first, each action once,
    /metrics shows both feeds."""
    from kafka_broker import free_port

    avro_topic, json_topic = f"avro-{uuid.uuid4().hex[:6]}", f"json-{uuid.uuid4().hex[:6]}"
    for t in (avro_topic, json_topic):
        create_topic(kafka_broker.bootstrap, t)
    feed_a = kafka_broker.url(avro_topic)
    feed_b = kafka_broker.url(json_topic, scheme="gcn")
    recs = records(9, skymap)
    store = f"sqlite:///{tmp_path / 's.sqlite'}"
    cfg = rules(tmp_path)
    port = free_port()
    out = tmp_path / "listen.out"
    listener = spawn(
        [
            "listen",
            feed_a,
            feed_b,
            "--no-auth",
            "--store",
            store,
            "--config",
            str(cfg),
            "--no-heartbeat",
            "--metrics-port",
            str(port),
            "-v",  # logs the assignment
            *FAST_GROUP,
        ],
        out,
    )
    try:
        wait_until(
            lambda: (
                count(store, "gwalert_feeds") == 2
                and all(r[0] == "ok" for r in query(store, "SELECT state FROM gwalert_feeds"))
            ),
            40,
            "both feeds connected",
            (listener,),
        )
        wait_until(  # both groups have their partitions (tansu: half the session timeout)
            lambda: assigned(out, avro_topic) and assigned(out, json_topic),
            what="both feeds' partitions assigned",
            procs=(listener,),
        )
        for t in publish_both(kafka_broker.bootstrap, avro_topic, json_topic, recs, seed=1):
            t.join(60)
        wait_until(
            lambda: (
                count(store, "gwalert_arrivals") == 2 * len(recs)
                and len(lines(tmp_path / "done.log")) == len(recs)
            ),
            60,
            "every copy and every action",
            (listener,),
        )

        def scrape_when_done() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=120) as r:
                text = r.read().decode()
            return text if f'gwalert_actions{{state="done"}} {len(recs)}.0' in text else ""

        # an action's program ends (done.log) a moment before its ledger row says done
        metrics = wait_until(
            scrape_when_done, 60, "every action recorded done in /metrics", (listener,)
        )
    finally:
        stop(listener)
    assert listener.returncode == 0, out.read_text()[-3000:]
    for feed in (feed_a, feed_b):
        assert f'gwalert_feed_messages_total{{feed="{feed}"}} {len(recs)}.0' in metrics
        assert f'gwalert_feed_up{{feed="{feed}",state="ok"}} 1.0' in metrics
    notices = [
        int(float(x.split()[-1]))
        for x in metrics.splitlines()
        if x.startswith("gwalert_feed_notices_total")
    ]
    dups = [
        int(float(x.split()[-1]))
        for x in metrics.splitlines()
        if x.startswith("gwalert_feed_duplicates_total")
    ]
    assert sum(notices) == sum(dups) == len(recs)
    assert 'gwalert_actions{state="done"} 9.0' in metrics

    assert count(store, "gwalert_notices") == len(recs)
    by_notice = check_arrivals(store, len(recs), {feed_a, feed_b})
    assert all(len(c) == 2 for c in by_notice.values())
    firsts = Counter(c[1] for copies in by_notice.values() for c in copies if c[2])
    assert sum(firsts.values()) == len(recs)
    starts = [x.split()[0] for x in lines(tmp_path / "starts.log")]
    assert len(starts) == len(set(starts)) == len(recs)  # each action once
    # The stored copy's format is the first feed's: Avro from one, JSON from the other.
    formats = dict(query(store, "SELECT n.id, n.format FROM gwalert_notices n"))
    for nid, copies in by_notice.items():
        first = next(c for c in copies if c[2])
        assert formats[nid] == ("avro" if first[1] == feed_a else "json")

    sid = recs[0]["superevent_id"]
    shown = gwalert("show", sid, "--store", store)
    assert shown.returncode == 0, shown.stderr
    roles = Counter(x.split()[0] for x in shown.stdout.splitlines() if x.startswith("      "))
    assert roles == {"first": 3, "later": 3}, shown.stdout
    assert feed_a in shown.stdout and feed_b in shown.stdout
    assert "ms after the first" in shown.stdout
    as_json = json.loads(gwalert("show", sid, "--store", store, "--json").stdout)
    for item in as_json["notices"]:
        copies = item["arrivals"]
        assert [c["first"] for c in copies] == [True, False]
        assert copies[1]["behind_ms"] >= 0 and copies[0]["broker_time"]
    listed = gwalert("notices", "--store", store)
    assert len(listed.stdout.splitlines()) == len(recs) + 1
    rows = query(store, "SELECT feed, state, last_message_at FROM gwalert_feeds ORDER BY feed")
    assert [(r[0], r[1]) for r in rows] == sorted([(feed_a, "stopped"), (feed_b, "stopped")])
    assert all(r[2] for r in rows)


@pytest.mark.postgres
@pytest.mark.slow
def test_two_listeners_and_workers_on_postgres_killed(
    kafka_broker, postgres_url, tmp_path, skymap
) -> None:
    """One `listen --no-actions` per feed and a `respond` worker on one PostgreSQL: the Avro
    listener is killed -9 mid-stream and never restarted, the worker is killed -9 while
    actions run and a second worker on another host (its own UTS namespace) takes them over
    after the lease: every notice stored once, every action done once."""
    avro_topic, json_topic = f"avro-{uuid.uuid4().hex[:6]}", f"json-{uuid.uuid4().hex[:6]}"
    for t in (avro_topic, json_topic):
        create_topic(kafka_broker.bootstrap, t)
    feed_a = kafka_broker.url(avro_topic)
    feed_b = kafka_broker.url(json_topic, scheme="gcn")
    recs = records(24, skymap, prefix="MS2602")
    cfg = rules(tmp_path, sleep=1.0)
    lease = "4"
    common = [
        "--no-auth",
        "--store",
        postgres_url,
        "--config",
        str(cfg),
        "--no-heartbeat",
        "--no-actions",
        "--lease",
        lease,
        "-v",  # logs the assignment
        *FAST_GROUP,
    ]
    a = spawn(["listen", feed_a, *common], tmp_path / "a.out")
    b = spawn(["listen", feed_b, *common], tmp_path / "b.out")
    w1 = spawn(
        [
            "respond",
            "--store",
            postgres_url,
            "--config",
            str(cfg),
            "--lease",
            lease,
            "--workers",
            "3",
        ],
        tmp_path / "w1.out",
    )
    w2 = None
    try:
        wait_until(
            lambda: count(postgres_url, "gwalert_feeds") == 2, 40, "both listeners", (a, b, w1)
        )
        wait_until(
            lambda: (
                assigned(tmp_path / "a.out", avro_topic)
                and assigned(tmp_path / "b.out", json_topic)
            ),
            what="both listeners' partitions assigned",
            procs=(a, b, w1),
        )
        feeders = publish_both(kafka_broker.bootstrap, avro_topic, json_topic, recs, seed=2)
        wait_until(
            lambda: count(postgres_url, "gwalert_notices") >= 6, 60, "a few notices", (a, b, w1)
        )
        a.send_signal(signal.SIGKILL)  # never restarted
        a.wait(120)
        stored_at_kill = count(postgres_url, "gwalert_notices")
        # Kill the worker while actions run (started, not done).
        running = wait_until(
            lambda: (
                {x.split()[0] for x in lines(tmp_path / "starts.log")}
                - set(lines(tmp_path / "done.log"))
            ),
            60,
            "an action running",
            (w1,),
        )
        w1.send_signal(signal.SIGKILL)
        w1.wait(120)
        killed_at = time.time()
        assert running  # killed while these actions ran
        for t in feeders:
            t.join(90)
        assert stored_at_kill < len(recs), "the listener was killed too late"
        # A second worker on "another host": the dead one's process cannot be seen from
        # there, so its actions wait for their lease to expire.
        prefix = (
            ["unshare", "--uts", "sh", "-c", 'hostname gwalert-other-host && exec "$@"', "sh"]
            if shutil.which("unshare") and os.geteuid() == 0
            else None
        )
        from kafka_broker import free_port

        port = free_port()
        w2 = spawn(
            [
                "respond",
                "--store",
                postgres_url,
                "--config",
                str(cfg),
                "--lease",
                lease,
                "--metrics-port",
                str(port),
                "-v",
            ],
            tmp_path / "w2.out",
            prefix=prefix,
        )
        wait_until(
            lambda: count(postgres_url, "gwalert_notices") == len(recs),
            90,
            "every notice (from the surviving feed)",
            (b,),
        )
        wait_until(
            lambda: (
                len(set(lines(tmp_path / "done.log"))) == len(recs)
                and count(postgres_url, "gwalert_actions WHERE state = 'done'") == len(recs)
            ),
            120,
            "every action done",
            (b, w2),
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=120) as resp:
            metrics = resp.read().decode()
    finally:
        stop(a, b, w1, w2)
    assert f'gwalert_actions{{state="done"}} {len(recs)}.0' in metrics
    assert 'gwalert_action_latency_seconds_count{action_type="command"}' in metrics
    assert count(postgres_url, "gwalert_notices") == len(recs)
    states = query(postgres_url, "SELECT state, COUNT(*) FROM gwalert_actions GROUP BY state")
    assert states == [("done", len(recs))]
    done = lines(tmp_path / "done.log")
    assert len(done) == len(set(done)) == len(recs)  # nothing twice
    starts = Counter(x.split()[0] for x in lines(tmp_path / "starts.log"))
    # Only what the killed worker was running may run again, once more: a command that
    # finished on its own after the kill (its exit marker, on this shared filesystem, says so)
    # is recorded done without a second run.
    assert {k for k, v in starts.items() if v > 1} <= running
    assert all(starts[k] in (1, 2) for k in running)
    if prefix is not None:  # the takeover waited for the lease (another host's worker)
        from datetime import datetime

        w2_text = (tmp_path / "w2.out").read_text()
        assert "gwalert-other-host" in w2_text
        retry = next(x for x in w2_text.splitlines() if "attempt 2" in x)
        at = datetime.strptime(retry[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        # the lease, renewed every third of it, had at least two thirds of it left at the kill
        assert at >= killed_at + 2 / 3 * float(lease) - 0.2, (retry, killed_at)
    check_arrivals(postgres_url, len(recs), {feed_a, feed_b})
    from_b = query(postgres_url, f"SELECT COUNT(*) FROM gwalert_arrivals WHERE feed = '{feed_b}'")[
        0
    ][0]
    assert from_b == len(recs)  # the surviving feed saw every notice


@pytest.mark.slow
def test_one_feed_unreachable_from_the_start(kafka_broker, tmp_path) -> None:
    from kafka_broker import free_port

    good_topic = f"good-{uuid.uuid4().hex[:6]}"
    create_topic(kafka_broker.bootstrap, good_topic)
    good = kafka_broker.url(good_topic)
    bad = f"gcn://127.0.0.1:{free_port()}/igwn.gwalert"
    store = f"sqlite:///{tmp_path / 's.sqlite'}"
    out = tmp_path / "listen.out"
    listener = spawn(
        [
            "listen",
            good,
            bad,
            "--no-auth",
            "--store",
            store,
            "--no-heartbeat",
            "--connect-timeout",
            "2",
            "-v",  # logs the assignment
            *FAST_GROUP,
        ],
        out,
    )
    try:
        wait_until(
            lambda: (
                dict(query(store, "SELECT feed, state FROM gwalert_feeds")).get(bad) == "failed"
            ),
            40,
            "the broken feed reported",
            (listener,),
        )
        wait_until(lambda: assigned(out, good_topic), 40, "the good feed assigned", (listener,))
        values = [samples.encode(r, "avro") for r in records(3, b"", prefix="MS2603")]
        produce(kafka_broker.bootstrap, good_topic, values, [0.05] * 3)
        wait_until(
            lambda: count(store, "gwalert_notices") == 3, 40, "the good feed's notices", (listener,)
        )
        doc = gwalert("doctor", good, bad, "--no-auth", "--store", store, "--timeout", "3")
        # Without URLs, doctor checks the feeds the store's listeners follow.
        doc_json = gwalert("doctor", "--no-auth", "--store", store, "--timeout", "3", "--json")
    finally:
        stop(listener)
    text = out.read_text()
    assert listener.returncode == 0, text[-3000:]
    assert f"feed {bad}: cannot reach broker" in text and "retrying" in text
    assert doc.returncode == 1
    assert f"PROBLEM {bad} broker: cannot reach broker" in doc.stdout
    assert f"ok      {good} broker:" in doc.stdout
    # the listener retries the bad feed: between two attempts its row says "connecting"
    (line,) = [x for x in doc.stdout.splitlines() if x.startswith(f"PROBLEM {bad} listener: ")]
    assert "failed: cannot reach broker" in line or "listener: connecting" in line, line
    report = json.loads(doc_json.stdout)
    assert doc_json.returncode == 1 and not report["ok"]
    broken = {c["feed"] for c in report["checks"] if c["status"] == "problem"}
    assert broken == {bad}
    checked = {(c["feed"], c["check"]) for c in report["checks"]}
    assert {(good, "broker"), (bad, "broker"), (good, "listener"), (bad, "listener")} <= checked


def test_n_listeners_m_workers_exactly_once(postgres_url, tmp_path, monkeypatch) -> None:
    """The simulation, small: 3 listeners (each reading both copies of every notice, so they
    race to store each one) and 3 workers in this process on one PostgreSQL database."""
    from gwalert.app import build, responder
    from gwalert.feedset import Feed, FeedSet
    from gwalert.sources.files import FileSource

    sys.path.insert(0, str(tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "sim_action.py").write_text(
        textwrap.dedent("""
        import threading, time
        RUNS, LOCK = [], threading.Lock()
        def act(notice, context):
            with LOCK:
                RUNS.append(context.action_id)
            time.sleep(0.02)
    """)
    )
    import importlib

    sim = importlib.import_module("sim_action")
    cfg = tmp_path / "gwalert.toml"
    cfg.write_text(
        '[responder]\nworkers = 2\n[[rule]]\nname = "all"\nmax_age = false\n'
        '[[rule.action]]\ntype = "python"\ncallable = "sim_action:act"\n'
    )
    feeds_dir = []
    recs = records(12, b"", prefix="MS2604")
    for fmt in ("avro", "json"):
        d = tmp_path / fmt
        d.mkdir()
        for i, r in enumerate(recs):
            (d / f"{i:03d}.{fmt}").write_bytes(samples.encode(r, fmt))
        feeds_dir.append(d)
    stores = []
    runners = []
    for _ in range(3):
        store = Store.open(postgres_url)
        stores.append(store)
        app = build(store, str(cfg), actions=False)
        feeds = [Feed(str(d), lambda d=d: FileSource(d)) for d in feeds_dir]
        runners.append(FeedSet(feeds, app.pipeline, status_engine=None))
    workers = []
    for _ in range(3):
        store = Store.open(postgres_url)
        stores.append(store)
        workers.append(responder(store, str(cfg), lease=5.0))
    try:
        for w in workers:
            w.start()
        threads = [threading.Thread(target=r.run) for r in runners]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert workers[0].wait_idle(60)
    finally:
        for w in workers:
            w.stop()
        for s in stores:
            s.close()
    assert count(postgres_url, "gwalert_notices") == len(recs)
    assert len(sim.RUNS) == len(set(sim.RUNS)) == len(recs)
    assert sum(r.stats.new for r in runners) == len(recs)
    assert sum(r.stats.messages for r in runners) == 3 * 2 * len(recs)
    by_notice = query(
        postgres_url,
        "SELECT notice_id, COUNT(*), SUM(CASE WHEN is_first "
        "THEN 1 ELSE 0 END) FROM gwalert_arrivals "
        "GROUP BY notice_id",
    )
    assert len(by_notice) == len(recs)
    # Three listeners saw each file: a file copy is one (source, no offset) per listener; the
    # first one stored it, the others recorded their copies once each.
    assert all(first == 1 for _, _, first in by_notice)


@pytest.mark.postgres
@pytest.mark.slow
def test_processes_starting_together_on_a_fresh_database(postgres_url) -> None:
    """Listeners and workers started at once on an empty database all create the tables
    (PostgreSQL's concurrent CREATE TABLE fails on its catalogue unless serialised)."""
    code = (
        "import sys; from gwalert.store import Store; from gwalert.app import build; "
        "s = Store.open(sys.argv[1]); build(s); s.close()"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, postgres_url], text=True, stderr=subprocess.PIPE
        )
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    assert count(postgres_url, "gwalert_arrivals") == 0
