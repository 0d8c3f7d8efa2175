"""``gwalert listen``/``publish`` against a REAL Kafka-protocol broker (tansu on loopback):
resume, kill -9 mid-stream, poison messages, broker restart, GCN JSON, 4 MiB messages,
SIGTERM, unreachable brokers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from kafka_broker import free_port
from waiting import GENEROUS, wait_until

from gwalert import samples
from gwalert.store import Store

pytestmark = pytest.mark.broker

# tansu answers JoinGroup after half the session timeout: keep it short for the tests.
FAST_GROUP = [
    "--kafka-option",
    "session.timeout.ms=6000",
    "--kafka-option",
    "heartbeat.interval.ms=1000",
]


@pytest.fixture(scope="module")
def skymap() -> bytes:
    return samples.gaussian_skymap(max_level=4)


def notice(i: int, skymap: bytes | None = None, fmt: str = "avro", sid: str = "MS260101a") -> bytes:
    rec = samples.make_record(
        sid,
        "UPDATE" if i else "PRELIMINARY",
        skymap=skymap,
        time_created=f"2026-01-01T01:{i // 60:02d}:{i % 60:02d}Z",
    )
    return samples.encode(rec, fmt)


def produce(
    bootstrap: str,
    topic: str,
    values: list[bytes],
    key: bytes | None = None,
    partitions: list[int] | None = None,
    pace: float = 0.0,
) -> None:
    """One message per request (tansu's high watermark is wrong after batches); the i-th to
    ``partitions[i]`` when given. ``pace``: seconds between messages, to shape a live stream
    (input, not a wait: nothing is assumed to have happened meanwhile)."""
    import confluent_kafka

    producer = confluent_kafka.Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 0, "message.max.bytes": 16 << 20}
    )
    for i, value in enumerate(values):
        where = {} if partitions is None else {"partition": partitions[i]}
        producer.produce(topic, value=value, key=key, **where)
        assert producer.flush(GENEROUS) == 0
        time.sleep(pace)


def gwalert(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gwalert", *args], capture_output=True, text=True, timeout=timeout
    )


def start_listener(url: str, store: Path, out: Path, *extra: str) -> subprocess.Popen[bytes]:
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
            str(store),
            "--no-heartbeat",
            *FAST_GROUP,
            *extra,
        ],
        stdout=fh,
        stderr=subprocess.STDOUT,
    )


def count(store_path: Path) -> dict[str, int]:
    store = Store.open(str(store_path))
    try:
        return store.counts()
    finally:
        store.close()


def stored(store_path: Path, *, with_raw: bool = False) -> list:
    """Every notice row in the store at ``store_path``."""
    store = Store.open(str(store_path))
    try:
        return list(store.iter_notices(with_raw=with_raw))
    finally:
        store.close()


def topic() -> str:
    return f"igwn.gwalert-{uuid.uuid4().hex[:8]}"


@pytest.mark.slow
def test_publish_listen_resume(kafka_broker, tmp_path) -> None:
    """The issue's drill: publish the sample set, listen, list; a second run resumes."""
    url = kafka_broker.url(topic())
    sample_dir = tmp_path / "samples"
    sample_dir.mkdir()
    for name, data in samples.sample_set().items():
        (sample_dir / name).write_bytes(data)
    avro = sorted(str(p) for p in sample_dir.glob("*.avro"))
    pub = gwalert("publish", *avro, "--to", url, "--no-auth")
    assert pub.returncode == 0, pub.stderr
    assert len(pub.stdout.splitlines()) == 5
    store = tmp_path / "s.sqlite"
    first = gwalert(
        "listen",
        url,
        "--no-auth",
        "--store",
        str(store),
        "--start-at",
        "earliest",
        "--until-eos",
        *FAST_GROUP,
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("new ") == 5
    listed = gwalert("notices", "--store", str(store))
    assert listed.returncode == 0
    assert len(listed.stdout.splitlines()) == 6  # header + 5
    assert "MS260101a\tRETRACTION" in listed.stdout and url in listed.stdout
    events = gwalert("events", "--store", str(store))
    assert "MS260101a\tRETRACTION" in events.stdout and "\tyes\t4\t" in events.stdout
    shown = gwalert("show", "MS260101a", "--store", str(store))
    assert shown.returncode == 0 and "RETRACTED" in shown.stdout

    # The same notices in GCN's JSON and two new ones: only the new ones are stored.
    json_files = sorted(str(p) for p in sample_dir.glob("*.json"))
    assert gwalert("publish", *json_files, "--to", url, "--no-auth").returncode == 0
    produce(kafka_broker.bootstrap, url.rsplit("/", 1)[1], [notice(101), notice(102)])
    second = gwalert(
        "listen",
        url,
        "--no-auth",
        "--store",
        str(store),
        "--start-at",
        "earliest",
        "--until-eos",
        *FAST_GROUP,
    )
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("new ") == 2
    assert second.stdout.count("duplicate ") == 5
    assert count(store)["notices"] == 7


@pytest.mark.slow
def test_kill9_midstream_loses_nothing_stores_nothing_twice(kafka_broker, tmp_path, skymap) -> None:
    name = topic()
    url = kafka_broker.url(name)
    total = 60
    values = [notice(i, skymap) for i in range(total)]
    produce(kafka_broker.bootstrap, name, values[:1])
    store, out = tmp_path / "s.sqlite", tmp_path / "listen.out"
    listener = start_listener(url, store, out, "--start-at", "earliest")
    try:
        wait_until(lambda: out.exists() and "new " in out.read_text(), GENEROUS, "first notice")
        feeder = threading.Thread(
            target=produce, args=(kafka_broker.bootstrap, name, values[1:]), kwargs={"pace": 0.05}
        )
        feeder.start()
        wait_until(lambda: count(store)["notices"] >= 10, GENEROUS, "a few notices stored")
        listener.send_signal(signal.SIGKILL)
        listener.wait(120)
        stored_at_kill = count(store)["notices"]
        feeder.join(60)
        assert stored_at_kill < total, "the kill came too late to test anything"
    finally:
        if listener.poll() is None:
            listener.kill()
    again = gwalert(
        "listen",
        url,
        "--no-auth",
        "--store",
        str(store),
        "--until-eos",
        "--no-heartbeat",
        *FAST_GROUP,
    )
    assert again.returncode == 0, again.stderr
    rows = stored(store)
    times = sorted(r.time_created for r in rows)
    assert len(rows) == total
    assert len(set(times)) == total
    # The restart did not replay what was committed before the kill (commits are sent
    # without waiting: the few in flight at the kill come again, as duplicates).
    assert again.stdout.count("duplicate ") <= 5


@pytest.mark.slow
def test_poison_message_goes_to_dead_letters_and_stream_goes_on(kafka_broker, tmp_path) -> None:
    name = topic()
    url = kafka_broker.url(name)
    poison = tmp_path / "poison.bin"
    poison.write_bytes(b"\x00\x01not a notice at all")
    good = tmp_path / "good.avro"
    good.write_bytes(notice(1))
    assert gwalert("publish", str(poison), "--raw", "--to", url, "--no-auth").returncode == 0
    # A valid-looking JSON that breaks the schema, then a good notice.
    produce(kafka_broker.bootstrap, name, [b'{"superevent_id": "S1"}'])
    assert gwalert("publish", str(good), "--to", url, "--no-auth").returncode == 0
    store = tmp_path / "s.sqlite"
    res = gwalert(
        "listen",
        url,
        "--no-auth",
        "--store",
        str(store),
        "--start-at",
        "earliest",
        "--until-eos",
        "--no-heartbeat",
        *FAST_GROUP,
    )
    assert res.returncode == 0, res.stderr
    assert count(store) == {"notices": 1, "dead_letters": 2, "superevents": 1}
    dl = gwalert("notices", "--dead-letters", "--store", str(store))
    assert "not an Avro container" in dl.stdout or "Avro" in dl.stdout
    assert "missing field" in dl.stdout


@pytest.mark.slow
def test_gcn_json_through_local_broker(kafka_broker, tmp_path) -> None:
    name = topic()
    gcn_url = kafka_broker.url(name, scheme="gcn")
    path = tmp_path / "n.avro"
    path.write_bytes(notice(3, samples.gaussian_skymap(max_level=4)))
    pub = gwalert("publish", str(path), "--to", gcn_url, "--no-auth")  # converted to JSON
    assert pub.returncode == 0, pub.stderr
    store = tmp_path / "s.sqlite"
    res = gwalert(
        "listen",
        gcn_url,
        "--no-auth",
        "--store",
        str(store),
        "--start-at",
        "earliest",
        "--until-eos",
        *FAST_GROUP,
    )
    assert res.returncode == 0, res.stderr
    (row,) = stored(store, with_raw=True)
    assert row.format == "json" and row.raw.startswith(b"{")
    assert row.source == f"gcn://{kafka_broker.bootstrap}/{name}"
    assert row.ra is not None


@pytest.mark.slow
def test_four_mib_message(kafka_broker, tmp_path) -> None:
    name = topic()
    big = os.urandom(4 << 20)  # incompressible: a 4 MiB message on the wire
    rec = samples.make_record(skymap=big)
    produce(kafka_broker.bootstrap, name, [samples.encode(rec, "avro")])
    store = tmp_path / "s.sqlite"
    res = gwalert(
        "listen",
        kafka_broker.url(name),
        "--no-auth",
        "--store",
        str(store),
        "--start-at",
        "earliest",
        "--until-eos",
        "--no-heartbeat",
        *FAST_GROUP,
    )
    assert res.returncode == 0, res.stderr
    (row,) = stored(store, with_raw=True)
    assert len(row.raw) > 4 << 20
    assert row.summary["skymap_error"]  # random bytes are no sky map, yet the notice is kept


@pytest.mark.slow
def test_start_at_applies_only_without_committed_offset(kafka_broker, tmp_path) -> None:
    name = topic()
    url = kafka_broker.url(name)
    produce(kafka_broker.bootstrap, name, [notice(1), notice(2)])
    store = tmp_path / "s.sqlite"
    common = ["--no-auth", "--store", str(store), "--until-eos", "--no-heartbeat", *FAST_GROUP]
    latest = gwalert("listen", url, *common, "--group-id", "g-latest", "--start-at", "latest")
    assert latest.returncode == 0 and latest.stdout.count("new ") == 0
    # An ISO time is looked up with offsets_for_times; tansu 0.6 answers offset 0 for ANY
    # timestamp (measured), so only a time before every message can be checked here.
    past = gwalert(
        "listen", url, *common, "--group-id", "g-past", "--start-at", "2000-01-01T00:00:00"
    )
    assert past.returncode == 0 and past.stdout.count("new ") == 2
    # While both groups are away, notices land on every partition: both resume from their
    # committed (or pinned starting) offsets, whatever --start-at now says.
    produce(kafka_broker.bootstrap, name, [notice(i) for i in range(3, 11)], key=None)
    resumed = gwalert("listen", url, *common, "--group-id", "g-past", "--start-at", "latest")
    assert resumed.returncode == 0 and resumed.stdout.count("new ") == 8
    resumed = gwalert("listen", url, *common, "--group-id", "g-latest", "--start-at", "latest")
    assert resumed.returncode == 0 and resumed.stdout.count("duplicate ") == 8


@pytest.mark.slow
def test_sigterm_stops_cleanly_exit_0(kafka_broker, tmp_path) -> None:
    name = topic()
    produce(kafka_broker.bootstrap, name, [notice(1)])
    out = tmp_path / "listen.out"
    listener = start_listener(
        kafka_broker.url(name), tmp_path / "s.sqlite", out, "--start-at", "earliest"
    )
    try:
        wait_until(lambda: "new " in out.read_text(), GENEROUS, "the notice")
        listener.send_signal(signal.SIGTERM)
        assert listener.wait(GENEROUS) == 0
    finally:
        if listener.poll() is None:
            listener.kill()
    assert "SIGTERM" in out.read_text()


@pytest.mark.slow
def test_unreachable_broker_is_a_clear_error(tmp_path) -> None:
    from kafka_broker import free_port

    url = f"kafka://127.0.0.1:{free_port()}/igwn.gwalert"
    # each command must give up by itself (its timeout, not librdkafka's endless retries):
    # gwalert() fails the test if one is still running after a generous 90 s
    res = gwalert(
        "listen", url, "--no-auth", "--store", str(tmp_path / "s.sqlite"), "--connect-timeout", "3"
    )
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1].startswith("gwalert: cannot reach broker")
    assert "Traceback" not in res.stderr
    doc = gwalert(
        "doctor", url, "--no-auth", "--store", str(tmp_path / "s.sqlite"), "--timeout", "5"
    )
    assert doc.returncode == 1
    assert "PROBLEM broker: cannot reach broker 127.0.0.1" in doc.stdout
    sample = tmp_path / "n.avro"
    sample.write_bytes(notice(1))
    pub = gwalert("publish", str(sample), "--to", url, "--no-auth", "--timeout", "3")
    assert pub.returncode == 1
    assert pub.stderr.startswith("gwalert: ") and "not delivered" in pub.stderr
    assert len(pub.stderr.splitlines()) == 1


@pytest.mark.slow
def test_doctor_on_a_working_broker(kafka_broker, tmp_path) -> None:
    name = topic()
    produce(kafka_broker.bootstrap, name, [notice(1)])
    from gwalert.store import Store

    Store.open(str(tmp_path / "s.sqlite")).close()  # doctor reads a store, never creates one
    doc = gwalert(
        "doctor", kafka_broker.url(name), "--no-auth", "--store", str(tmp_path / "s.sqlite")
    )
    assert doc.returncode == 0, doc.stdout + doc.stderr
    assert f"ok      topic {name}: 4 partition(s)" in doc.stdout
    missing = gwalert(
        "doctor",
        kafka_broker.url("no.such.topic"),
        "--no-auth",
        "--store",
        str(tmp_path / "s.sqlite"),
    )
    assert missing.returncode == 1 and "PROBLEM topic no.such.topic" in missing.stdout


@pytest.mark.slow
def test_broker_restart_listener_resumes(s3_kafka_broker, tmp_path) -> None:
    broker = s3_kafka_broker
    name = topic()
    produce(broker.bootstrap, name, [notice(1), notice(2)])
    store, out = tmp_path / "s.sqlite", tmp_path / "listen.out"
    listener = start_listener(broker.url(name), store, out, "--start-at", "earliest", "-v")
    try:
        wait_until(lambda: count(store)["notices"] == 2, GENEROUS, "two notices")
        broker.restart()  # kill -9 of the broker; its log and offsets are in S3
        produce(broker.bootstrap, name, [notice(3), notice(4)])
        wait_until(lambda: count(store)["notices"] == 4, GENEROUS, "notices after the restart")
        assert listener.poll() is None, "the listener must not exit on broker loss"
        listener.send_signal(signal.SIGINT)
        assert listener.wait(120) == 0
    finally:
        if listener.poll() is None:
            listener.kill()
    text = out.read_text()
    assert text.count("new ") == 4 and "duplicate " not in text
    assert "broker: reachable again" in text


@pytest.mark.slow
def test_rejected_credentials_reported_fast(kafka_broker, tmp_path) -> None:
    """tansu's SASL cannot log anyone in: that exercises the rejection path (the SCRAM
    exchange itself cannot be run here; its client configuration is unit-tested)."""
    auth = tmp_path / "auth.toml"
    auth.write_text(
        f'[[auth]]\nusername = "alice"\npassword = "wrong"\n'
        f'hostname = "{kafka_broker.bootstrap}"\nprotocol = "SASL_PLAINTEXT"\n'
        'mechanism = "SCRAM-SHA-512"\n'
    )
    auth.chmod(0o600)
    config = tmp_path / "gwalert.toml"
    config.write_text(f'[kafka]\nauth = "{auth}"\n')
    url = kafka_broker.url("igwn.gwalert")
    store = str(tmp_path / "s.sqlite")
    # both give up by themselves (gwalert() fails the test after a generous 90 s)
    doc = gwalert("doctor", url, "--store", store, "--config", str(config))
    assert doc.returncode == 1
    assert "ok      credentials: user alice" in doc.stdout
    assert "PROBLEM broker: " in doc.stdout and "authentication failed" in doc.stdout
    listen = gwalert("listen", url, "--store", store, "--config", str(config))
    assert listen.returncode == 1
    assert "authentication failed" in listen.stderr.splitlines()[-1]


@pytest.mark.slow
def test_silent_broker_warns_once_and_listener_waits(tmp_path) -> None:
    from kafka_broker import Broker

    broker = Broker(log_path=tmp_path / "tansu.log")
    name = topic()
    try:
        produce(broker.bootstrap, name, [notice(1)])
        out = tmp_path / "listen.out"
        listener = start_listener(
            broker.url(name),
            tmp_path / "s.sqlite",
            out,
            "--start-at",
            "earliest",
            "--silence-warning",
            "3",
        )
        try:
            wait_until(lambda: "new " in out.read_text(), GENEROUS, "the notice")
            broker.kill()
            wait_until(
                lambda: "no heartbeat and no broker contact" in out.read_text(),
                GENEROUS,
                "the silence warning",
            )
            broker.start()  # same port, empty (memory) log
            wait_until(lambda: "stream alive again" in out.read_text(), GENEROUS, "recovery")
            assert listener.poll() is None
            listener.send_signal(signal.SIGTERM)
            assert listener.wait(120) == 0
        finally:
            if listener.poll() is None:
                listener.kill()
    finally:
        broker.kill()
    text = out.read_text()
    assert text.count("no heartbeat and no broker contact") == 1
    assert text.count("broker: reachable again") == 1


@pytest.mark.slow
def test_latest_means_from_the_listener_start(kafka_broker, tmp_path) -> None:
    """The issue's drill: start listening (default --start-at latest) on a topic that does not
    exist yet, then publish at once: nothing sent after the start may be skipped, even though
    the group gets its partitions only seconds later."""
    name = topic()
    out = tmp_path / "listen.out"
    listener = start_listener(kafka_broker.url(name), tmp_path / "s.sqlite", out, "-v")
    try:
        # "the start": the listener has asked the broker for the topic (a loaded machine can
        # take seconds to get there)
        wait_until(lambda: "listening to " in out.read_text(), GENEROUS, "the start")
        produce(kafka_broker.bootstrap, name, [notice(i) for i in range(6)])
        wait_until(lambda: out.read_text().count("new ") == 6, GENEROUS, "all six notices")
        listener.send_signal(signal.SIGTERM)
        assert listener.wait(120) == 0
    finally:
        if listener.poll() is None:
            listener.kill()
    # Existing topic, messages present before the start: a new group skips those only.
    out2 = tmp_path / "listen2.out"
    listener = start_listener(
        kafka_broker.url(name), tmp_path / "s2.sqlite", out2, "--group-id", "fresh", "-v"
    )
    try:
        wait_until(lambda: "listening to " in out2.read_text(), GENEROUS, "the start")
        # one new notice in each of the topic's 4 partitions: once all four are stored, every
        # older message of every partition would have been read before them, had it not been
        # skipped (no fixed wait for "nothing more comes")
        produce(
            kafka_broker.bootstrap, name, [notice(i) for i in range(6, 10)], partitions=[0, 1, 2, 3]
        )
        wait_until(lambda: out2.read_text().count("new ") >= 4, GENEROUS, "the four new notices")
        listener.send_signal(signal.SIGTERM)
        assert listener.wait(GENEROUS) == 0
    finally:
        if listener.poll() is None:
            listener.kill()
    assert out2.read_text().count("new ") == 4


@pytest.mark.slow
def test_two_listeners_in_one_group_share_the_stream(kafka_broker, tmp_path, skymap) -> None:
    """A second listener joins (rebalance: the first commits before giving partitions up),
    then the first is killed (its partitions move): every notice stored exactly once."""
    name = topic()
    url = kafka_broker.url(name)
    total = 40
    values = [notice(i, skymap) for i in range(total)]
    produce(kafka_broker.bootstrap, name, values[:1])
    store = tmp_path / "s.sqlite"
    group = ["--group-id", "shared", "--start-at", "earliest"]
    a = start_listener(url, store, tmp_path / "a.out", *group)
    b = None
    try:
        wait_until(lambda: count(store)["notices"] >= 1, GENEROUS, "the first notice")
        b = start_listener(url, store, tmp_path / "b.out", *group, "-v")
        wait_until(
            lambda: "assigned " in (tmp_path / "b.out").read_text(),
            GENEROUS,
            "the second listener to take partitions",
            (a, b),
        )
        # the rest of the stream, spread over the topic's 4 partitions: both listeners get some
        feeder = threading.Thread(
            target=produce,
            args=(kafka_broker.bootstrap, name, values[1:]),
            kwargs={"pace": 0.1, "partitions": [i % 4 for i in range(1, total)]},
        )
        feeder.start()
        wait_until(
            lambda: "new " in (tmp_path / "b.out").read_text(),
            GENEROUS,
            "the second listener to store from its partitions",
            (a, b),
        )
        a.send_signal(signal.SIGKILL)
        a.wait(120)
        feeder.join(60)
        wait_until(lambda: count(store)["notices"] == total, GENEROUS, "every notice")
        b.send_signal(signal.SIGTERM)
        assert b.wait(120) == 0
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.kill()
    times = [r.time_created for r in stored(store)]
    assert len(times) == len(set(times)) == total


@pytest.mark.slow
def test_heartbeat_topic_is_followed_not_stored(kafka_broker, tmp_path) -> None:
    name, beat = topic(), f"hb-{uuid.uuid4().hex[:6]}"
    produce(kafka_broker.bootstrap, beat, [b'{"timestamp": 1}'])
    produce(kafka_broker.bootstrap, name, [notice(1)])
    out = tmp_path / "listen.out"
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gwalert",
            "-v",
            "listen",
            kafka_broker.url(name),
            "--no-auth",
            "--store",
            str(tmp_path / "s.sqlite"),
            "--start-at",
            "earliest",
            "--heartbeat-topic",
            beat,
            "--metrics-port",
            str(port),
            *FAST_GROUP,
        ],
        stdout=open(out, "ab"),
        stderr=subprocess.STDOUT,
    )  # noqa: SIM115
    try:
        wait_until(lambda: "new " in out.read_text(), GENEROUS, "the notice")
        produce(kafka_broker.bootstrap, beat, [b'{"timestamp": 2}', b'{"timestamp": 3}'])

        def heartbeat_seen() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
                    return b"gwalert_feed_last_heartbeat_age_seconds{" in r.read()
            except OSError:  # the metrics server is not up yet
                return False

        wait_until(heartbeat_seen, what="a heartbeat consumed", procs=(proc,))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    text = out.read_text()
    assert f"listening to {name}, {beat}" in text
    assert count(tmp_path / "s.sqlite") == {"notices": 1, "dead_letters": 0, "superevents": 1}


