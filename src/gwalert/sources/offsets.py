"""Where a consumer group stands on each partition, as the broker should know it (the checks
that use it, and the INCIDENT lines, are in :mod:`.start`).

The store keeps, per (group, topic, partition), the last offset the group is known to have
committed (:data:`gwalert.store.marks.group_offsets`, written when the starting position is
pinned and when the listener closes): when the broker later answers "no committed offset" for
a partition the group did commit on, the broker has forgotten the group (lost log or expired
offsets).
"""

from __future__ import annotations

from .message import Marks


class KnownOffsets:
    """The offsets a group committed, kept through ``marks`` (the store's
    :class:`~gwalert.store.marks.Marks`) or, without a store, in memory for this run only."""

    def __init__(self, marks: Marks | None = None) -> None:
        self.marks = marks if marks is not None and marks.offsets_available() else None
        self.memory: dict[tuple[str, int], int] = {}
        self._loaded: set[str] = set()

    def get(self, group_id: str, topic: str, partition: int) -> int | None:
        key = (topic, partition)
        if key not in self.memory and self.marks is not None and topic not in self._loaded:
            stored = self.marks.load_offsets(group_id, topic)
            if stored is not None:
                for n, off in stored.items():
                    self.memory.setdefault((topic, n), off)
                self._loaded.add(topic)
        return self.memory.get(key)

    def save(self, group_id: str, offsets: dict[tuple[str, int], int]) -> None:
        """Remember these committed offsets (in memory at once, in the store if there is one)."""
        offsets = {k: v for k, v in offsets.items() if v >= 0}
        if not offsets:
            return
        self.memory.update(offsets)
        if self.marks is not None:
            self.marks.save_offsets(group_id, offsets)
