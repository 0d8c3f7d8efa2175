"""Where Kafka consumer groups stand, kept in the store's database: the start marks of
``--start-at latest`` and the offsets each group is known to have committed.

:class:`Marks` is what :class:`gwalert.sources.kafka.KafkaSource` is given (it sees it through
the :class:`gwalert.sources.message.Marks` protocol). The start-marks table is created with the
store; the group-offsets table when a Kafka source first uses it (if it cannot be, the source
keeps the offsets in memory for that run, with a warning).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..util import utcnow
from .db import create_all_locked, write_transaction

log = logging.getLogger("gwalert.kafka")

#: Tables created with the store.
metadata = sa.MetaData()
#: The group-offsets table, created on first use by a Kafka source.
offsets_metadata = sa.MetaData()

#: Where each partition of a topic ended when a consumer group first started with
#: ``--start-at latest``: kept so that "latest" keeps meaning "since this group first listened"
#: even if that first run was killed before the broker held any committed offset for it.
start_marks = sa.Table(
    "gwalert_start_marks",
    metadata,
    sa.Column("group_id", sa.String(255), primary_key=True),
    sa.Column("topic", sa.String(255), primary_key=True),
    sa.Column("partitions", sa.JSON, nullable=False),  # {"0": end offset, ...}; {} = no topic
    sa.Column("marked_at", sa.String(40), nullable=False),
)


#: When a consumer group was first launched on a topic with ``--start-at latest`` (recorded
#: before connecting, never overwritten): a first run killed before it could record its start
#: marks leaves this behind, and the next start reads from that time (broker timestamps), so
#: nothing produced since the first launch is missed.
launches = sa.Table(
    "gwalert_launches",
    metadata,
    sa.Column("group_id", sa.String(255), primary_key=True),
    sa.Column("topic", sa.String(255), primary_key=True),
    sa.Column("launched_ms", sa.BigInteger, nullable=False),  # ms since the epoch
    sa.Column("launched_by", sa.String(200), nullable=False),  # host:pid:process start
)


#: Per (group, topic, partition), the last offset the group is known to have committed (written
#: when the starting position is pinned and when the listener closes): when the broker later
#: answers "no committed offset" for a partition the group did commit on, the broker has
#: forgotten the group (lost log or expired offsets).
group_offsets = sa.Table(
    "gwalert_group_offsets",
    offsets_metadata,
    sa.Column("group_id", sa.String(255), primary_key=True),
    sa.Column("topic", sa.String(255), primary_key=True),
    sa.Column("partition", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("offset", sa.BigInteger, nullable=False),
)


class Marks:
    """Start marks and known group offsets on the store's ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get_start_marks(self, group_id: str, topic: str) -> dict[int, int] | None:
        """The partition ends recorded when ``group_id`` first started on ``topic``, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(start_marks.c.partitions).where(
                    start_marks.c.group_id == group_id, start_marks.c.topic == topic
                )
            ).first()
        return None if row is None else {int(k): int(v) for k, v in row[0].items()}

    def save_start_marks(self, group_id: str, topic: str, partitions: dict[int, int]) -> None:
        """Record the first start's partition ends (a later call never overwrites them)."""
        with write_transaction(self.engine) as conn:
            exists = conn.execute(
                sa.select(start_marks.c.topic).where(
                    start_marks.c.group_id == group_id, start_marks.c.topic == topic
                )
            ).first()
            if exists is None:
                conn.execute(
                    start_marks.insert().values(
                        group_id=group_id,
                        topic=topic,
                        marked_at=utcnow(),
                        partitions={str(k): v for k, v in partitions.items()},
                    )
                )

    def record_launch(
        self, group_id: str, topic: str, launched_ms: int, by: str
    ) -> tuple[int, str]:
        """Record the first launch of ``group_id`` on ``topic`` unless one is recorded;
        returns the recorded one ``(launched_ms, launched_by)``."""
        c = launches.c
        where = (c.group_id == group_id, c.topic == topic)
        with write_transaction(self.engine) as conn:
            row = conn.execute(sa.select(c.launched_ms, c.launched_by).where(*where)).first()
            if row is not None:
                return int(row[0]), str(row[1])
            conn.execute(
                launches.insert().values(
                    group_id=group_id, topic=topic, launched_ms=launched_ms, launched_by=by
                )
            )
        return launched_ms, by

    def offsets_available(self) -> bool:
        """Create the group-offsets table if needed; False (with a warning) if it cannot be."""
        try:
            create_all_locked(offsets_metadata, self.engine)
        except sa.exc.SQLAlchemyError as exc:
            log.warning("cannot keep the group's offsets in the store: %s", exc)
            return False
        return True

    def load_offsets(self, group_id: str, topic: str) -> dict[int, int] | None:
        """The offsets ``group_id`` committed on ``topic``'s partitions, or None (with a
        warning) if they cannot be read now."""
        c = group_offsets.c
        try:
            with self.engine.connect() as conn:
                return {
                    int(n): int(off)
                    for n, off in conn.execute(
                        sa.select(c.partition, c.offset).where(
                            c.group_id == group_id, c.topic == topic
                        )
                    ).all()
                }
        except sa.exc.SQLAlchemyError as exc:
            log.warning("could not read the group's known offsets: %s", exc)
            return None

    def save_offsets(self, group_id: str, offsets: dict[tuple[str, int], int]) -> None:
        """Record these committed offsets ((topic, partition) → offset); a failure is a
        warning."""
        c = group_offsets.c
        try:
            with write_transaction(self.engine) as conn:
                for (topic, n), off in offsets.items():
                    done = conn.execute(
                        group_offsets.update()
                        .where(c.group_id == group_id, c.topic == topic, c.partition == n)
                        .values(offset=off)
                    ).rowcount
                    if not done:
                        conn.execute(
                            group_offsets.insert().values(
                                group_id=group_id, topic=topic, partition=n, offset=off
                            )
                        )
        except sa.exc.SQLAlchemyError as exc:
            log.warning("could not record the group's offsets in the store: %s", exc)
