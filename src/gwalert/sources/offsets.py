"""Where a consumer group stands on each partition, as the broker should know it (the storage
side of :class:`gwalert.sources.start.GroupOffsets`; the checks are in :mod:`.start`).

The store keeps, per (group, topic, partition), the last offset the group is known to have
committed (:data:`group_offsets`, written when the starting position is pinned and when the
listener closes): when the broker later answers "no committed offset" for a partition the group
did commit on, the broker has forgotten the group (lost log or expired offsets).
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

log = logging.getLogger("gwalert.kafka")

metadata = sa.MetaData()

group_offsets = sa.Table(
    "gwalert_group_offsets", metadata,
    sa.Column("group_id", sa.String(255), primary_key=True),
    sa.Column("topic", sa.String(255), primary_key=True),
    sa.Column("partition", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("offset", sa.BigInteger, nullable=False),
)


class KnownOffsets:
    """The offsets a group committed, kept in the store's database (``engine``) or, without a
    store, in memory for this run only."""

    def __init__(self, engine: Any = None) -> None:
        self.engine = engine
        self.memory: dict[tuple[str, int], int] = {}
        self._loaded: set[str] = set()
        if engine is not None:
            from ..store import create_all_locked

            try:
                create_all_locked(metadata, engine)
            except sa.exc.SQLAlchemyError as exc:
                log.warning("cannot keep the group's offsets in the store: %s", exc)
                self.engine = None

    def get(self, group_id: str, topic: str, partition: int) -> int | None:
        key = (topic, partition)
        if key not in self.memory and self.engine is not None and topic not in self._loaded:
            try:
                with self.engine.connect() as conn:
                    c = group_offsets.c
                    for n, off in conn.execute(sa.select(c.partition, c.offset).where(
                            c.group_id == group_id, c.topic == topic)).all():
                        self.memory.setdefault((topic, int(n)), int(off))
                self._loaded.add(topic)
            except sa.exc.SQLAlchemyError as exc:
                log.warning("could not read the group's known offsets: %s", exc)
        return self.memory.get(key)

    def save(self, group_id: str, offsets: dict[tuple[str, int], int]) -> None:
        """Remember these committed offsets (in memory at once, in the store if there is one)."""
        offsets = {k: v for k, v in offsets.items() if v >= 0}
        if not offsets:
            return
        self.memory.update(offsets)
        if self.engine is None:
            return
        from ..store import write_transaction

        c = group_offsets.c
        try:
            with write_transaction(self.engine) as conn:
                for (topic, n), off in offsets.items():
                    done = conn.execute(group_offsets.update().where(
                        c.group_id == group_id, c.topic == topic, c.partition == n
                    ).values(offset=off)).rowcount
                    if not done:
                        conn.execute(group_offsets.insert().values(
                            group_id=group_id, topic=topic, partition=n, offset=off))
        except sa.exc.SQLAlchemyError as exc:
            log.warning("could not record the group's offsets in the store: %s", exc)
