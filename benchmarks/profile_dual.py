"""Where bench_dual's broker -> stored time goes, per message (a breakdown table).

    .venv/bin/python benchmarks/profile_dual.py [--notices N] [--interval S]

Runs :func:`bench_dual.run_dual` with timers wrapped around each step of the path a message
takes (no change to gwalert's code: the wrappers are installed in this process only) and
prints, per step, n / p50 / p90 / p99 / max in ms, plus the garbage collector's pauses.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_dual import run_dual  # noqa: E402
from bench_listen import notice_factory, pct, start_broker  # noqa: E402

RECORDS: dict[str, list[float]] = defaultdict(list)
FIRST_MESSAGE: list[float] = []  # when each message's processing began
FULL_COLLECTIONS: list[float] = []  # when each full (generation 2) collection began
_local = threading.local()


def timed(owner: Any, name: str, stage: str) -> None:
    """Wrap ``owner.name`` so that each call's duration goes to ``RECORDS[stage]``."""
    original: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            RECORDS[stage].append((time.perf_counter() - t0) * 1000)

    setattr(owner, name, wrapper)


class TimedLock:
    """A lock that records how long each acquisition waited."""

    def __init__(self, stage: str) -> None:
        self.lock = threading.Lock()
        self.stage = stage

    def __enter__(self) -> TimedLock:
        t0 = time.perf_counter()
        self.lock.acquire()
        RECORDS[self.stage].append((time.perf_counter() - t0) * 1000)
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock.release()

    def acquire(self, *args: Any) -> bool:
        return self.lock.acquire(*args)

    def release(self) -> None:
        self.lock.release()


def install() -> None:
    import sqlalchemy as sa

    from gwalert import budget, pipeline, summary
    from gwalert.sources import kafka
    from gwalert.store import notices
    from gwalert.store.arrivals import Arrivals

    process = pipeline.Pipeline.process

    def process_wrapper(self: Any, message: Any, stop: Any = None) -> Any:
        FIRST_MESSAGE.append(time.perf_counter())
        if message.broker_ms is not None:
            RECORDS["broker ts -> process() starts"].append(time.time() * 1000 - message.broker_ms)
        t0 = time.perf_counter()
        if not isinstance(self._write, TimedLock):
            self._write = TimedLock("store write lock wait")
        try:
            return process(self, message, stop)
        finally:
            RECORDS["process() total"].append((time.perf_counter() - t0) * 1000)

    pipeline.Pipeline.process = process_wrapper  # type: ignore[method-assign]
    timed(pipeline, "decode", "decode (main process)")
    timed(notices.Store, "find_notice", "duplicate look-up")
    timed(pipeline, "safe_summary", "analysis (summary, incl. worker)")
    timed(summary, "within_budget", "  sky-map facts via budget")
    timed(budget._Worker, "call", "    worker round trip")
    timed(notices.Store, "add", "store.add (insert + hooks + commit)")
    timed(notices, "refold", "  refold superevent")
    timed(notices, "lock_superevent", "  lock superevent")
    timed(Arrivals, "after_commit", "later copy's arrival row")
    timed(kafka.KafkaSource, "commit", "kafka commit (async)")
    timed(kafka.KafkaSource, "_check_log", "check_log (every 5 s, own thread)")
    try:  # absent before the deferred commits (profiling an older tree)
        from gwalert.store import durable

        timed(durable._GroupSync, "_fsync", "  fsync of the WAL")
    except ImportError:
        pass
    connect = kafka.KafkaSource.connect

    class Polled:
        def __init__(self, consumer: Any) -> None:
            self.consumer = consumer

        def __getattr__(self, name: str) -> Any:
            return getattr(self.consumer, name)

        def poll(self, *args: Any) -> Any:
            msg = self.consumer.poll(*args)
            if msg is not None and not msg.error():
                kind, ms = msg.timestamp()
                if ms > 0:
                    RECORDS["broker ts -> poll() returns it"].append(time.time() * 1000 - ms)
            return msg

    def connect_wrapper(self: Any, stop: Any = None) -> None:
        connect(self, stop)
        self.consumer = Polled(self.consumer)

    kafka.KafkaSource.connect = connect_wrapper  # type: ignore[method-assign]
    store_one = pipeline.Pipeline._store_one
    store = pipeline.Pipeline._store

    def store_wrapper(self: Any, outcome: Any, notice: Any, stop: Any) -> Any:
        _local.inner = 0.0
        t0 = time.perf_counter()
        try:
            return store(self, outcome, notice, stop)
        finally:
            total = (time.perf_counter() - t0) * 1000
            RECORDS["in-flight wait (other copy)"].append(total - _local.inner)

    def store_one_wrapper(self: Any, *args: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return store_one(self, *args)
        finally:
            _local.inner = (time.perf_counter() - t0) * 1000

    pipeline.Pipeline._store = store_wrapper  # type: ignore[method-assign]
    pipeline.Pipeline._store_one = store_one_wrapper  # type: ignore[method-assign]

    @sa.event.listens_for(sa.engine.Engine, "commit")
    def _commit(conn: Any) -> None:
        _local.commit_started = time.perf_counter()

    write_transaction = notices.write_transaction

    from contextlib import contextmanager

    @contextmanager
    def timed_transaction(engine: Any) -> Any:
        _local.commit_started = None
        with write_transaction(engine) as conn:
            yield conn
        if _local.commit_started is not None:
            RECORDS["  COMMIT (fsync)"].append((time.perf_counter() - _local.commit_started) * 1000)

    notices.write_transaction = timed_transaction

    gc_start: dict[int, float] = {}

    def gc_callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_start[threading.get_ident()] = time.perf_counter()
        else:
            t0 = gc_start.pop(threading.get_ident(), None)
            if t0 is not None and info["generation"] == 2:
                FULL_COLLECTIONS.append(t0)
            if t0 is not None:
                RECORDS[f"GC pause gen{info['generation']}"].append(
                    (time.perf_counter() - t0) * 1000
                )

    gc.callbacks.append(gc_callback)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.15)
    args = parser.parse_args()
    install()
    what, make = notice_factory()
    print(f"notice: {what}", flush=True)
    proc, bootstrap = start_broker()
    try:
        with tempfile.TemporaryDirectory(prefix="gwalert-profile-dual-") as tmp:
            result = run_dual(bootstrap, make, args.notices, Path(tmp), None, args.interval)
    finally:
        proc.kill()
        proc.wait(10)
    stored = [v for values in result["stored"]["new"].values() for v in values]
    dup = [v for values in result["stored"]["duplicate"].values() for v in values]
    RECORDS["= broker ts -> stored (first copy)"] = stored
    RECORDS["= broker ts -> later copy recorded"] = dup
    print(f"{'step':45s} {'n':>5s} {'p50':>7s} {'p90':>7s} {'p99':>7s} {'max':>7s}  (ms)")
    for stage, values in RECORDS.items():
        if values:
            print(
                f"{stage:45s} {len(values):5d} {pct(values, 50):7.1f} {pct(values, 90):7.1f} "
                f"{pct(values, 99):7.1f} {max(values):7.1f}"
            )
    if FIRST_MESSAGE:
        first = min(FIRST_MESSAGE)
        print(
            "full collections, s after the first message (the warm-up): "
            + (", ".join(f"{t - first:+.1f}" for t in FULL_COLLECTIONS) or "none")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
