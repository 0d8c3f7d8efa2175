"""kill -9 of ``gwalert listen`` at random moments while a real broker (tansu) feeds it two
feeds (an Avro topic and a GCN JSON topic carrying the same notices), restarted after each
kill: after every kill, no committed offset lies past a message whose notice (or copy) is not
in the store; at the end, every notice is stored exactly once and every copy of it recorded
exactly once. The store's commits of a message return before their fsync and the offset is
committed only after it (:mod:`gwalert.store.durable`): a kill anywhere in between must cost
nothing but a redelivery."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from waiting import GENEROUS, wait_until

from gwalert import samples
from gwalert.feedset import feed_group

pytestmark = [pytest.mark.broker, pytest.mark.slow]

FAST_GROUP = [
    "--kafka-option",
    "session.timeout.ms=6000",
    "--kafka-option",
    "heartbeat.interval.ms=1000",
]


def rows(store: Path, sql: str) -> list[tuple]:
    """``sql`` on the store as a reader (no table yet: nothing)."""
    if not store.exists():
        return []
    conn = sqlite3.connect(store, timeout=GENEROUS)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        conn.close()


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset per partition of ``topic`` (as the broker says)."""
    import confluent_kafka

    c = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        parts = c.list_topics(topic, timeout=GENEROUS).topics[topic].partitions
        tps = [confluent_kafka.TopicPartition(topic, p) for p in parts]
        return {tp.partition: tp.offset for tp in c.committed(tps, timeout=GENEROUS)}
    finally:
        c.close()


def feed(bootstrap: str, topics: dict[str, str], values: list[dict[str, bytes]], sent, rng) -> None:
    """Each notice on both topics (random order, one message per request), noting where each
    message landed: ``sent[fmt]`` gets (partition, offset)."""
    import confluent_kafka

    producer = confluent_kafka.Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 0, "message.max.bytes": 16 << 20}
    )

    def delivered(fmt: str):
        def report(err, msg) -> None:
            assert err is None, err
            sent[fmt].append((msg.partition(), msg.offset()))

        return report

    for pair in values:
        order = list(topics)
        rng.shuffle(order)
        for fmt in order:
            producer.produce(topics[fmt], value=pair[fmt], on_delivery=delivered(fmt))
            assert producer.flush(GENEROUS) == 0
        time.sleep(rng.uniform(0, 0.05))  # input shaping: a live stream, not a wait


def test_kill9_at_random_points_two_feeds(kafka_broker, tmp_path) -> None:
    rng = random.Random(9)
    total = 30
    skymap = samples.gaussian_skymap(max_level=4)
    values = []
    for i in range(total):
        rec = samples.make_record(
            "MS260701a",
            "UPDATE" if i else "PRELIMINARY",
            skymap=skymap,
            time_created=f"2026-07-01T00:{i // 60:02d}:{i % 60:02d}Z",
        )
        values.append({"avro": samples.encode(rec, "avro"), "json": samples.encode(rec, "json")})
    tag = uuid.uuid4().hex[:8]
    topics = {"avro": f"igwn.gwalert-k9a-{tag}", "json": f"igwn.gwalert-k9j-{tag}"}
    urls = {
        "avro": kafka_broker.url(topics["avro"]),
        "json": kafka_broker.url(topics["json"], "gcn"),
    }
    group = f"kill9-{tag}"
    groups = {fmt: feed_group(url, group, "unused", several=True)[0] for fmt, url in urls.items()}
    store, out = tmp_path / "s.sqlite", tmp_path / "listen.out"
    sent: dict[str, list[tuple[int, int]]] = {"avro": [], "json": []}
    feeder = threading.Thread(
        target=feed, args=(kafka_broker.bootstrap, topics, values, sent, random.Random(1))
    )
    command = [
        sys.executable,
        "-m",
        "gwalert",
        "listen",
        *urls.values(),
        "--no-auth",
        "--store",
        str(store),
        "--no-heartbeat",
        "--group-id",
        group,
        "--start-at",
        "earliest",
        *FAST_GROUP,
    ]

    def n_stored() -> int:
        found = rows(store, "SELECT count(*) FROM gwalert_notices")
        return int(found[0][0]) if found else 0

    def check_offsets() -> None:
        """No committed offset lies past a message without its arrival in the store."""
        have = {
            (feed_url, p, o)
            for feed_url, p, o in rows(
                store, 'SELECT feed, "partition", "offset" FROM gwalert_arrivals'
            )
        }
        for fmt, url in urls.items():
            ends = committed(kafka_broker.bootstrap, groups[fmt], topics[fmt])
            for p, o in list(sent[fmt]):
                if o < ends.get(p, -1):
                    assert (url, p, o) in have, f"{fmt}[{p}]@{o} acknowledged, not stored"

    kills = 0
    try:
        for _ in range(5):
            with open(out, "ab") as fh:
                listener = subprocess.Popen(command, stdout=fh, stderr=subprocess.STDOUT)
            if not feeder.is_alive() and not sent["avro"]:
                feeder.start()
            target = min(total, n_stored() + rng.randint(0, 6))
            wait_until(lambda t=target: n_stored() >= t, what=f"{target} notices stored")
            if rng.random() < 0.5:  # and further into the next message, now and then
                time.sleep(rng.uniform(0, 0.2))  # input shaping: where the kill lands
            listener.send_signal(signal.SIGKILL)
            listener.wait(GENEROUS)
            kills += 1
            check_offsets()
    finally:
        if listener.poll() is None:
            listener.kill()
        feeder.join(GENEROUS)
    assert kills == 5
    again = subprocess.run(
        [*command, "--until-eos"], capture_output=True, text=True, timeout=10 * GENEROUS
    )
    assert again.returncode == 0, again.stderr[-3000:]
    check_offsets()
    notices = rows(store, "SELECT time_created FROM gwalert_notices")
    assert len(notices) == total and len(set(notices)) == total
    arrivals = rows(store, 'SELECT feed, "partition", "offset" FROM gwalert_arrivals')
    assert len(arrivals) == len(set(arrivals)) == 2 * total
    expected = {(urls[fmt], p, o) for fmt in urls for p, o in sent[fmt]}
    assert set(arrivals) == expected
    firsts = rows(
        store, "SELECT notice_id, count(*) FROM gwalert_arrivals WHERE is_first GROUP BY notice_id"
    )
    assert len(firsts) == total and all(n == 1 for _, n in firsts)
