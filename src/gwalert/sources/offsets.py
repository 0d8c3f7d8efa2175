"""Where a consumer group stands on each partition, as the broker should know it, and the
checks that tell a lost broker log from a normal start.

A broker that lost its log (retention, a rebuilt cluster, an in-memory broker restarted) makes
every offset we hold meaningless: a committed offset or a start mark may lie beyond the new log's
end, or the log's start may have moved past it. Reading from such a position skips every notice
below it, silently (some brokers do not even answer "offset out of range"). The rule here: when
in doubt, read the log from its beginning (a duplicate is recognised by the store; a lost alert
is not), and say so with an INCIDENT line.

The store keeps, per (group, topic, partition), the last offset the group is known to have
committed (:data:`group_offsets`, written when the starting position is pinned and when the
listener closes): when the broker later answers "no committed offset" for a partition the group
did commit on, the broker has forgotten the group (lost log or expired offsets).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Verdict:
    """Where to start reading a partition, and the incident (if any) that decided it."""

    offset: int
    incident: str | None = None


def check_position(topic: str, partition: int, position: int, low: int, high: int,
                   what: str) -> Verdict:
    """``position`` (a committed offset, a start mark, the fetch position: ``what``) checked
    against the partition's log ``[low, high]``: beyond the end, or below the start, means
    the log it belonged to is gone (or trimmed): read the log from its beginning."""
    if position > high:
        return Verdict(low, f"INCIDENT: {topic}[{partition}]: the {what} {position} lies "
                            f"beyond the end of the partition's log (offset {high}): the "
                            f"broker lost its log (rebuilt or restarted cluster); reading the "
                            f"new log from its beginning (offset {low})")
    if position < low:
        return Verdict(low, f"INCIDENT: {topic}[{partition}]: the {what} {position} lies "
                            f"before the start of the partition's log (offset {low}): "
                            f"messages {position}..{low - 1} were deleted (retention) before "
                            f"they were read and may be lost; reading on from offset {low}")
    return Verdict(position)


def forgotten(topic: str, partition: int, known: int, low: int) -> Verdict:
    """The broker has no committed offset where the group committed ``known`` before."""
    return Verdict(low, f"INCIDENT: {topic}[{partition}]: the broker no longer holds this "
                        f"group's committed offset (it was {known}): the broker lost its log "
                        f"or the offsets expired; reading the log from its beginning "
                        f"(offset {low}); notices already stored are recognised as duplicates")
