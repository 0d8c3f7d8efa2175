"""Where a Kafka consumer group starts reading each partition, and the checks that tell a lost
broker log from a normal start.

``--start-at`` (``earliest``, ``latest`` or a time, read by
:func:`gwalert.sources.parse_start_at`) applies only where the group has no
committed offset. ``latest`` means "from the moment the group FIRST started listening": the end
of each partition is remembered then (the start marks, kept in the store through
:class:`gwalert.sources.message.Marks`) and reused by every later start of the same group.

A broker that lost its log (retention, a rebuilt cluster, an in-memory broker restarted) makes
every offset we hold meaningless: a committed offset or a start mark may lie beyond the new log's
end, or the log's start may have moved past it. Reading from such a position skips every notice
below it, silently. The rule here: when in doubt, read the log from its beginning (a duplicate is
recognised by the store; a lost alert is not), and say so with an INCIDENT line.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import confluent_kafka

from .message import Marks
from .offsets import KnownOffsets

log = logging.getLogger("gwalert.kafka")

Key = tuple[str, int]  # (topic, partition)


# ------------------------------------------------------------------------ log-loss checks
@dataclass(frozen=True)
class Verdict:
    """Where to start reading a partition, and the incident (if any) that decided it."""

    offset: int
    incident: str | None = None


def check_position(
    topic: str, partition: int, position: int, low: int, high: int, what: str
) -> Verdict:
    """``position`` (a committed offset, a start mark, the fetch position: ``what``) checked
    against the partition's log ``[low, high]``: beyond the end, or below the start, means
    the log it belonged to is gone (or trimmed): read the log from its beginning."""
    if position > high:
        return Verdict(
            low,
            f"INCIDENT: {topic}[{partition}]: the {what} {position} lies "
            f"beyond the end of the partition's log (offset {high}): the "
            f"broker lost its log (rebuilt or restarted cluster); reading the "
            f"new log from its beginning (offset {low})",
        )
    if position < low:
        return Verdict(
            low,
            f"INCIDENT: {topic}[{partition}]: the {what} {position} lies "
            f"before the start of the partition's log (offset {low}): "
            f"messages {position}..{low - 1} were deleted (retention) before "
            f"they were read and may be lost; reading on from offset {low}",
        )
    return Verdict(position)


def forgotten(topic: str, partition: int, known: int, low: int) -> Verdict:
    """The broker has no committed offset where the group committed ``known`` before."""
    return Verdict(
        low,
        f"INCIDENT: {topic}[{partition}]: the broker no longer holds this "
        f"group's committed offset (it was {known}): the broker lost its log "
        f"or the offsets expired; reading the log from its beginning "
        f"(offset {low}); notices already stored are recognised as duplicates",
    )


def _checked(verdict: Verdict, fallback: int) -> int:
    if verdict.incident:
        log.error("%s", verdict.incident)
        return verdict.offset
    return fallback


def watermarks(
    consumer: Any, topic: str, partition: int, timeout: float = 10
) -> tuple[int | None, int | None]:
    """The partition's (first, end) offsets now, or (None, None) when the broker does not
    say (then no check is possible)."""
    try:
        return consumer.get_watermark_offsets(
            confluent_kafka.TopicPartition(topic, partition), timeout=timeout
        )
    except confluent_kafka.KafkaException as exc:
        log.warning("could not read the offsets of %s[%d]: %s", topic, partition, exc)
        return None, None


# ------------------------------------------------------------------- while reading
@dataclass
class Partition:
    """What the consumer knows of one (topic, partition)."""

    assigned: bool = False
    #: The end of the partition was reached (``--until-eos``).
    eof: bool = False
    #: The last offset this group committed here (this run).
    committed: int | None = None
    #: Offset of the last message read.
    last: int | None = None
    #: The next offset to commit: stored, acknowledged asynchronously, committed on close.
    pending: int | None = None
    #: Where the first message is expected (after an assignment or a seek).
    expect: int | None = None
    #: The fetch position that lay outside the log at the last check.
    suspect: int | None = None


def check_offset(key: Key, part: Partition, offset: int) -> None:
    """An offset jump on a partition's first message = the position was reset (by
    librdkafka's auto.offset.reset); an offset going back later = the log was replaced."""
    expected, part.expect = part.expect, None
    last = part.last
    if expected is not None:
        if offset != expected:
            log.error(
                "INCIDENT: %s[%d] resumed at offset %d but was expected at %d "
                "(offset reset: retention expired or the broker lost its log); "
                "messages in between may be missing",
                key[0],
                key[1],
                offset,
                expected,
            )
    elif last is not None and offset <= last:
        log.error(
            "INCIDENT: %s[%d] went back from offset %d to %d: the broker's log was "
            "replaced; reading on (notices already stored are duplicates)",
            key[0],
            key[1],
            last,
            offset,
        )
    part.last = offset


@dataclass(frozen=True)
class Move:
    """A partition whose fetch position fell outside its log: read it again from ``offset``."""

    key: Key
    position: int
    offset: int
    incident: str


