"""Commits that return before their fsync, made durable before anything is acknowledged.

A SQLite commit in WAL mode with ``synchronous=FULL`` waits for an fsync of the WAL (8 ms
median, 30+ ms at the 90th percentile for an 800 KB notice on a loaded disk). With
``synchronous=NORMAL`` it returns once the WAL frames are written to the OS: the transaction is
committed, every reader (any process) sees it at once, and it survives the death of the
process (kill -9 included); only a power loss or an OS crash can undo it. The listener
commits a message's notice that way (:func:`deferred_fsync`) and, before acknowledging the
message to its source, waits for :func:`make_durable`: one fsync of the WAL, shared by every
commit made before it began (a group commit). So a stored notice is visible at once and an
acknowledged one is on disk, as with FULL.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy.engine import Engine

from ..errors import StoreUnavailable

log = logging.getLogger("gwalert.store")

#: Whether a pooled SQLite connection is in WAL mode (its pool record's ``info``).
WAL_INFO = "gwalert_wal"
#: SQLite's own automatic checkpoint (pages), for the commits that are not deferred.
AUTOCHECKPOINT_PAGES = 1000
#: WAL size past which a checkpoint runs after a deferred commit's fsync: in a thread of its
#: own, never in the committing one (a checkpoint is two fsyncs and a copy of the WAL, 20-40
#: ms every fourth or fifth 800 KB notice when it ran inside the commit).
CHECKPOINT_BYTES = 4 << 20
_DEFERRED: ContextVar[bool] = ContextVar("gwalert_deferred_fsync", default=False)


def fsync_deferred() -> bool:
    """Whether SQLite commits here may return before their fsync (see :func:`deferred_fsync`)."""
    return _DEFERRED.get()


def pragmas(deferred: bool) -> tuple[str, ...]:
    """What a SQLite connection in WAL mode runs before a transaction: deferred, NORMAL and no
    checkpoint of its own (:func:`make_durable` has them run in the background); else FULL
    and SQLite's automatic checkpoints."""
    if deferred:
        return ("PRAGMA synchronous=NORMAL", "PRAGMA wal_autocheckpoint=0")
    return ("PRAGMA synchronous=FULL", f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")


@contextmanager
def deferred_fsync() -> Iterator[None]:
    """SQLite transactions committed inside (this thread or context) return before their fsync
    (WAL mode, ``synchronous=NORMAL``): committed, seen by every reader at once and kept if the
    process dies, but a power loss or an OS crash could still undo them. Whoever uses it must
    call :func:`make_durable` before acknowledging anything written inside. Other databases,
    and SQLite not in WAL mode, commit durably as always."""
    token = _DEFERRED.set(True)
    try:
        yield
    finally:
        _DEFERRED.reset(token)


def make_durable(engine: Engine) -> None:
    """Return once every transaction committed on ``engine`` before the call is on disk
    (after :func:`deferred_fsync`). SQLite: one fsync of the WAL file covers every commit
    before it, and callers waiting meanwhile share the next one (a group commit); the frames
    SQLite already moved into the database file were synced by its checkpoint. Other
    databases: nothing to do (their commits are durable). Raises :class:`StoreUnavailable`
    when the fsync fails (nothing may then be acknowledged)."""
    if engine.dialect.name != "sqlite":
        return
    sync = _SYNCS.get(engine)
    if sync is None:
        path = engine.url.database
        if not path or path == ":memory:" or path.startswith("file:"):
            return
        with _SYNCS_LOCK:
            sync = _SYNCS.get(engine)
            if sync is None:
                sync = _SYNCS[engine] = _GroupSync(os.path.abspath(path))
    try:
        sync.wait()
    except OSError as exc:
        raise StoreUnavailable(f"store {engine.url.database}: fsync failed: {exc}") from None


class _GroupSync:
    """One fsync at a time of a SQLite store's WAL (else its database file, when there is no
    WAL: not in WAL mode, or every commit checkpointed and the WAL removed); a caller needs one
    that began after it called, and every caller waiting shares the next."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.cond = threading.Condition()
        self.begun = self.done = 0
        self.syncing = False
        self.files: set[tuple[int, int]] = set()  # (device, inode) already synced once
        self.checkpoint_due = threading.Event()
        self.checkpointer: threading.Thread | None = None

    def wait(self) -> None:
        with self.cond:
            need = self.begun + 1
            while self.done < need:
                if self.syncing:
                    self.cond.wait()
                    continue
                self.syncing, self.begun = True, self.begun + 1
                mine = self.begun
                self.cond.release()
                try:
                    self._fsync()
                finally:
                    self.cond.acquire()
                    self.syncing = False
                    self.cond.notify_all()
                self.done = max(self.done, mine)

    def _fsync(self) -> None:
        for name in (self.path + "-wal", self.path):
            try:
                fd = os.open(name, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                os.fsync(fd)
                st = os.fstat(fd)
            finally:
                os.close(fd)
            if (st.st_dev, st.st_ino) not in self.files:  # a new file: its name too
                dfd = os.open(os.path.dirname(name) or ".", os.O_RDONLY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)
                self.files.add((st.st_dev, st.st_ino))
            if name != self.path and st.st_size > CHECKPOINT_BYTES:
                self._checkpoint_soon()
            return

    def _checkpoint_soon(self) -> None:
        checkpointer = self.checkpointer
        if checkpointer is None or not checkpointer.is_alive():
            checkpointer = self.checkpointer = threading.Thread(
                target=self._checkpoints, daemon=True, name="gwalert-checkpoint"
            )
            checkpointer.start()
        self.checkpoint_due.set()

    def _checkpoints(self) -> None:
        """The checkpoint thread: a PASSIVE checkpoint (it waits for no reader nor writer;
        with FULL it syncs the WAL before copying it and the database after) each time one is
        due; it ends after a minute without any (the next fsync starts another)."""
        while self.checkpoint_due.wait(60):
            self.checkpoint_due.clear()
            try:
                conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
                try:
                    conn.execute("PRAGMA synchronous=FULL")
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                finally:
                    conn.close()
            except sqlite3.Error as exc:  # the next one will try again
                log.warning("store %s: checkpoint failed: %s", self.path, exc)


_SYNCS: weakref.WeakKeyDictionary[Engine, _GroupSync] = weakref.WeakKeyDictionary()
_SYNCS_LOCK = threading.Lock()
