"""Arrivals: every copy of a notice that reached gwalert, from which feed, where and when.

The same LVK notice comes from SCiMMA (Avro) and from NASA GCN (JSON); gwalert stores it once
(the first copy) and records each copy here: the first in the transaction that stores the notice
(:meth:`Arrivals.first`, a store hook the pipeline adds for each message), the later ones once
their message is handled (:meth:`Arrivals.after_commit`; a crash before it leaves the message
unacknowledged, so it comes again and is recorded then). ``gwalert show`` and the dashboard read
this table to say which feed was first and by how much.

The feed, the time received and the broker's timestamp travel on the
:class:`~gwalert.sources.message.Message`.
The table lives in this module's own :class:`~sqlalchemy.MetaData` on the store's engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..util import stamp, utcnow
from . import sanitize
from .db import create_all_locked, write_transaction

if TYPE_CHECKING:
    from ..sources.message import Message, Outcome

metadata = sa.MetaData()

arrivals = sa.Table(
    "gwalert_arrivals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("notice_id", sa.Integer, nullable=False, index=True),
    sa.Column("feed", sa.String(512), nullable=False),  # the URL given to listen
    sa.Column("source", sa.String(512), nullable=False),  # the topic's URL (or file)
    sa.Column("partition", sa.Integer),
    sa.Column("offset", sa.BigInteger),
    sa.Column("received_at", sa.String(40), nullable=False),  # ISO 8601, UTC, "Z"
    sa.Column("broker_time", sa.String(40)),  # the message's broker timestamp, if any
    sa.Column("is_first", sa.Boolean, nullable=False),
    sa.UniqueConstraint(
        "notice_id", "source", "partition", "offset", name="uq_gwalert_arrivals_copy"
    ),
)


def ms_to_iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return stamp(datetime.fromtimestamp(ms / 1000, UTC))


def create(engine: Engine) -> None:
    create_all_locked(metadata, engine)


class Arrivals:
    """Records arrivals in the store at ``engine``: :meth:`first` for the copy that made the
    notice new (a hook in its transaction), :meth:`after_commit` for the later ones."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create(engine)

    def first(self, message: Message) -> Any:
        """A store hook recording ``message`` as the copy that made its notice new, in the
        notice's transaction."""

        def hook(conn: Connection, notice_id: int, notice: Any, summary: Any) -> None:
            conn.execute(arrivals.insert(), _row(message, notice_id, is_first=True))

        return hook

    def after_commit(self, outcome: Outcome) -> None:
        """Each copy of an already stored notice becomes an arrival (once: a redelivered
        message is not recorded again)."""
        msg = outcome.message
        for nid, new, _ in outcome.notices:
            if not new:
                self.record(**_row(msg, nid))

    def record(
        self,
        notice_id: int,
        *,
        feed: str,
        source: str,
        partition: int | None,
        offset: int | None,
        received_at: str,
        broker_time: str | None,
        is_first: bool = False,
    ) -> bool:
        """Insert one arrival unless that copy is already recorded; True if inserted."""
        c = arrivals.c
        where = [
            c.notice_id == notice_id,
            c.source == source,
            c.partition.is_(None) if partition is None else c.partition == partition,
            c.offset.is_(None) if offset is None else c.offset == offset,
        ]
        try:
            with write_transaction(self.engine) as conn:
                if conn.execute(sa.select(c.id).where(*where)).first() is not None:
                    return False
                conn.execute(
                    arrivals.insert().values(
                        notice_id=notice_id,
                        feed=feed,
                        source=source,
                        partition=partition,
                        offset=offset,
                        received_at=received_at,
                        broker_time=broker_time,
                        is_first=is_first,
                    )
                )
        except sa.exc.IntegrityError:  # another process recorded the same copy
            return False
        return True


def _row(message: Message, notice_id: int, is_first: bool = False) -> dict[str, Any]:
    return {
        "notice_id": notice_id,
        "feed": sanitize.text(message.feed or message.source, 512),
        "source": sanitize.text(message.source, 512),
        "partition": sanitize.integer(message.partition, 32),
        "offset": sanitize.integer(message.offset),
        "received_at": message.received_at or utcnow(),
        "broker_time": ms_to_iso(message.broker_ms),
        "is_first": is_first,
    }


def for_notices(engine: Engine, notice_ids: Iterable[int]) -> dict[int, list[Any]]:
    """The arrivals of these notices, first copy first, then by time received."""
    ids = list(notice_ids)
    out: dict[int, list[Any]] = {nid: [] for nid in ids}
    if not ids:
        return out
    create(engine)
    c = arrivals.c
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(arrivals)
            .where(c.notice_id.in_(ids))
            .order_by(c.notice_id, c.is_first.desc(), c.received_at, c.id)
        ).all()
    for row in rows:
        out[row.notice_id].append(row)
    return out


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def lead_seconds(rows: list[Any]) -> list[float | None]:
    """For each arrival, how long after the first copy it was received (s; 0 for the first)."""
    if not rows:
        return []
    first = parse_iso(rows[0].received_at)
    out: list[float | None] = []
    for row in rows:
        t = parse_iso(row.received_at)
        out.append(None if first is None or t is None else (t - first).total_seconds())
    return out
