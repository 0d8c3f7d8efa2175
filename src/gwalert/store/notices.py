"""The notices: every notice received (raw bytes kept, lossless), its decoded fields and
sky-map summary, where and when it arrived, undecodable messages (dead letters) and a timeline
per superevent.

SQLAlchemy Core on the database of :mod:`gwalert.store.db`. Other parts of gwalert (rules,
actions) keep their own tables in their own ``MetaData`` on :attr:`Store.engine` and write
them from the hooks that :meth:`Store.add` calls inside its transaction, so a notice and what
it triggers are stored together or not at all.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row

from ..errors import GwalertError
from ..util import first_line, iso, utcnow
from . import marks, sanitize
from .db import open_engine, retry_conflicts, write_transaction
from .fold import FOLD_COLUMNS, fold

if TYPE_CHECKING:
    from ..alerts import Notice

log = logging.getLogger("gwalert.store")

#: ``hook(conn, notice_id, notice, summary)`` (summary: the notice's
#: :class:`gwalert.summary.Summary`): called inside the transaction that inserts a NEW
#: notice (never for a duplicate). Raising aborts the insert: nothing of it is stored.
Hook = Callable[[Connection, int, "Notice", Mapping[str, Any]], None]

metadata = sa.MetaData()

notices = sa.Table(
    "gwalert_notices",
    metadata,
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
    sa.UniqueConstraint(
        "superevent_id",
        "alert_type",
        "time_created",
        "content_hash",
        name="uq_gwalert_notices_identity",
    ),
    # What refold reads, in an index: on SQLite the columns after ``raw`` lie past its overflow
    # pages, read for every stored notice of the superevent otherwise.
    sa.Index("ix_gwalert_notices_fold", *FOLD_COLUMNS),
)

dead_letters = sa.Table(
    "gwalert_dead_letters",
    metadata,
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
    "gwalert_superevents",
    metadata,
    sa.Column("superevent_id", sa.String(64), primary_key=True),
    sa.Column("first_received_at", sa.String(40), nullable=False),
    sa.Column("last_received_at", sa.String(40), nullable=False),
    sa.Column("latest_notice_id", sa.Integer, nullable=False),
    sa.Column("latest_alert_type", sa.String(16), nullable=False),
    sa.Column("latest_time_created", sa.String(40), nullable=False),
    sa.Column("retracted", sa.Boolean, nullable=False, default=False),
    sa.Column("n_notices", sa.Integer, nullable=False, default=0),
    # The latest notice that carries an event (its key numbers); NULL when none does. Added
    # to older stores when they are opened.
    sa.Column("key_notice_id", sa.Integer, nullable=True),
)


def _new_id(result: sa.CursorResult[Any]) -> Any:
    """The primary key of the row an INSERT just added."""
    key = result.inserted_primary_key
    assert key is not None  # always set by a single-row INSERT
    return key[0]


_SUMMARY_COLUMNS = (
    "event_time",
    "group",
    "pipeline",
    "search",
    "far",
    "significant",
    "ra",
    "dec",
    "distmean",
    "diststd",
    "area_50",
    "area_90",
)


class Store:
    """Notices, dead letters and superevent timelines in one SQL database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=True)
        #: Where Kafka consumer groups stand (start marks, known offsets).
        self.marks = marks.Marks(engine)

    # ------------------------------------------------------------------ opening, closing
    @classmethod
    def open(cls, url: str | None = None) -> Store:
        """Open (and create the tables of) the store at ``url``; None = the default store."""
        return cls(open_engine(url, metadata, marks.metadata))

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------- writing
    def add(
        self,
        notice: Notice,
        *,
        source: str,
        partition: int | None = None,
        offset: int | None = None,
        hooks: Sequence[Hook] = (),
        summary: Mapping[str, Any] | None = None,
        received_at: str | None = None,
    ) -> tuple[int, bool]:
        """Store ``notice`` unless the same notice is already there.

        Returns ``(notice_id, is_new)``. For a new notice the row, the superevent's timeline
        and whatever each hook writes are committed in one transaction; the hooks are not
        called for a duplicate. ``summary`` (a :class:`gwalert.summary.Summary`: the pipeline
        computes it once, after :meth:`find_notice`; it is what the hooks get) defaults to
        :func:`gwalert.summary.safe_summary` (given one, only the transaction looks the
        notice up); it is stored as :meth:`Summary.to_json` writes it.
        """
        key = _identity(notice)
        from ..summary import Summary, safe_summary

        if summary is None:
            existing = self.find(*key)
            if existing is not None:
                return existing, False
            summary = safe_summary(notice)
        # what is stored is what the hooks see: the summary as it reads back from the store
        stored = (
            summary.to_json()
            if isinstance(summary, Summary)
            else sanitize.json_value(dict(summary))
        )
        seen: Mapping[str, Any] = (
            Summary.from_json(stored) if isinstance(summary, Summary) else stored
        )
        received_at = received_at or utcnow()
        row = {
            "superevent_id": key[0],
            "alert_type": key[1],
            "time_created": key[2],
            "content_hash": key[3],
            "format": _column_text("format", str(notice.format)),
            "raw": notice.raw,
            "summary": stored,
            "source": _column_text("source", source),
            "partition": sanitize.integer(partition, 32),
            "offset": sanitize.integer(offset),
            "received_at": received_at,
            "warnings": sanitize.json_value(list(notice.warnings)) or None,
        }
        for name in _SUMMARY_COLUMNS:
            row[name] = _column_value(name, stored.get(name))
        try:
            return retry_conflicts(lambda: self._insert(key, row, notice, hooks, seen))
        except sa.exc.IntegrityError:
            # Still a unique-key race after the retries: the notice is there if it won.
            found = self.find(*key)
            if found is None:
                raise
            return found, False

    def _insert(
        self,
        key: tuple[str, str, str, str],
        row: dict[str, Any],
        notice: Notice,
        hooks: Sequence[Hook],
        summary: Mapping[str, Any],
    ) -> tuple[int, bool]:
        """One attempt: lock the superevent, store the notice unless it is there, fold the
        superevent from its notices, run the hooks; all in one transaction."""
        with write_transaction(self.engine) as conn:
            lock_superevent(conn, key[0], row["received_at"])
            found = _find(conn, key)
            if found is not None:
                return int(found), False
            notice_id = int(_new_id(conn.execute(notices.insert(), row)))
            refold(conn, key[0])
            for hook in hooks:
                hook(conn, notice_id, notice, summary)
        return notice_id, True

    def add_dead_letter(
        self,
        raw: bytes,
        error: str,
        source: str,
        partition: int | None = None,
        offset: int | None = None,
    ) -> tuple[int, bool]:
        """Keep a message that could not be decoded; the same message twice is kept once.

        Returns ``(dead_letter_id, is_new)``.
        """
        digest = hashlib.sha256(raw).hexdigest()
        error = sanitize.text(error)
        source = sanitize.text(source, cast(sa.String, dead_letters.c.source.type).length)
        partition, offset = sanitize.integer(partition, 32), sanitize.integer(offset)
        c = dead_letters.c
        where = [
            c.raw_sha256 == digest,
            c.source == source,
            c.partition.is_(None) if partition is None else c.partition == partition,
            c.offset.is_(None) if offset is None else c.offset == offset,
        ]
        with write_transaction(self.engine) as conn:
            found = conn.execute(sa.select(c.id).where(*where)).scalar()
            if found is not None:
                return int(found), False
            new_id = _new_id(
                conn.execute(
                    dead_letters.insert().values(
                        raw=raw,
                        raw_sha256=digest,
                        error=error,
                        source=source,
                        partition=partition,
                        offset=offset,
                        received_at=utcnow(),
                    )
                )
            )
        return int(new_id), True

    # ------------------------------------------------------------------------- reading
    def find_notice(self, notice: Notice) -> int | None:
        """The id of the stored copy of ``notice`` (same identity), or None."""
        return self.find(*_identity(notice))

    def find(
        self, superevent_id: str, alert_type: str, time_created: str, content_hash: str
    ) -> int | None:
        """The id of the stored notice with this identity, or None."""
        with self.engine.connect() as conn:
            found = _find(conn, (superevent_id, alert_type, time_created, content_hash))
        return None if found is None else int(found)

    def iter_notices(
        self, superevent_id: str | None = None, *, with_raw: bool = True
    ) -> Iterator[Row]:
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
        query = sa.select(superevents).order_by(
            superevents.c.last_received_at, superevents.c.superevent_id
        )
        with self.engine.connect() as conn:
            yield from conn.execute(query)

    def get_superevent(self, superevent_id: str) -> Row | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(superevents).where(superevents.c.superevent_id == superevent_id)
            ).first()

    def iter_dead_letters(self) -> Iterator[Row]:
        with self.engine.connect() as conn:
            yield from conn.execute(sa.select(dead_letters).order_by(dead_letters.c.id))

    def counts(self) -> dict[str, int]:
        """Rows per table: ``notices``, ``dead_letters``, ``superevents``."""
        with self.engine.connect() as conn:
            return {
                name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
                for name, t in (
                    ("notices", notices),
                    ("dead_letters", dead_letters),
                    ("superevents", superevents),
                )
            }

    def check(self) -> None:
        """Raise :class:`GwalertError` unless the store answers a query and accepts a write."""
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(sa.select(sa.func.count()).select_from(notices)).scalar()
                conn.execute(superevents.update().where(sa.false()).values(n_notices=0))
        except sa.exc.SQLAlchemyError as exc:
            raise GwalertError(f"store {self.url}: {first_line(exc)}") from None