def check_log(consumer: Any, parts: dict[Key, Partition], client: Any = None) -> list[Move]:
    """Every few seconds: is each partition's fetch position still inside its log? A
    broker that lost its log may not answer "out of range": the consumer would wait at
    an offset the new log reaches only later, skipping every notice below it. Seen on two
    checks in a row (no false alarm from a watermark read mid-append): the partition is to
    be moved (:func:`move`). ``parts``: the assigned partitions to check; their positions
    are the ``consumer``'s, the logs' ends are asked with ``client`` (default: the consumer).

    It waits for the broker (a round trip per partition): the source runs it in its own
    checker thread, never in the thread that polls and stores notices; only that thread
    moves a partition."""
    if not parts:
        return []
    tps = [confluent_kafka.TopicPartition(t, n) for t, n in sorted(parts)]
    try:
        positions = consumer.position(tps)
    except confluent_kafka.KafkaException:
        return []
    moves = []
    for tp in positions:
        part = parts[(tp.topic, tp.partition)]
        if tp.offset < 0:
            continue
        try:  # read after the position: a sound log's end can only have grown since
            low, high = (client or consumer).get_watermark_offsets(
                confluent_kafka.TopicPartition(tp.topic, tp.partition), timeout=2
            )
        except confluent_kafka.KafkaException:
            continue
        verdict = check_position(tp.topic, tp.partition, tp.offset, low, high, "reading position")
        if verdict.incident is None:
            part.suspect = None
        elif part.suspect != tp.offset:
            part.suspect = tp.offset  # confirm at the next check
        else:
            part.suspect = None
            moves.append(
                Move((tp.topic, tp.partition), tp.offset, verdict.offset, verdict.incident)
            )
    return moves


def move(consumer: Any, parts: dict[Key, Partition], moves: list[Move]) -> None:
    """Log each confirmed INCIDENT of :func:`check_log` and read its partition again from the
    offset it says (from the thread that polls; a partition since moved or revoked is left)."""
    for m in moves:
        part = parts.get(m.key)
        if part is None or not part.assigned:
            continue
        log.error("%s", m.incident)
        try:
            consumer.seek(confluent_kafka.TopicPartition(m.key[0], m.key[1], m.offset))
            part.expect, part.last = m.offset, None
        except confluent_kafka.KafkaException as exc:
            log.warning("could not move %s[%d] to offset %d: %s", m.key[0], m.key[1], m.offset, exc)