@pytest.mark.slow
def test_restart_after_kill_before_any_commit(kafka_broker, tmp_path) -> None:
    """Killed after the partitions were assigned but before anything was committed: the
    restart (default --start-at latest) must still read what arrived in between, because the
    starting position was committed at assignment."""
    from confluent_kafka.admin import AdminClient, NewTopic

    name = topic()
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap})
    for future in admin.create_topics([NewTopic(name, 4)]).values():
        future.result(120)
    store, out = tmp_path / "s.sqlite", tmp_path / "listen.out"
    listener = start_listener(kafka_broker.url(name), store, out, "--start-at", "earliest", "-v")
    try:
        # "assigned" is logged after the starting offsets were committed (synchronously)
        wait_until(lambda: "assigned " in out.read_text(), GENEROUS, "the assignment")
        listener.send_signal(signal.SIGKILL)
        listener.wait(120)
    finally:
        if listener.poll() is None:
            listener.kill()
    produce(kafka_broker.bootstrap, name, [notice(i) for i in range(8)])
    again = gwalert(
        "listen",
        kafka_broker.url(name),
        "--no-auth",
        "--store",
        str(store),
        "--until-eos",
        "--no-heartbeat",
        *FAST_GROUP,
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("new ") == 8


@pytest.mark.parametrize("topic_exists", [True, False])
@pytest.mark.slow
def test_restart_after_kill_before_assignment(kafka_broker, tmp_path, topic_exists) -> None:
    """A brand-new group killed before the broker ever assigned it a partition (so nothing is
    committed anywhere): the restart, with the default --start-at latest, still reads what
    arrived after the first start, and not what was there before it, because the store kept
    where the partitions ended at that first start."""
    from confluent_kafka.admin import AdminClient, NewTopic

    name = topic()
    if topic_exists:
        admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap})
        for future in admin.create_topics([NewTopic(name, 4)]).values():
            future.result(120)
        produce(kafka_broker.bootstrap, name, [notice(i, sid="MS260101z") for i in range(3)])
    store, out = tmp_path / "s.sqlite", tmp_path / "listen.out"
    listener = start_listener(kafka_broker.url(name), store, out, "-v")
    try:
        wait_until(lambda: "listening to " in out.read_text(), GENEROUS, "the subscription")
        assert "assigned " not in out.read_text()
        listener.send_signal(signal.SIGKILL)  # before any assignment
        listener.wait(120)
    finally:
        if listener.poll() is None:
            listener.kill()
    assert "assigned " not in out.read_text()
    produce(kafka_broker.bootstrap, name, [notice(i) for i in range(5)])
    again = gwalert(
        "listen",
        kafka_broker.url(name),
        "--no-auth",
        "--store",
        str(store),
        "--until-eos",
        "--no-heartbeat",
        *FAST_GROUP,
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("new ") == 5
    assert "MS260101z" not in again.stdout  # what was there before the first start


def create_topic(bootstrap: str, name: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, 4)]).values():
        future.result(120)