def lock_superevent(conn: Connection, superevent_id: str, received_at: str) -> None:
    """Take the superevent's row lock for this transaction, creating a placeholder row if it
    has none yet (refolded before the commit): writers of one superevent queue here, so each
    folds the notices the ones before it committed. PostgreSQL: ``INSERT … ON CONFLICT DO
    NOTHING`` then ``SELECT … FOR UPDATE``; SQLite: the transaction already holds the
    database's write lock (``BEGIN IMMEDIATE``)."""
    placeholder = {
        "superevent_id": superevent_id,
        "first_received_at": received_at,
        "last_received_at": received_at,
        "latest_notice_id": 0,
        "latest_alert_type": "",
        "latest_time_created": "",
        "retracted": False,
        "n_notices": 0,
    }
    name = conn.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        conn.execute(
            pg_insert(superevents)
            .values(**placeholder)
            .on_conflict_do_nothing(index_elements=["superevent_id"])
        )
        conn.execute(
            sa.select(superevents.c.superevent_id)
            .where(superevents.c.superevent_id == superevent_id)
            .with_for_update()
        )
    else:  # SQLite (the only other store): INSERT OR IGNORE under the database's write lock
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        conn.execute(
            sqlite_insert(superevents).on_conflict_do_nothing(index_elements=["superevent_id"]),
            placeholder,
        )


