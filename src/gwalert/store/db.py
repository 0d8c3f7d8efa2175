"""The database under the store: URLs, engines, write transactions, table creation, and how an
outage (a store that cannot be reached right now) is told apart from a refusal and waited out.

SQLite by default (a file under the user's data directory, WAL mode, ``synchronous=FULL``) or
PostgreSQL by URL. Each store module (notices, marks, ledger, arrivals, feeds) keeps its tables
in its own ``MetaData`` on one engine and writes them with :func:`write_transaction`.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import GwalertError, StoreLost, StoreUnavailable
from ..util import first_line
from .durable import WAL_INFO, fsync_deferred, pragmas

log = logging.getLogger("gwalert.store")
T = TypeVar("T")

#: Environment variable naming the default store URL (else a SQLite file in the data dir).
STORE_ENV = "GWALERT_STORE"


def default_url() -> str:
    """``$GWALERT_STORE``, else a SQLite file in the user's data directory."""
    env = os.environ.get(STORE_ENV)
    if env:
        return env
    from platformdirs import user_data_dir

    return "sqlite:///" + str(Path(user_data_dir("gwalert", appauthor=False)) / "gwalert.sqlite")


def normalize_url(url: str | None) -> str:
    """Accept a SQLAlchemy URL, ``postgresql://…`` (psycopg 3) or a plain file path."""
    url = url or default_url()
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if "://" not in url:
        return "sqlite:///" + str(Path(url).expanduser().resolve())
    return url


def describe_url(url: str) -> str:
    """A URL fit for logs and messages: the password hidden."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return url


#: Execution option that makes a SQLite transaction take the write lock at BEGIN (see
#: :func:`write_transaction`); ignored by other databases.
WRITE_OPTION = "gwalert_write"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """``engine.begin()`` for a transaction that will write: on SQLite it starts with
    ``BEGIN IMMEDIATE``, so two writers queue (``busy_timeout``) instead of failing with
    "database is locked" when a read lock cannot be upgraded."""
    with engine.connect() as conn:
        conn = conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn
            check_file(engine)  # before the commit: nothing goes into a deleted file
    check_file(engine)  # and after it: nothing is acknowledged that is not on disk


#: The SQLite file each engine opened: (path, device, inode).
_FILES: weakref.WeakKeyDictionary[Engine, tuple[str, int, int]] = weakref.WeakKeyDictionary()


def remember_file(engine: Engine) -> None:
    """Note which file a SQLite engine opened, so that :func:`check_file` can tell when it was
    deleted or replaced (a new inode at its path) under the running process."""
    if engine.dialect.name != "sqlite":
        return
    path = engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    try:
        st = os.stat(path)
    except OSError:
        return
    _FILES[engine] = (path, st.st_dev, st.st_ino)


def check_file(engine: Engine) -> None:
    """Raise :class:`StoreLost` if the SQLite file this engine opened is gone from its path or
    was replaced by another file (whatever is written would be lost)."""
    known = _FILES.get(engine)
    if known is None:
        return
    path, dev, ino = known
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise StoreLost(
            f"store {path} was deleted while gwalert was running; stopping "
            "(nothing more is acknowledged)"
        ) from None
    except OSError as exc:
        raise StoreLost(f"store {path} cannot be checked ({exc.strerror}); stopping") from None
    if (st.st_dev, st.st_ino) != (dev, ino) or st.st_nlink == 0:
        raise StoreLost(
            f"store {path} was replaced by another file while gwalert was running; stopping "
            "(nothing more is acknowledged)"
        )


#: PostgreSQL advisory lock taken while creating tables (any gwalert schema, any process).
_DDL_LOCK = 0x6777616C  # "gwal"


def create_all_locked(md: sa.MetaData, engine: Engine) -> None:
    """``md.create_all`` that several processes may run at once on a fresh database (listeners
    and workers starting together): PostgreSQL's CREATE TABLE races otherwise fail with a
    duplicate pg_type row, SQLite's with "table already exists"."""
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DDL_LOCK})
        md.create_all(conn)


#: Whether a pooled SQLite connection is set for deferred commits now (its record's ``info``).
_DEFERRED_NOW = "gwalert_deferred_now"


