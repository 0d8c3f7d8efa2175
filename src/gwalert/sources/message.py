"""What flows from a source into the pipeline: :class:`Message`, the :class:`Source` protocol
every source implements, the :class:`Outcome` of one message, and the :class:`Marks` a Kafka
source keeps its positions in. Light: no SQLAlchemy, no store (``gwalert.sources.files`` imports
only this)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from ..util import utcnow

if TYPE_CHECKING:
    from ..alerts import Notice
    from ..summary import Summary


@dataclass(frozen=True)
class Message:
    """One message from a source: its bytes, where it came from and how it arrived.

    ``feed``, ``received_at`` and ``broker_ms`` are set when the message is received
    (:meth:`arrived`, called by :func:`gwalert.pipeline.run`); the pipeline records them as
    the notice's arrival."""

    value: bytes
    source: str  # e.g. "kafka://host:9092/igwn.gwalert" or "file:/abs/path"
    partition: int | None = None
    offset: int | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    handle: Any = field(default=None, repr=False, compare=False)  # the source's own object
    feed: str | None = None  # the feed (listen URL) it came in on; None: its source
    received_at: str | None = None  # ISO 8601 UTC, when gwalert received it
    broker_ms: int | None = None  # the broker's timestamp (ms since the epoch), if any

    def arrived(self, feed: str | None = None, received_at: str | None = None) -> Message:
        """This message stamped with its feed, the time it was received (now unless given)
        and the broker's timestamp; stamps already set are kept."""
        return replace(
            self,
            feed=self.feed or feed or self.source,
            received_at=self.received_at or received_at or utcnow(),
            broker_ms=self.broker_ms if self.broker_ms is not None else broker_ms(self.handle),
        )


def broker_ms(handle: Any) -> int | None:
    """The Kafka timestamp (ms) of a source's message object; None when there is none."""
    stamp = getattr(handle, "timestamp", None)
    if stamp is None:
        return None
    try:
        kind, ms = stamp()
    except Exception:  # noqa: BLE001 - a source object without a usable timestamp
        return None
    return int(ms) if kind and ms and ms > 0 else None


@dataclass
class Outcome:
    """What happened to one message."""

    message: Message
    notices: list[tuple[int, bool, Notice]] = field(default_factory=list)  # (id, is_new, notice)
    dead_letter_id: int | None = None
    error: str | None = None
    #: The summary of each notice this message made new (computed once, by the pipeline).
    summaries: dict[int, Summary] = field(default_factory=dict)

    @property
    def new_ids(self) -> list[int]:
        return [nid for nid, new, _ in self.notices if new]


class Source(Protocol):
    """What :func:`gwalert.pipeline.run` needs from a source."""

    name: str

    def messages(self, stop: threading.Event) -> Iterator[Message]:
        """Yield messages until ``stop`` is set or the source ends."""
        ...

    def commit(self, message: Message) -> None:
        """Acknowledge ``message``: it is durably handled."""
        ...

    def close(self) -> None: ...


class Marks(Protocol):
    """Where a Kafka source keeps its consumer group's positions across runs (the store's
    :class:`gwalert.store.marks.Marks`)."""

    def get_start_marks(self, group_id: str, topic: str) -> dict[int, int] | None:
        """The partition ends recorded when ``group_id`` first started on ``topic``."""
        ...

    def save_start_marks(self, group_id: str, topic: str, partitions: dict[int, int]) -> None:
        """Record the first start's partition ends (never overwritten)."""
        ...

    def record_launch(
        self, group_id: str, topic: str, launched_ms: int, by: str
    ) -> tuple[int, str]:
        """Record the group's first launch on ``topic`` (never overwritten); the recorded one."""
        ...

    def offsets_available(self) -> bool:
        """Whether known group offsets can be kept (else: in memory only)."""
        ...

    def load_offsets(self, group_id: str, topic: str) -> dict[int, int] | None:
        """The offsets the group committed on ``topic``; None if they cannot be read now."""
        ...

    def save_offsets(self, group_id: str, offsets: dict[tuple[str, int], int]) -> None:
        """Record committed offsets ((topic, partition) → offset)."""
        ...
