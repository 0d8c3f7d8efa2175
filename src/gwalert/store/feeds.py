"""The ``gwalert_feeds`` table: each feed's liveness as the listeners last saw it.

One row per feed URL, written by ``gwalert listen`` at most every few seconds and read by
``gwalert doctor`` and the dashboard. Times are ISO 8601 UTC strings like the store's. Several
listeners on one database that follow the same feed share its row (the last writer wins).
The table lives in this module's own :class:`~sqlalchemy.MetaData` on the store's engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..util import utcnow
from .db import create_all_locked, write_transaction

#: States a feed can be in.
CONNECTING, OK, SILENT, DEGRADED, FAILED, STOPPED = (
    "connecting",
    "ok",
    "silent",
    "degraded",
    "failed",
    "stopped",
)

metadata = sa.MetaData()

feeds = sa.Table(
    "gwalert_feeds",
    metadata,
    sa.Column("feed", sa.Text, primary_key=True),
    sa.Column("last_message_at", sa.Text),
    sa.Column("last_heartbeat_at", sa.Text),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("detail", sa.Text),
    sa.Column("updated_at", sa.Text, nullable=False),
)


def create(engine: Engine) -> None:
    create_all_locked(metadata, engine)


def write(engine: Engine, rows: Iterable[Mapping[str, Any]]) -> None:
    """Upsert one row per feed (keys: feed, last_message_at, last_heartbeat_at, state,
    detail); ``updated_at`` is now."""
    now = utcnow()
    with write_transaction(engine) as conn:
        for row in rows:
            values = {**row, "updated_at": now}
            done = conn.execute(
                feeds.update().where(feeds.c.feed == row["feed"]).values(**values)
            ).rowcount
            if not done:
                try:
                    with conn.begin_nested():
                        conn.execute(feeds.insert().values(**values))
                except sa.exc.IntegrityError:  # another listener inserted it just now
                    conn.execute(feeds.update().where(feeds.c.feed == row["feed"]).values(**values))


def read(engine: Engine) -> list[Any]:
    """Every feed row (none if no listener ever wrote one)."""
    if not sa.inspect(engine).has_table("gwalert_feeds"):
        return []
    with engine.connect() as conn:
        return list(conn.execute(sa.select(feeds).order_by(feeds.c.feed)))
