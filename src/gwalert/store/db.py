"""The database under the store: URLs, engines, write transactions, table creation, and how an
outage (a store that cannot be reached right now) is told apart from a refusal and waited out.

SQLite by default (a file under the user's data directory, WAL mode, ``synchronous=FULL``) or
PostgreSQL by URL. Each store module (notices, marks, ledger, arrivals, feeds) keeps its tables
in its own ``MetaData`` on one engine and writes them with :func:`write_transaction`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import GwalertError, StoreUnavailable
from ..util import first_line

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


def _sqlite_engine(url: str) -> Engine:
    sa_url = sa.engine.make_url(url)
    if sa_url.database and sa_url.database != ":memory:":
        try:
            Path(sa_url.database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GwalertError(f"cannot create the store's directory: {exc}") from None
    engine = sa.create_engine(url, connect_args={"timeout": 60})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below open transactions (the documented pysqlite
        # recipe): BEGIN IMMEDIATE takes the write lock at once, so two writers never deadlock.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
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


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the store is unavailable (not that it refused this content)."""
    if getattr(exc, "connection_invalidated", False):
        return True
    if not isinstance(exc, OUTAGE_ERRORS):
        return False
    code = getattr(getattr(exc, "orig", None), "sqlite_errorcode", None)
    return not (isinstance(code, int) and code & 0xFF == _SQLITE_ERROR)


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
                        "store unavailable (%s); retrying until it answers, the "
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
                log.warning("store available again")
            return result
