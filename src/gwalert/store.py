"""The durable store: every notice received (raw bytes kept, lossless), its decoded fields and
sky-map summary, where and when it arrived, undecodable messages (dead letters) and a timeline
per superevent.

SQLAlchemy Core on SQLite by default (a file under the user's data directory, WAL mode,
``synchronous=FULL``) or PostgreSQL by URL. Other parts of gwalert (rules, actions) keep their own
tables in their own ``MetaData`` on :attr:`Store.engine` and write them from the hooks that
:meth:`Store.add` calls inside its transaction, so a notice and what it triggers are stored
together or not at all.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row

from . import sanitize
from .errors import GwalertError

if TYPE_CHECKING:
    from .notice import Notice

log = logging.getLogger("gwalert.store")

#: ``hook(conn, notice_id, notice, summary)``: called inside the transaction that inserts a NEW
#: notice (never for a duplicate). Raising aborts the insert: nothing of it is stored.
Hook = Callable[[Connection, int, "Notice", dict[str, Any]], None]

#: Environment variable naming the default store URL (else a SQLite file in the data dir).
STORE_ENV = "GWALERT_STORE"

metadata = sa.MetaData()

notices = sa.Table(
    "gwalert_notices", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("superevent_id", sa.String(64), nullable=False, index=True),
    sa.Column("alert_type", sa.String(16), nullable=False),
    sa.Column("time_created", sa.String(40), nullable=False),  # ISO 8601, UTC, "Z"
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("raw", sa.LargeBinary, nullable=False),
    sa.Column("event_time", sa.String(40)),
    sa.Column("group", sa.String(32)),
    sa.Column("pipeline", sa.String(64)),
    sa.Column("search", sa.String(64)),
    sa.Column("far", sa.Float),
    sa.Column("significant", sa.Boolean),
    sa.Column("ra", sa.Float),
    sa.Column("dec", sa.Float),
    sa.Column("distmean", sa.Float),
    sa.Column("diststd", sa.Float),
    sa.Column("area_50", sa.Float),
    sa.Column("area_90", sa.Float),
    sa.Column("summary", sa.JSON, nullable=False),
    sa.Column("source", sa.String(512), nullable=False),
    sa.Column("partition", sa.Integer),
    sa.Column("offset", sa.BigInteger),
    sa.Column("received_at", sa.String(40), nullable=False),  # ISO 8601, UTC, "Z"
    # How the notice strays from the official schema (a JSON list of lines); NULL if it
    # does not. Added to older stores when they are opened (see Store.open).
    sa.Column("warnings", sa.JSON(none_as_null=True), nullable=True),
    sa.UniqueConstraint("superevent_id", "alert_type", "time_created", "content_hash",
                        name="uq_gwalert_notices_identity"),
)

dead_letters = sa.Table(
    "gwalert_dead_letters", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("raw", sa.LargeBinary, nullable=False),
    sa.Column("raw_sha256", sa.String(64), nullable=False, index=True),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("source", sa.String(512), nullable=False),
    sa.Column("partition", sa.Integer),
    sa.Column("offset", sa.BigInteger),
    sa.Column("received_at", sa.String(40), nullable=False),
)

superevents = sa.Table(
    "gwalert_superevents", metadata,
    sa.Column("superevent_id", sa.String(64), primary_key=True),
    sa.Column("first_received_at", sa.String(40), nullable=False),
    sa.Column("last_received_at", sa.String(40), nullable=False),
    sa.Column("latest_notice_id", sa.Integer, nullable=False),
    sa.Column("latest_alert_type", sa.String(16), nullable=False),
    sa.Column("latest_time_created", sa.String(40), nullable=False),
    sa.Column("retracted", sa.Boolean, nullable=False, default=False),
    sa.Column("n_notices", sa.Integer, nullable=False, default=0),
)

#: Where each partition of a topic ended when a consumer group first started with
#: ``--start-at latest``: kept so that "latest" keeps meaning "since this group first listened"
#: even if that first run was killed before the broker held any committed offset for it.
start_marks = sa.Table(
    "gwalert_start_marks", metadata,
    sa.Column("group_id", sa.String(255), primary_key=True),
    sa.Column("topic", sa.String(255), primary_key=True),
    sa.Column("partitions", sa.JSON, nullable=False),  # {"0": end offset, ...}; {} = no topic
    sa.Column("marked_at", sa.String(40), nullable=False),
)

_SUMMARY_COLUMNS = ("event_time", "group", "pipeline", "search", "far", "significant", "ra",
                    "dec", "distmean", "diststd", "area_50", "area_90")


def utcnow() -> str:
    """The current time as stored: ISO 8601, UTC, microseconds, ``Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso(dt: datetime) -> str:
    """A notice time as stored: ISO 8601 in UTC with ``Z`` (naive times are taken as UTC);
    never raises (see :func:`gwalert.sanitize.time_text`)."""
    return sanitize.time_text(dt)


