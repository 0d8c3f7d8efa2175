"""Where a consumer group stands on each partition, as the broker should know it, and the
checks that tell a lost broker log from a normal start.

A broker that lost its log (retention, a rebuilt cluster, an in-memory broker restarted) makes
every offset we hold meaningless: a committed offset or a start mark may lie beyond the new log's
end, or the log's start may have moved past it. Reading from such a position skips every notice
below it, silently (some brokers do not even answer "offset out of range"). The rule here: when
in doubt, read the log from its beginning (a duplicate is recognised by the store; a lost alert
is not), and say so with an INCIDENT line.

The store keeps, per (group, topic, partition), the last offset the group is known to have
committed (:data:`gwalert.store.marks.group_offsets`, written when the starting position is
pinned and when the listener closes): when the broker later answers "no committed offset" for
a partition the group did commit on, the broker has forgotten the group (lost log or expired
offsets).
"""

from __future__ import annotations

from dataclasses import dataclass

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