def _sqlite_engine(url: str) -> Engine:
    sa_url = sa.engine.make_url(url)
    if sa_url.database and sa_url.database != ":memory:":
        try:
            Path(sa_url.database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GwalertError(f"cannot create the store's directory: {exc}") from None
    engine = sa.create_engine(url, connect_args={"timeout": 60})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        # Let SQLAlchemy's "begin" event below open transactions (the documented pysqlite
        # recipe): BEGIN IMMEDIATE takes the write lock at once, so two writers never deadlock.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        mode = cur.execute("PRAGMA journal_mode=WAL").fetchone()
        record.info[WAL_INFO] = bool(mode) and str(mode[0]).lower() == "wal"
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # FULL: the commit returns once it is on disk. NORMAL (WAL mode only, inside
        # deferred_fsync): once it is in the OS (it survives the process, kill -9 included;
        # only a power loss or an OS crash can undo it), made durable by make_durable.
        deferred = fsync_deferred() and conn.info.get(WAL_INFO, False)
        if conn.info.get(_DEFERRED_NOW) is not deferred:  # the connection's mode, if it changes
            for pragma in pragmas(deferred):
                conn.exec_driver_sql(pragma)
            conn.info[_DEFERRED_NOW] = deferred
        immediate = conn.get_execution_options().get(WRITE_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def open_engine(url: str | None, *tables: sa.MetaData) -> Engine:
    """An engine on the store at ``url`` (None: the default store) with the ``tables``
    created (and the columns newer versions added); :class:`GwalertError` if it cannot be
    opened."""
    url = normalize_url(url)
    try:
        if url.startswith("sqlite"):
            engine = _sqlite_engine(url)
        else:
            engine = sa.create_engine(url, pool_pre_ping=True)
        for md in tables:
            create_all_locked(md, engine)
            add_missing_columns(md, engine)
            add_missing_indexes(md, engine)
        remember_file(engine)
    except GwalertError:
        raise
    except ModuleNotFoundError as exc:
        raise GwalertError(
            f"store {describe_url(url)}: missing driver ({exc.name}); "
            "for PostgreSQL install gwalert[postgres]"
        ) from None
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        raise GwalertError(f"cannot open store {describe_url(url)}: {first_line(exc)}") from None
    return engine


def add_missing_columns(md: sa.MetaData, engine: Engine) -> None:
    """Add the columns newer gwalert versions define to tables an older one created (all
    nullable), so existing SQLite and PostgreSQL stores keep opening."""
    inspector = sa.inspect(engine)
    for table in md.sorted_tables:
        existing = {col["name"] for col in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in existing:
                continue
            kind = column.type.compile(dialect=engine.dialect)
            ddl = (
                f"ALTER TABLE {engine.dialect.identifier_preparer.format_table(table)} "
                f"ADD COLUMN {engine.dialect.identifier_preparer.format_column(column)} "
                f"{kind}"
            )
            try:
                with write_transaction(engine) as conn:
                    conn.exec_driver_sql(ddl)
            except sa.exc.SQLAlchemyError:
                # Another process may have added it meanwhile; anything else is re-raised.
                columns = {c["name"] for c in sa.inspect(engine).get_columns(table.name)}
                if column.name not in columns:
                    raise
            log.info("store: added column %s.%s", table.name, column.name)


def add_missing_indexes(md: sa.MetaData, engine: Engine) -> None:
    """Create the indexes newer gwalert versions define on tables an older one created
    (``create_all`` creates a table's indexes only with the table)."""
    inspector = sa.inspect(engine)
    for table in md.sorted_tables:
        existing = {ix["name"] for ix in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name in existing:
                continue
            with write_transaction(engine) as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DDL_LOCK})
                index.create(conn, checkfirst=True)
            log.info("store: added index %s", index.name)


#: Errors that mean the store cannot be reached or used right now (a lost connection, a
#: database that is down, locked or out of space): retry later, never blame the message.
OUTAGE_ERRORS = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.DisconnectionError,
    sa.exc.TimeoutError,
)


#: SQLite's generic SQL error (no such table/column, syntax): sqlite3 raises it as an
#: OperationalError, but it says nothing about the database being unavailable.
_SQLITE_ERROR = 1


#: PostgreSQL SQLSTATEs (or their classes) that say the database cannot take this write now,
#: whatever the content: lost connections (08), a read-only database or hot standby (25006),
#: serialization failures and deadlocks (40001, 40P01), out of resources (53), an operator
#: intervention or a database shutting down (57P0x), a lock not available (55P03), system
#: errors (58).
_PG_OUTAGE_CLASSES = ("08", "53", "58")
_PG_OUTAGE_STATES = frozenset({"25006", "40001", "40P01", "55P03", "57P01", "57P02", "57P03"})

#: SQLite's primary result codes for a database busy or locked by another connection.
_SQLITE_BUSY_CODES = frozenset({5, 6})


def sqlstate(exc: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE of a driver error wrapped by SQLAlchemy, if any."""
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return state if isinstance(state, str) else None


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the store is unavailable (not that it refused this content)."""
    if getattr(exc, "connection_invalidated", False):
        return True
    state = sqlstate(exc)
    if state is not None and (state in _PG_OUTAGE_STATES or state[:2] in _PG_OUTAGE_CLASSES):
        return True
    if not isinstance(exc, OUTAGE_ERRORS):
        return False
    code = getattr(getattr(exc, "orig", None), "sqlite_errorcode", None)
    return not (isinstance(code, int) and code & 0xFF == _SQLITE_ERROR)


def is_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is a race between writers that trying again resolves: a unique key
    taken by a concurrent transaction, a serialization failure, a deadlock, a SQLite database
    busy or locked."""
    state = sqlstate(exc)
    if state is not None:
        return state in ("23505", "40001", "40P01", "55P03")
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in _SQLITE_BUSY_CODES:
        return True
    if isinstance(exc, sa.exc.IntegrityError):
        return "unique" in str(orig or exc).lower()
    return False


def retry_conflicts(
    operation: Callable[[], T], attempts: int = 12, delay: float = 0.01, max_delay: float = 0.5
) -> T:
    """Run a write transaction, running it again (up to ``attempts`` times, with jittered
    exponential back-off) when it lost a race with another writer (:func:`is_conflict`).
    The last conflict propagates: an outage for the caller's :class:`Retrying` when it is one
    (a deadlock, a locked database), else the error itself."""
    for attempt in range(attempts):
        try:
            return operation()
        except sa.exc.SQLAlchemyError as exc:
            if attempt == attempts - 1 or not is_conflict(exc):
                raise
            log.debug("store: write conflict (%s), trying again", first_line(exc, 200))
            time.sleep(random.uniform(0, min(max_delay, delay * 2**attempt)))
    raise AssertionError("unreachable")  # pragma: no cover


def is_refusal(exc: BaseException) -> bool:
    """Whether the database refused an operation (any SQLAlchemy error; with
    :func:`is_outage` false, the content is the cause)."""
    return isinstance(exc, sa.exc.SQLAlchemyError)


class Retrying:
    """Runs store operations, retrying them while the store is unavailable (capped back-off,
    one log line when the store goes away and one when it is back).

    ``seconds``: how long an outage is retried before :class:`StoreUnavailable` is raised
    (None: for as long as it lasts, until ``stop`` is set). Other errors propagate."""

    def __init__(
        self, seconds: float | None = None, delay: float = 0.5, max_delay: float = 30.0
    ) -> None:
        self.seconds = seconds
        self.delay = delay
        self.max_delay = max_delay
        self.down = False  # logged once per change of state

    def __call__(self, operation: Callable[[], T], stop: threading.Event | None) -> T:
        started = time.monotonic()
        delay = self.delay
        while True:
            try:
                result = operation()
            except Exception as exc:
                if not is_outage(exc):
                    raise
                problem = first_line(exc, 300)
                if not self.down:
                    self.down = True
                    log.warning(
                        "store unavailable: %s; retrying until it answers, the "
                        "message stays unacknowledged",
                        problem,
                    )
                if stop is not None and stop.is_set():
                    raise StoreUnavailable(
                        f"stopped while the store was unavailable: {problem}"
                    ) from None
                if self.seconds is not None and time.monotonic() - started + delay > self.seconds:
                    raise StoreUnavailable(f"store unavailable: {problem}") from None
                if stop is not None:
                    if stop.wait(delay):
                        raise StoreUnavailable(
                            f"stopped while the store was unavailable: {problem}"
                        ) from None
                else:
                    time.sleep(delay)
                delay = min(delay * 2, self.max_delay)
                continue
            if self.down:
                self.down = False
                log.warning("store back: writing again")
            return result