#: Errors that mean the store cannot be reached or used right now (a lost connection, a
#: database that is down, locked or out of space): retry later, never blame the message.
OUTAGE_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DisconnectionError,
                 sa.exc.TimeoutError)


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


class Store:
    """Notices, dead letters and superevent timelines in one SQL database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=True)

    # ------------------------------------------------------------------ opening, closing
    @classmethod
    def open(cls, url: str | None = None) -> Store:
        """Open (and create the tables of) the store at ``url``; None = the default store."""
        url = normalize_url(url)
        try:
            if url.startswith("sqlite"):
                engine = _sqlite_engine(url)
            else:
                engine = sa.create_engine(url, pool_pre_ping=True)
            create_all_locked(metadata, engine)
            _add_missing_columns(engine)
        except GwalertError:
            raise
        except ModuleNotFoundError as exc:
            raise GwalertError(f"store {describe_url(url)}: missing driver ({exc.name}); "
                               "for PostgreSQL install gwalert[postgres]") from None
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            raise GwalertError(f"cannot open store {describe_url(url)}: "
                               f"{_first_line(exc)}") from None
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------- writing
    def add(self, notice: Notice, *, source: str, partition: int | None = None,
            offset: int | None = None, hooks: Sequence[Hook] = (),
            summary: dict[str, Any] | None = None,
            received_at: str | None = None) -> tuple[int, bool]:
        """Store ``notice`` unless the same notice is already there.

        Returns ``(notice_id, is_new)``. For a new notice the row, the superevent's timeline
        and whatever each hook writes are committed in one transaction; the hooks are not
        called for a duplicate. ``summary`` defaults to :func:`gwalert.summary.summarize`.
        """
        key = (_column_text("superevent_id", notice.superevent_id),
               _column_text("alert_type", str(notice.alert_type)),
               _column_text("time_created", iso(notice.time_created)), notice.content_hash)
        existing = self.find(*key)
        if existing is not None:
            return existing, False
        if summary is None:
            summary = safe_summary(notice)
        summary = sanitize.json_value(summary)
        received_at = received_at or utcnow()
        row = {
            "superevent_id": key[0], "alert_type": key[1], "time_created": key[2],
            "content_hash": key[3], "format": _column_text("format", str(notice.format)),
            "raw": notice.raw, "summary": summary, "source": _column_text("source", source),
            "partition": sanitize.integer(partition, 32), "offset": sanitize.integer(offset),
            "received_at": received_at,
            "warnings": sanitize.json_value(list(notice.warnings)) or None,
        }
        for name in _SUMMARY_COLUMNS:
            row[name] = _column_value(name, summary.get(name))
        try:
            with write_transaction(self.engine) as conn:
                found = conn.execute(_identity_query(*key)).scalar()
                if found is not None:
                    return found, False
                notice_id = conn.execute(notices.insert().values(**row)).inserted_primary_key[0]
                self._update_timeline(conn, notice_id, row, notice.is_retraction)
                for hook in hooks:
                    hook(conn, notice_id, notice, summary)
        except sa.exc.IntegrityError:
            # Another process stored the same notice between our check and our insert.
            found = self.find(*key)
            if found is None:
                raise
            return found, False
        return int(notice_id), True

    @staticmethod
    def _update_timeline(conn: Connection, notice_id: int, row: dict[str, Any],
                         retraction: bool) -> None:
        sid = row["superevent_id"]
        cur = conn.execute(sa.select(superevents).where(superevents.c.superevent_id == sid)
                           ).mappings().first()
        if cur is None:
            conn.execute(superevents.insert().values(
                superevent_id=sid, first_received_at=row["received_at"],
                last_received_at=row["received_at"], latest_notice_id=notice_id,
                latest_alert_type=row["alert_type"], latest_time_created=row["time_created"],
                retracted=retraction, n_notices=1))
            return
        values: dict[str, Any] = {"last_received_at": row["received_at"],
                                  "n_notices": cur["n_notices"] + 1,
                                  "retracted": bool(cur["retracted"]) or retraction}
        # Notices can arrive out of order: the latest is the one created last.
        if row["time_created"] >= cur["latest_time_created"]:
            values.update(latest_notice_id=notice_id, latest_alert_type=row["alert_type"],
                          latest_time_created=row["time_created"])
        conn.execute(superevents.update().where(superevents.c.superevent_id == sid)
                     .values(**values))

    def add_dead_letter(self, raw: bytes, error: str, source: str, partition: int | None = None,
                        offset: int | None = None) -> tuple[int, bool]:
        """Keep a message that could not be decoded; the same message twice is kept once.

        Returns ``(dead_letter_id, is_new)``.
        """
        digest = hashlib.sha256(raw).hexdigest()
        error = sanitize.text(error)
        source = sanitize.text(source, dead_letters.c.source.type.length)
        partition, offset = sanitize.integer(partition, 32), sanitize.integer(offset)
        c = dead_letters.c
        where = [c.raw_sha256 == digest, c.source == source,
                 c.partition.is_(None) if partition is None else c.partition == partition,
                 c.offset.is_(None) if offset is None else c.offset == offset]
        with write_transaction(self.engine) as conn:
            found = conn.execute(sa.select(c.id).where(*where)).scalar()
            if found is not None:
                return int(found), False
            new_id = conn.execute(dead_letters.insert().values(
                raw=raw, raw_sha256=digest, error=error, source=source, partition=partition,
                offset=offset, received_at=utcnow())).inserted_primary_key[0]
        return int(new_id), True

    # ------------------------------------------------------------------------- reading
    def find(self, superevent_id: str, alert_type: str, time_created: str,
             content_hash: str) -> int | None:
        """The id of the stored notice with this identity, or None."""
        with self.engine.connect() as conn:
            found = conn.execute(_identity_query(superevent_id, alert_type, time_created,
                                                 content_hash)).scalar()
        return None if found is None else int(found)

    def get_start_marks(self, group_id: str, topic: str) -> dict[int, int] | None:
        """The partition ends recorded when ``group_id`` first started on ``topic``, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(start_marks.c.partitions).where(
                start_marks.c.group_id == group_id, start_marks.c.topic == topic)).first()
        return None if row is None else {int(k): int(v) for k, v in row[0].items()}

    def save_start_marks(self, group_id: str, topic: str, partitions: dict[int, int]) -> None:
        """Record the first start's partition ends (a later call never overwrites them)."""
        with write_transaction(self.engine) as conn:
            exists = conn.execute(sa.select(start_marks.c.topic).where(
                start_marks.c.group_id == group_id, start_marks.c.topic == topic)).first()
            if exists is None:
                conn.execute(start_marks.insert().values(
                    group_id=group_id, topic=topic, marked_at=utcnow(),
                    partitions={str(k): v for k, v in partitions.items()}))

    def iter_notices(self, superevent_id: str | None = None, *,
                     with_raw: bool = True) -> Iterator[Row]:
        """Stored notices in the order they were stored (``id``)."""
        cols = [col for col in notices.c if with_raw or col.name != "raw"]
        query = sa.select(*cols).order_by(notices.c.id)
        if superevent_id is not None:
            query = query.where(notices.c.superevent_id == superevent_id)
        with self.engine.connect() as conn:
            yield from conn.execute(query)

    def get_notice(self, notice_id: int) -> Row | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(notices).where(notices.c.id == notice_id)).first()

    def iter_superevents(self) -> Iterator[Row]:
        """Superevents with their latest state, most recently updated last."""
        query = sa.select(superevents).order_by(superevents.c.last_received_at,
                                                superevents.c.superevent_id)
        with self.engine.connect() as conn:
            yield from conn.execute(query)

    def get_superevent(self, superevent_id: str) -> Row | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(superevents).where(
                superevents.c.superevent_id == superevent_id)).first()

    def iter_dead_letters(self) -> Iterator[Row]:
        with self.engine.connect() as conn:
            yield from conn.execute(sa.select(dead_letters).order_by(dead_letters.c.id))

    def counts(self) -> dict[str, int]:
        """Rows per table: ``notices``, ``dead_letters``, ``superevents``."""
        with self.engine.connect() as conn:
            return {name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar())
                    for name, t in (("notices", notices), ("dead_letters", dead_letters),
                                    ("superevents", superevents))}

    def check(self) -> None:
        """Raise :class:`GwalertError` unless the store answers a query and accepts a write."""
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(sa.select(sa.func.count()).select_from(notices)).scalar()
                conn.execute(superevents.update().where(sa.false()).values(n_notices=0))
        except sa.exc.SQLAlchemyError as exc:
            raise GwalertError(f"store {self.url}: {_first_line(exc)}") from None


