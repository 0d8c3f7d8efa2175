"""Commits that return before their fsync, made durable before any acknowledgment
(:mod:`gwalert.store.durable`), on a real SQLite store and the real pipeline loop.

- inside ``deferred_fsync`` a SQLite write commits with ``synchronous=NORMAL`` (WAL mode),
  everywhere else with FULL; PostgreSQL is untouched;
- ``make_durable`` returns only after an fsync of the store's WAL that BEGAN after it was
  called, and callers waiting together share fsyncs (group commit), from many threads;
- ``pipeline.run`` acknowledges each message only after its notice is committed AND an fsync
  of the WAL began after that commit (a source that checks it at every ``commit``), for new
  notices, duplicates and dead letters alike.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gwalert import samples
from gwalert.pipeline import Pipeline, run
from gwalert.sources.message import Message
from gwalert.store import Store, write_transaction
from gwalert.store.durable import deferred_fsync, make_durable


class FsyncLog:
    """Every ``os.fsync`` of this process: (path, began, ended) in ``time.perf_counter``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float, float]] = []
        self.lock = threading.Lock()
        self.real = os.fsync

    def __call__(self, fd: int) -> None:
        began = time.perf_counter()
        self.real(fd)
        ended = time.perf_counter()
        path = os.readlink(f"/proc/self/fd/{fd}")
        with self.lock:
            self.calls.append((path, began, ended))

    def wal_synced_between(self, wal: str, after: float, before: float) -> bool:
        """An fsync of ``wal`` began after ``after`` and ended before ``before``."""
        with self.lock:
            return any(p == wal and after <= b and e <= before for p, b, e in self.calls)


@pytest.fixture
def fsyncs(monkeypatch) -> FsyncLog:
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc/self/fd to name the file an fsync is for")
    log = FsyncLog()
    monkeypatch.setattr(os, "fsync", log)
    return log


def synchronous(store: Store) -> int:
    with write_transaction(store.engine) as conn:
        return int(conn.exec_driver_sql("PRAGMA synchronous").scalar())


def test_deferred_only_inside_and_only_sqlite_wal(sqlite_store: Store) -> None:
    assert synchronous(sqlite_store) == 2  # FULL
    with deferred_fsync():
        assert synchronous(sqlite_store) == 1  # NORMAL
        seen_in_thread: list[int] = []
        t = threading.Thread(target=lambda: seen_in_thread.append(synchronous(sqlite_store)))
        t.start()
        t.join()
        assert seen_in_thread == [2]  # another thread is not deferred
    assert synchronous(sqlite_store) == 2


@pytest.mark.postgres
def test_postgres_untouched(postgres_store: Store) -> None:
    with deferred_fsync(), write_transaction(postgres_store.engine) as conn:
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
    make_durable(postgres_store.engine)  # nothing to do, and no error


def test_group_commit_covers_every_caller(tmp_path: Path, fsyncs: FsyncLog) -> None:
    """Threads committing (deferred) and calling make_durable at random moments: each returns
    only after an fsync of the WAL that began after its call; fsyncs are shared."""
    store = Store.open(str(tmp_path / "s.sqlite"))
    wal = str(tmp_path / "s.sqlite-wal")
    rng = random.Random(20)
    delays = [[rng.uniform(0, 0.004) for _ in range(15)] for _ in range(6)]
    windows: list[tuple[float, float]] = []
    lock = threading.Lock()

    def writer(mine: list[float]) -> None:
        for i, delay in enumerate(mine):
            with deferred_fsync(), write_transaction(store.engine) as conn:
                conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
                conn.exec_driver_sql("INSERT INTO t VALUES (?)", (i,))
            time.sleep(delay)  # input shaping: callers overlap at random points
            called = time.perf_counter()
            make_durable(store.engine)
            with lock:
                windows.append((called, time.perf_counter()))

    threads = [threading.Thread(target=writer, args=(d,)) for d in delays]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    assert len(windows) == 6 * 15
    for called, returned in windows:
        assert fsyncs.wal_synced_between(wal, called, returned), (called, returned)
    wal_syncs = [c for c in fsyncs.calls if c[0] == wal]
    assert 0 < len(wal_syncs) <= len(windows)


class CheckingSource:
    """A source of ``messages`` whose ``commit`` checks that the message's store commit was
    followed by an fsync of the WAL that began after it (else the acknowledgment would
    precede durability)."""

    name = "checking"

    def __init__(self, messages: list[Message], fsyncs: FsyncLog, wal: str) -> None:
        self.queue = messages
        self.fsyncs = fsyncs
        self.wal = wal
        self.stored_at: dict[int | None, float] = {}
        self.acked: list[int | None] = []

    def messages(self, stop: threading.Event) -> Iterator[Message]:
        yield from self.queue

    def commit(self, message: Message) -> None:
        stored = self.stored_at[message.offset]
        assert self.fsyncs.wal_synced_between(self.wal, stored, time.perf_counter()), (
            f"message {message.offset} acknowledged before its commit was fsynced"
        )
        self.acked.append(message.offset)

    def close(self) -> None:
        pass


def test_run_acknowledges_only_after_the_wal_is_synced(tmp_path: Path, fsyncs: FsyncLog) -> None:
    store = Store.open(str(tmp_path / "s.sqlite"))
    skymap = samples.gaussian_skymap(max_level=3)
    values = []
    for i in range(6):
        rec = samples.make_record(
            "MS260601a", skymap=skymap, time_created=f"2026-06-01T00:00:{i:02d}Z"
        )
        values.append(samples.encode(rec, "avro" if i % 2 else "json"))
    values += [values[1], values[2], b"not a notice at all"]  # duplicates, a dead letter
    messages = [Message(v, "test", 0, off) for off, v in enumerate(values)]
    source = CheckingSource(messages, fsyncs, str(tmp_path / "s.sqlite-wal"))

    def stored(outcome) -> None:  # after the message's transactions committed
        source.stored_at[outcome.message.offset] = time.perf_counter()

    stats = run(source, Pipeline(store, after_commit=[stored]))
    store.close()
    assert source.acked == list(range(len(values)))
    assert (stats.new, stats.duplicates, stats.dead_letters) == (6, 2, 1)


def test_deferred_commits_are_checkpointed_in_the_background(tmp_path: Path) -> None:
    """The deferred commits' connections run no checkpoint of their own; past
    CHECKPOINT_BYTES of WAL, make_durable has one run in the background: the rows reach the
    database file (and the WAL is then reused, not grown for ever)."""
    from waiting import wait_until

    from gwalert.store.durable import CHECKPOINT_BYTES

    store = Store.open(str(tmp_path / "s.sqlite"))
    db = tmp_path / "s.sqlite"
    with write_transaction(store.engine) as conn:
        conn.exec_driver_sql("CREATE TABLE blobs (b BLOB)")
    blob = os.urandom(256 << 10)
    before = db.stat().st_size
    for _ in range(2 * CHECKPOINT_BYTES // len(blob)):
        with deferred_fsync(), write_transaction(store.engine) as conn:
            conn.exec_driver_sql("INSERT INTO blobs VALUES (?)", (blob,))
    assert db.stat().st_size == before  # no checkpoint inside the deferred commits
    make_durable(store.engine)
    wait_until(lambda: db.stat().st_size > CHECKPOINT_BYTES, what="a background checkpoint")
    with store.engine.connect() as conn:
        n = conn.exec_driver_sql("SELECT count(*) FROM blobs").scalar()
    store.close()
    assert n == 2 * CHECKPOINT_BYTES // len(blob)