# ------------------------------------------------------------------------- start policy
class StartPolicy:
    """Decides where each newly assigned partition is read from."""

    def __init__(
        self, group_id: str, topics: tuple[str, ...], start_at: str | datetime, marks: Marks | None
    ) -> None:
        self.group_id = group_id
        self.topics = topics
        self.start_at = start_at
        self.marks = marks
        #: Offsets this group committed (this run, and earlier runs kept in the store).
        self.known = KnownOffsets(marks)
        self.start_marks: dict[Key, int] = {}
        self.known_at_start: set[Key] = set()
        #: Per topic, when an earlier run of this group was launched without recording its
        #: start marks (killed in its first moments): read from that time.
        self.earlier_launch: dict[str, int] = {}
        if start_at == "latest" and marks is not None:
            self.record_launch()

    def record_launch(self) -> None:
        """Before connecting: remember when this process was launched, unless an earlier
        launch of the group is recorded (then keep it: its start marks may be missing)."""
        assert self.marks is not None
        me = _launch_tag()
        for topic in self.topics:
            ms, by = self.marks.record_launch(self.group_id, topic, process_started_ms(), me)
            if by != me:
                self.earlier_launch[topic] = ms

    def mark_start(self, consumer: Any, meta: Any) -> None:
        """ "latest" means: from the moment the group first started listening, not from the
        moment the group assigned the partitions (seconds later, or much later for a topic
        created after the start): remember each existing partition's end now. A partition that
        did not exist yet holds only messages sent after the start, so it is read from its
        beginning.

        With a store, the first start's marks are kept there before subscribing and reused by
        every later start of the same group: a first run killed before the broker held any
        committed offset then loses nothing that arrived after it started."""
        for topic in self.topics:
            saved = self.marks.get_start_marks(self.group_id, topic) if self.marks else None
            if saved is not None:
                for n, high in saved.items():
                    self.start_marks[(topic, n)] = high
                    self.known_at_start.add((topic, n))
                continue
            tmeta = meta.topics.get(topic)
            ends: dict[int, int] = {}
            launched = self.earlier_launch.get(topic)
            if tmeta is not None and tmeta.error is None:
                since = _since(consumer, topic, list(tmeta.partitions), launched)
                for n in tmeta.partitions:
                    self.known_at_start.add((topic, n))
                    if n in since:
                        ends[n] = self.start_marks[(topic, n)] = since[n]
                        continue
                    try:
                        _low, high = consumer.get_watermark_offsets(
                            confluent_kafka.TopicPartition(topic, n), timeout=10
                        )
                    except confluent_kafka.KafkaException as exc:
                        log.warning("could not read the end of %s[%d]: %s", topic, n, exc)
                        continue
                    ends[n] = self.start_marks[(topic, n)] = high
                if len(ends) < len(tmeta.partitions):
                    continue  # not all ends known: do not record an incomplete first start
            if self.marks is not None:
                self.marks.save_start_marks(self.group_id, topic, ends)

    def without_commit(
        self, key: Key, committed_here: int | None, low: int | None, high: int | None
    ) -> int | None:
        """Where to read a partition the broker holds no committed offset for (None: by
        time, see :meth:`by_time`). ``committed_here``: what this run committed there."""
        topic, n = key
        known = committed_here
        if known is None:
            known = self.known.get(self.group_id, topic, n)
        if known is not None:
            verdict = forgotten(
                topic, n, known, low if low is not None else confluent_kafka.OFFSET_BEGINNING
            )
            log.error("%s", verdict.incident)
            return verdict.offset
        if self.start_at == "latest":
            if key in self.start_marks:
                mark = self.start_marks[key]
                if low is None or high is None:  # watermarks give both or neither
                    return mark
                return _checked(
                    check_position(
                        topic, n, mark, low, high, "start mark (where the group first started)"
                    ),
                    mark,
                )
            if key in self.known_at_start:
                return high if high is not None else confluent_kafka.OFFSET_END
            # created after the listener started: all of it is new
            return low if low is not None else confluent_kafka.OFFSET_BEGINNING
        if self.start_at == "earliest":
            return low if low is not None else confluent_kafka.OFFSET_BEGINNING
        return None

    def by_time(self, consumer: Any, keys: list[Key]) -> dict[Key, int]:
        """The first offset at or after ``start_at`` (a time) in each partition."""
        if not isinstance(self.start_at, datetime) or not keys:
            return {}
        ms = int(self.start_at.timestamp() * 1000)
        query = [confluent_kafka.TopicPartition(t, n, ms) for t, n in keys]
        try:
            found = consumer.offsets_for_times(query, timeout=10)
        except confluent_kafka.KafkaException as exc:
            log.warning("could not look up offsets for --start-at: %s", exc)
            found = []
        start: dict[Key, int] = {}
        for p in found:
            # -1: no message at or after that time -> the end of the partition.
            if p.offset >= 0:
                start[(p.topic, p.partition)] = p.offset
            else:
                high = watermarks(consumer, p.topic, p.partition)[1]
                start[(p.topic, p.partition)] = (
                    high if high is not None else confluent_kafka.OFFSET_END
                )
        return start


def _since(
    consumer: Any, topic: str, partitions: list[int], launched_ms: int | None
) -> dict[int, int]:
    """Per partition, the first offset of a message at or after ``launched_ms`` (an earlier
    launch that recorded no start marks; the end when there is none); when the broker cannot
    say, the start of the log (duplicates are recognised, losses are not)."""
    if launched_ms is None or not partitions:
        return {}
    log.warning(
        "an earlier start of this group on %s (launched %s) recorded no start marks: "
        "reading from that time",
        topic,
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(launched_ms / 1000)),
    )
    query = [confluent_kafka.TopicPartition(topic, n, launched_ms) for n in partitions]
    try:
        found = {p.partition: p.offset for p in consumer.offsets_for_times(query, timeout=10)}
    except confluent_kafka.KafkaException as exc:
        log.warning(
            "could not look up offsets by time on %s: %s; reading from the start", topic, exc
        )
        found = {}
    out = {}
    for n in partitions:
        offset = found.get(n, -2)
        low, high = watermarks(consumer, topic, n)
        if offset >= 0:
            out[n] = offset
        elif offset == -1 and high is not None:  # no message since: from the end
            out[n] = high
        elif low is not None:
            out[n] = low
    return out


def process_started_ms() -> int:
    """When this process was started (ms since the epoch; Linux /proc), else now."""
    try:
        with open("/proc/self/stat") as fh:
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as fh:
            boot = next(int(line.split()[1]) for line in fh if line.startswith("btime "))
        return int((boot + ticks / os.sysconf("SC_CLK_TCK")) * 1000)
    except (OSError, ValueError, IndexError, StopIteration):
        return int(time.time() * 1000)


def _launch_tag() -> str:
    """This process, for the launches table: host, pid and start time."""
    return f"{socket.gethostname()}:{os.getpid()}:{process_started_ms()}"


def checked_committed(
    topic: str, partition: int, offset: int, low: int | None, high: int | None
) -> int | None:
    """A committed offset checked against the log: the offset to move to when the log it
    belonged to is gone (INCIDENT logged), else None (resume at the committed offset)."""
    if low is None or high is None:  # watermarks give both or neither
        return None
    verdict = check_position(topic, partition, offset, low, high, "committed offset")
    if verdict.incident:
        log.error("%s", verdict.incident)
        return verdict.offset
    return None