#: What refold reads, and a notice's id by its identity: built once, values as parameters.
_FOLD_ROWS = sa.select(*(notices.c[k] for k in FOLD_COLUMNS[1:])).where(
    notices.c.superevent_id == sa.bindparam("sid")
)
_IDENTITY_KEYS = ("superevent_id", "alert_type", "time_created", "content_hash")
_IDENTITY = sa.select(notices.c.id).where(
    *(notices.c[k] == sa.bindparam(k) for k in _IDENTITY_KEYS)
)


def refold(conn: Connection, superevent_id: str) -> None:
    """Write the superevent's row as the fold of its stored notices (:mod:`.fold`)."""
    rows = conn.execute(_FOLD_ROWS, {"sid": superevent_id}).all()
    state = fold(superevent_id, rows)
    if state is None:
        conn.execute(superevents.delete().where(superevents.c.superevent_id == superevent_id))
        return
    values = state.row()
    del values["superevent_id"]
    where = superevents.c.superevent_id == sa.bindparam("sid")  # the row as parameters
    conn.execute(superevents.update().where(where), {**values, "sid": superevent_id})


def _identity(notice: Notice) -> tuple[str, str, str, str]:
    """A notice's identity as stored: superevent, alert type, creation time, content hash."""
    return (
        _column_text("superevent_id", notice.superevent_id),
        _column_text("alert_type", str(notice.alert_type)),
        _column_text("time_created", iso(notice.time_created)),
        notice.content_hash,
    )


def _find(conn: Connection, key: tuple[str, str, str, str]) -> Any:
    """The id of the stored notice with identity ``key`` (:func:`_identity`), or None."""
    return conn.execute(_IDENTITY, dict(zip(_IDENTITY_KEYS, key, strict=True))).scalar()


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