@pytest.mark.slow
def test_broker_lost_its_log_incident_and_nothing_skipped(tmp_path) -> None:
    """An in-memory broker killed and restarted on the same port has lost its log and the
    group's offsets: the committed offsets, start marks and fetch positions the listener holds
    lie beyond the new log's end. Whether the listener ran through the loss or was restarted
    after it, every notice of the new log is stored and an INCIDENT is logged."""
    from kafka_broker import Broker

    broker = Broker(log_path=tmp_path / "tansu.log")
    name = topic()
    url = broker.url(name)
    store, out = tmp_path / "s.sqlite", tmp_path / "listen.out"
    sid = iter(f"MS2601{d:02d}a" for d in range(1, 40))
    try:
        create_topic(broker.bootstrap, name)
        # Before the first start: not stored (--start-at latest), but the start marks lie
        # beyond offset 0.
        produce(broker.bootstrap, name, [notice(i, sid="MS260199z") for i in range(12)])
        listener = start_listener(url, store, out, "-v")  # default: --start-at latest
        try:
            wait_until(lambda: "assigned " in out.read_text(), GENEROUS, "the assignment")
            produce(broker.bootstrap, name, [notice(i, sid=next(sid)) for i in range(10)])
            wait_until(lambda: count(store)["notices"] == 10, GENEROUS, "the first ten")
            # (a) the broker loses its log while the listener runs
            broker.restart()
            create_topic(broker.bootstrap, name)
            produce(broker.bootstrap, name, [notice(i, sid=next(sid)) for i in range(6)])
            wait_until(lambda: count(store)["notices"] == 16, GENEROUS, "the six of the new log")
            listener.send_signal(signal.SIGTERM)
            assert listener.wait(120) == 0
        finally:
            if listener.poll() is None:
                listener.kill()
        assert "INCIDENT" in out.read_text()
        # (b) the broker loses its log while the listener is stopped
        broker.restart()
        create_topic(broker.bootstrap, name)
        produce(broker.bootstrap, name, [notice(i, sid=next(sid)) for i in range(7)])
        again = gwalert(
            "-v",
            "listen",
            url,
            "--no-auth",
            "--store",
            str(store),
            "--until-eos",
            "--no-heartbeat",
            *FAST_GROUP,
        )
        assert again.returncode == 0, again.stderr
        assert again.stdout.count("new ") == 7, again.stdout + again.stderr
        assert "INCIDENT" in again.stderr
    finally:
        broker.kill()
    assert count(store)["notices"] == 23


