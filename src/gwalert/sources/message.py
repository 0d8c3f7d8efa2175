"""What flows from a source into the pipeline: :class:`Message`, the :class:`Source` protocol
every source implements, the :class:`Outcome` of one message, and the :class:`Marks` a Kafka
source keeps its positions in. Light: no SQLAlchemy, no store (``gwalert.sources.files`` imports
only this)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..alerts import Notice


@dataclass(frozen=True)
class Message:
    """One message from a source: its bytes and where it came from."""

    value: bytes
    source: str  # e.g. "kafka://host:9092/igwn.gwalert" or "file:/abs/path"
    partition: int | None = None
    offset: int | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    handle: Any = field(default=None, repr=False, compare=False)  # the source's own object


@dataclass
class Outcome:
    """What happened to one message."""

    message: Message
    notices: list[tuple[int, bool, Notice]] = field(default_factory=list)  # (id, is_new, notice)
    dead_letter_id: int | None = None
    error: str | None = None

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

    def offsets_available(self) -> bool:
        """Whether known group offsets can be kept (else: in memory only)."""
        ...

    def load_offsets(self, group_id: str, topic: str) -> dict[int, int] | None:
        """The offsets the group committed on ``topic``; None if they cannot be read now."""
        ...

    def save_offsets(self, group_id: str, offsets: dict[tuple[str, int], int]) -> None:
        """Record committed offsets ((topic, partition) → offset)."""
        ...