def _identity_query(superevent_id: str, alert_type: str, time_created: str,
                    content_hash: str) -> sa.Select:
    c = notices.c
    return sa.select(c.id).where(c.superevent_id == superevent_id, c.alert_type == alert_type,
                                 c.time_created == time_created, c.content_hash == content_hash)


def safe_summary(notice: Notice) -> dict[str, Any]:
    """:func:`gwalert.summary.summarize`, never raising: a notice must be stored even when its
    summary cannot be made (the reason goes into ``skymap_error``)."""
    from .summary import summarize

    try:
        return summarize(notice)
    except Exception as exc:  # noqa: BLE001 - the raw notice is what must not be lost
        log.warning("%s %s: summary failed: %s", notice.superevent_id, notice.alert_type, exc)
        return {"superevent_id": notice.superevent_id, "alert_type": str(notice.alert_type),
                "time_created": iso(notice.time_created),
                "skymap_error": f"{type(exc).__name__}: {exc}"}


def _column_text(name: str, value: str) -> str:
    """``value`` fit for the text column ``name`` of the notices table."""
    return sanitize.text(value, getattr(notices.c[name].type, "length", None))


def _column_value(name: str, value: Any) -> Any:
    """A summary value fit for its column: text cut to the column, finite floats, booleans;
    anything else None."""
    kind = notices.c[name].type
    if isinstance(kind, sa.Float):
        return sanitize.number(value)
    if isinstance(kind, sa.Boolean):
        return value if isinstance(value, bool) else None
    if isinstance(value, str):
        return sanitize.text(value, getattr(kind, "length", None))
    return None


def _add_missing_columns(engine: Engine) -> None:
    """Add the columns newer gwalert versions define to tables an older one created (all
    nullable), so existing SQLite and PostgreSQL stores keep opening."""
    inspector = sa.inspect(engine)
    for table in metadata.sorted_tables:
        existing = {col["name"] for col in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in existing:
                continue
            kind = column.type.compile(dialect=engine.dialect)
            ddl = (f"ALTER TABLE {engine.dialect.identifier_preparer.format_table(table)} "
                   f"ADD COLUMN {engine.dialect.identifier_preparer.format_column(column)} "
                   f"{kind}")
            try:
                with write_transaction(engine) as conn:
                    conn.exec_driver_sql(ddl)
            except sa.exc.SQLAlchemyError:
                # Another process may have added it meanwhile; anything else is re-raised.
                columns = {c["name"] for c in sa.inspect(engine).get_columns(table.name)}
                if column.name not in columns:
                    raise
            log.info("store: added column %s.%s", table.name, column.name)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