def test_out_of_range_offsets_never_jump_to_latest() -> None:
    """librdkafka's own reset for an offset out of range goes to the earliest message kept,
    whatever the client configuration or --kafka-option says; and the position checks send
    any position outside the log to its start, with an INCIDENT."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from gwalert.sources.kafka import KafkaSource
    from gwalert.sources.start import check_position
    from gwalert.sources.url import parse_url

    source = KafkaSource(
        parse_url("kafka://127.0.0.1:1/t"),
        {"bootstrap.servers": "127.0.0.1:1", "auto.offset.reset": "latest"},
        group_id="g",
    )
    assert source.config["auto.offset.reset"] == "earliest"

    @settings(max_examples=200, deadline=None)
    @given(st.integers(0, 2**40), st.integers(0, 2**20), st.integers(-1, 2**41))
    def check(low: int, size: int, position: int) -> None:
        high = low + size
        verdict = check_position("t", 0, position, low, high, "committed offset")
        inside = low <= position <= high
        assert (verdict.incident is None) == inside
        assert verdict.offset == (position if inside else low)
        if verdict.incident:
            assert (
                verdict.incident.startswith("INCIDENT: t[0]: ")
                and str(position) in verdict.incident
            )

    check()


@pytest.mark.slow
def test_start_marks_beyond_a_lost_log_are_an_incident(tmp_path) -> None:
    """A first run (--start-at latest) killed before any assignment left only its start marks
    (no committed offset anywhere); the broker then lost its log: the marks lie beyond the new
    log's end, so the new log is read from its beginning instead of from the marks."""
    from kafka_broker import Broker

    broker = Broker(log_path=tmp_path / "tansu.log")
    name = topic()
    url = broker.url(name)
    store, out = tmp_path / "s.sqlite", tmp_path / "listen.out"
    try:
        create_topic(broker.bootstrap, name)
        # ~10 per partition: every mark lies beyond the new log's end (5 notices in all)
        produce(broker.bootstrap, name, [notice(i, sid="MS260199z") for i in range(40)])
        listener = start_listener(url, store, out, "-v")
        try:
            wait_until(lambda: "listening to " in out.read_text(), GENEROUS, "the subscription")
            listener.send_signal(signal.SIGKILL)
            listener.wait(120)
        finally:
            if listener.poll() is None:
                listener.kill()
        assert "assigned " not in out.read_text()
        broker.restart()
        create_topic(broker.bootstrap, name)
        produce(broker.bootstrap, name, [notice(i) for i in range(5)])
        again = gwalert(
            "-v",
            "listen",
            url,
            "--no-auth",
            "--store",
            str(store),
            "--until-eos",
            "--no-heartbeat",
            *FAST_GROUP,
        )
    finally:
        broker.kill()
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("new ") == 5, again.stdout + again.stderr
    assert "MS260199z" not in again.stdout
    assert "INCIDENT" in again.stderr and "start mark" in again.stderr
