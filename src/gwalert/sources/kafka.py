"""Live notices from a Kafka broker (SCiMMA Hopskotch, NASA GCN, any Kafka) with no loss.

confluent-kafka directly, configured from hop-client's credentials or gcn-kafka's: automatic
commits are off, and a message's offset is committed (synchronously) only when the pipeline has
stored it. The group id is stable, so a restart resumes where the last run stopped. Broker errors
never end the loop (librdkafka reconnects by itself); each change of state is logged once.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ..errors import GwalertError
from ..heartbeat import HEARTBEAT_TOPICS, Liveness
from .message import Marks, Message
from .offsets import KnownOffsets, check_position, forgotten
from .url import BrokerURL

log = logging.getLogger("gwalert.kafka")

#: Errors that are fatal before the first successful contact (reported at once).
AUTH_ERRORS = ("_AUTHENTICATION", "SASL_AUTHENTICATION_FAILED", "TOPIC_AUTHORIZATION_FAILED",
               "GROUP_AUTHORIZATION_FAILED", "_SSL", "ILLEGAL_SASL_STATE")


def rdkafka_logger() -> logging.Logger:
    """librdkafka's own log lines, kept to errors unless debugging: broker state changes are
    logged once each by :class:`BrokerState` instead."""
    logger = logging.getLogger("gwalert.rdkafka")
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logger.setLevel(logging.CRITICAL)
    return logger


def default_group_id(store_url: str, username: str | None = None) -> str:
    """Stable group id from the user, the host and the store: a restart resumes. SCiMMA wants
    group ids prefixed with the credential's user name, as hop-client does."""
    digest = hashlib.sha256(store_url.encode()).hexdigest()[:10]
    local = f"gwalert-{getpass.getuser()}-{socket.gethostname().split('.')[0]}-{digest}"
    return f"{username}-{local}" if username else local


def parse_start_at(text: str) -> str | datetime:
    """``earliest``, ``latest`` or an ISO 8601 time (naive = UTC)."""
    if text in ("earliest", "latest"):
        return text
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise GwalertError(f"--start-at {text!r}: expected earliest, latest or an ISO 8601 "
                           "time such as 2026-01-01T00:00:00Z") from None
    if when.tzinfo is None:
        from datetime import UTC

        when = when.replace(tzinfo=UTC)
    return when


def heartbeat_topic_for(url: BrokerURL) -> str | None:
    return HEARTBEAT_TOPICS.get(url.domain or url.host)


class BrokerState:
    """Logs one line per change of the broker's state, not one per error: each kind of problem
    once until the broker is reachable again."""

    def __init__(self, log_changes: bool = True) -> None:
        self.log_changes = log_changes
        self.reported: set[str] = set()
        self.last_error: Any = None
        self.connected_once = False

    @property
    def problem(self) -> str | None:
        return self.last_error.name() if self.reported and self.last_error is not None else None

    def error(self, err: Any) -> None:
        self.last_error = err
        name = err.name()
        if name not in self.reported:
            self.reported.add(name)
            if self.log_changes:
                log.warning("broker: %s (%s); retrying", err.str(), name)

    def ok(self) -> None:
        if self.reported and self.log_changes:
            log.warning("broker: reachable again")
            self.reported.clear()
        self.connected_once = True


def wait_for_broker(consumer: Any, state: BrokerState, url: BrokerURL, timeout: float,
                    stop: threading.Event | None = None) -> Any:
    """The cluster metadata, once the broker answers; :class:`GwalertError` when it rejects
    the credentials (as soon as it says so) or has not answered within ``timeout`` seconds
    (0: wait for ever)."""
    import confluent_kafka

    deadline = time.monotonic() + timeout
    while True:
        try:
            return consumer.list_topics(timeout=1.0)
        except confluent_kafka.KafkaException:
            pass
        consumer.poll(0)  # serves error_cb
        err = state.last_error
        if err is not None and err.name() in AUTH_ERRORS:
            text = err.str()
            if any(w in text.lower() for w in ("resolve", "name or service", "getaddrinfo")):
                # e.g. the OAuth token endpoint's host name does not resolve: not a credential
                raise GwalertError(f"{url.bootstrap}: cannot reach the network (a host name "
                                   f"does not resolve; DNS or offline?): {text}")
            raise GwalertError(f"{url.bootstrap}: authentication failed: {text}")
        if stop is not None and stop.is_set():
            raise GwalertError("stopped before the broker answered")
        if timeout and time.monotonic() > deadline:
            why = err.str() if err is not None else "no answer"
            raise GwalertError(f"cannot reach broker {url.bootstrap} within {timeout:.0f} s: "
                               f"{why}")


class KafkaSource:
    """Consume ``url``'s topics, yield messages, commit each after it is stored."""

    def __init__(self, url: BrokerURL, config: dict[str, Any], *, group_id: str,
                 start_at: str | datetime = "latest", until_eos: bool = False,
                 heartbeat_topic: str | None = None, silence_warning: float = 120.0,
                 connect_timeout: float = 30.0, poll_interval: float = 0.5,
                 marks: Marks | None = None) -> None:
        self.url = url
        self.name = str(url)
        self.group_id = group_id
        self.start_at = start_at
        self.until_eos = until_eos
        self.heartbeat_topic = None if until_eos else heartbeat_topic
        self.connect_timeout = connect_timeout
        self.poll_interval = poll_interval
        self.state = BrokerState()
        self.liveness = Liveness(silence_warning)
        self._assigned: set[tuple[str, int]] = set()
        self._eof: set[tuple[str, int]] = set()
        self._committed: dict[tuple[str, int], int] = {}
        self._seen: set[tuple[str, int]] = set()
        self._last: dict[tuple[str, int], int] = {}
        self._pending: dict[tuple[str, int], int] = {}
        self._closing = False
        self.marks = marks  # where the group first started (the store's marks), or None
        self._start_marks: dict[tuple[str, int], int] = {}
        self._known_at_start: set[tuple[str, int]] = set()
        #: Offsets this group committed (this run, and earlier runs kept in the store).
        self.known = KnownOffsets(marks)
        #: Where the first message of a partition is expected (after an assignment).
        self._expect: dict[tuple[str, int], int] = {}
        #: Partitions whose fetch position lay outside the log at the last check.
        self._suspect: dict[tuple[str, int], int] = {}
        self._last_check = time.monotonic()
        self.check_interval = 5.0
        conf = dict(config)
        conf.update({
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            # --start-at is applied in _on_assign, only where the group has no committed
            # offset. A committed offset, start mark or fetch position outside the partition's
            # log is caught by _on_assign and _check_log (INCIDENT, read from the log start);
            # should the broker still answer "offset out of range" first, librdkafka goes to
            # the earliest message kept, never to the latest (duplicates are recognised, losses
            # are not), and _check_offset logs the jump.
            "auto.offset.reset": "earliest",
            "enable.partition.eof": until_eos,
            # Broker contact is read from the statistics: often enough for the silence check.
            "statistics.interval.ms": int(min(5000, max(500, silence_warning * 1000 / 4))),
            "error_cb": self._on_error,
            "on_commit": self._on_commit,
            "logger": rdkafka_logger(),
            "stats_cb": self._on_stats,
        })
        # Tunables (a --kafka-option wins): a new topic is seen within 10 s; a listener that
        # was killed is replaced within ~10 s instead of librdkafka's 45 s session timeout
        # (being evicted by a long network cut only means redelivery, and dedupe); brokers
        # that do not wake a waiting fetch (tansu) still deliver within 100 ms.
        for key, value in (("topic.metadata.refresh.interval.ms", 10000),
                           ("session.timeout.ms", 10000), ("heartbeat.interval.ms", 2000),
                           ("socket.keepalive.enable", True), ("fetch.wait.max.ms", 100)):
            conf.setdefault(key, value)
        self.config = conf
        self.consumer: Any = None

    # ------------------------------------------------------------------ connecting
    def connect(self, stop: threading.Event | None = None) -> None:
        """Create the consumer, wait for the broker's first answer, subscribe.

        Wrong credentials are reported as soon as the broker says so; an unreachable broker
        after ``connect_timeout`` seconds (0: wait for ever). Either raises GwalertError.
        """
        import confluent_kafka

        try:
            self.consumer = confluent_kafka.Consumer(self.config)
        except confluent_kafka.KafkaException as exc:
            raise GwalertError(f"{self.url}: invalid client configuration: {exc}") from None
        try:
            meta = wait_for_broker(self.consumer, self.state, self.url, self.connect_timeout,
                                   stop)
        except GwalertError:
            self._abandon()
            raise
        self.state.ok()
        self.liveness.contact()
        if self.start_at == "latest":
            self._mark_start(meta)
        missing = [t for t in self.url.topics if t not in meta.topics]
        if missing:
            log.warning("topic(s) %s not on %s yet; waiting for them", ", ".join(missing),
                        self.url.bootstrap)
        topics = list(self.url.topics)
        if self.heartbeat_topic and self.heartbeat_topic in meta.topics:
            topics.append(self.heartbeat_topic)
        self.consumer.subscribe(topics, on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_revoke)
        log.info("listening to %s as group %s", ", ".join(topics), self.group_id)

    def _mark_start(self, meta: Any) -> None:
        """"latest" means: from the moment the group first started listening, not from the
        moment the group assigned the partitions (seconds later, or much later for a topic
        created after the start): remember each existing partition's end now. A partition that
        did not exist yet holds only messages sent after the start, so it is read from its
        beginning.

        With a store, the first start's marks are kept there before subscribing and reused by
        every later start of the same group: a first run killed before the broker held any
        committed offset then loses nothing that arrived after it started."""
        import confluent_kafka

        for topic in self.url.topics:
            saved = self.marks.get_start_marks(self.group_id, topic) if self.marks else None
            if saved is not None:
                for n, high in saved.items():
                    self._start_marks[(topic, n)] = high
                    self._known_at_start.add((topic, n))
                continue
            tmeta = meta.topics.get(topic)
            ends: dict[int, int] = {}
            if tmeta is not None and tmeta.error is None:
                for n in tmeta.partitions:
                    self._known_at_start.add((topic, n))
                    try:
                        _low, high = self.consumer.get_watermark_offsets(
                            confluent_kafka.TopicPartition(topic, n), timeout=10)
                    except confluent_kafka.KafkaException as exc:
                        log.warning("could not read the end of %s[%d]: %s", topic, n, exc)
                        continue
                    ends[n] = self._start_marks[(topic, n)] = high
                if len(ends) < len(tmeta.partitions):
                    continue  # not all ends known: do not record an incomplete first start
            if self.marks is not None:
                self.marks.save_start_marks(self.group_id, topic, ends)

    def _abandon(self) -> None:
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            _close_within(consumer, 5.0)

    # ------------------------------------------------------------------ callbacks
    def _on_error(self, err: Any) -> None:
        if err.fatal():
            log.error("broker: fatal error %s: %s", err.name(), err.str())
        self.state.error(err)

    def _on_stats(self, text: str) -> None:
        try:
            stats = json.loads(text)
        except ValueError:
            return
        brokers = stats.get("brokers", {}).values()
        if any(b.get("state") == "UP" and b.get("nodeid", -1) >= 0 for b in brokers):
            self.liveness.contact()
            self.state.ok()

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        import confluent_kafka

        if self._closing:
            return

        for p in partitions:
            self._assigned.add((p.topic, p.partition))
            self._suspect.pop((p.topic, p.partition), None)
        try:
            committed = consumer.committed(partitions, timeout=10)
        except confluent_kafka.KafkaException as exc:
            log.warning("could not read committed offsets: %s", exc)
            committed = []
        start: dict[tuple[str, int], int] = {}
        by_time: list[Any] = []
        for p in committed:
            key = (p.topic, p.partition)
            if p.topic == self.heartbeat_topic:
                if p.offset < 0:
                    start[key] = confluent_kafka.OFFSET_END
                continue
            low, high = self._watermarks(consumer, p)
            if p.offset >= 0:
                self._committed[key] = p.offset
                self._expect[key] = p.offset
                if low is not None:
                    verdict = check_position(p.topic, p.partition, p.offset, low, high,
                                             "committed offset")
                    if verdict.incident:
                        log.error("%s", verdict.incident)
                        start[key] = verdict.offset
                continue
            known = self._committed.get(key)
            if known is None:
                known = self.known.get(self.group_id, p.topic, p.partition)
            if known is not None:
                verdict = forgotten(p.topic, p.partition, known,
                                    low if low is not None else confluent_kafka.OFFSET_BEGINNING)
                log.error("%s", verdict.incident)
                start[key] = verdict.offset
            elif self.start_at == "latest":
                if key in self._start_marks:
                    mark = self._start_marks[key]
                    start[key] = mark
                    if low is not None:
                        verdict = check_position(p.topic, p.partition, mark, low, high,
                                                 "start mark (where the group first started)")
                        if verdict.incident:
                            log.error("%s", verdict.incident)
                            start[key] = verdict.offset
                elif key in self._known_at_start:
                    start[key] = high if high is not None else confluent_kafka.OFFSET_END
                else:  # created after the listener started: all of it is new
                    start[key] = low if low is not None else confluent_kafka.OFFSET_BEGINNING
            elif self.start_at == "earliest":
                start[key] = low if low is not None else confluent_kafka.OFFSET_BEGINNING
            else:
                by_time.append(p)
        if isinstance(self.start_at, datetime) and by_time:
            ms = int(self.start_at.timestamp() * 1000)
            query = [confluent_kafka.TopicPartition(p.topic, p.partition, ms) for p in by_time]
            try:
                found = consumer.offsets_for_times(query, timeout=10)
            except confluent_kafka.KafkaException as exc:
                log.warning("could not look up offsets for --start-at: %s", exc)
                found = []
            for p in found:
                # -1: no message at or after that time -> the end of the partition.
                start[(p.topic, p.partition)] = (p.offset if p.offset >= 0
                                                 else self._high_watermark(consumer, p))
        for key, off in start.items():
            if off >= 0:
                self._expect[key] = off
        if start:
            for p in partitions:
                p.offset = start.get((p.topic, p.partition), p.offset)
            consumer.assign(partitions)
            # Record the starting position at once: otherwise a partition with nothing
            # committed yet (no message, or a commit lost in a kill -9) would start at
            # "latest" after a restart and skip what arrived while we were down.
            pin = [confluent_kafka.TopicPartition(t, n, off) for (t, n), off in start.items()
                   if off >= 0 and t != self.heartbeat_topic]
            if pin:
                try:
                    consumer.commit(offsets=pin, asynchronous=False)
                    for tp in pin:
                        self._committed[(tp.topic, tp.partition)] = tp.offset
                    self.known.save(self.group_id, {(tp.topic, tp.partition): tp.offset
                                                    for tp in pin})
                except confluent_kafka.KafkaException as exc:
                    log.warning("could not commit the starting offsets: %s", exc)
        log.info("assigned %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions))

    @staticmethod
    def _watermarks(consumer: Any, tp: Any) -> tuple[int | None, int | None]:
        """The partition's (first, end) offsets now, or (None, None) when the broker does not
        say (then no check is possible)."""
        import confluent_kafka

        try:
            return consumer.get_watermark_offsets(
                confluent_kafka.TopicPartition(tp.topic, tp.partition), timeout=10)
        except confluent_kafka.KafkaException as exc:
            log.warning("could not read the offsets of %s[%d]: %s", tp.topic, tp.partition, exc)
            return None, None

    @staticmethod
    def _high_watermark(consumer: Any, tp: Any, low: bool = False) -> int:
        """The partition's end offset now (its first offset with ``low``), or OFFSET_END
        (OFFSET_BEGINNING) when the broker does not say."""
        import confluent_kafka

        try:
            first, end = consumer.get_watermark_offsets(
                confluent_kafka.TopicPartition(tp.topic, tp.partition), timeout=10)
            return first if low else end
        except confluent_kafka.KafkaException as exc:
            log.warning("could not read the offsets of %s[%d]: %s", tp.topic, tp.partition, exc)
            return confluent_kafka.OFFSET_BEGINNING if low else confluent_kafka.OFFSET_END

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        """Before giving partitions up, commit what was stored from them (synchronously)."""
        import confluent_kafka

        done = [confluent_kafka.TopicPartition(p.topic, p.partition, off) for p in partitions
                if (off := self._pending.pop((p.topic, p.partition), None)) is not None]
        if done and not self._closing:
            try:
                consumer.commit(offsets=done, asynchronous=False)
            except confluent_kafka.KafkaException as exc:
                log.warning("commit before rebalance failed (those messages may be delivered "
                            "again): %s", exc)
        for p in partitions:
            self._assigned.discard((p.topic, p.partition))
            self._eof.discard((p.topic, p.partition))
            self._seen.discard((p.topic, p.partition))
            self._last.pop((p.topic, p.partition), None)

    # ------------------------------------------------------------------ the loop
    def messages(self, stop: threading.Event) -> Iterator[Message]:
        import confluent_kafka

        if self.consumer is None:
            self.connect(stop)
        KafkaError = confluent_kafka.KafkaError
        while not stop.is_set():
            msg = self.consumer.poll(self.poll_interval)
            self.liveness.check()
            if time.monotonic() - self._last_check >= self.check_interval:
                self._last_check = time.monotonic()
                self._check_log()
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    self._eof.add((msg.topic(), msg.partition()))
                    if self.until_eos and self._assigned and self._eof >= self._assigned:
                        log.info("end of every assigned partition reached")
                        return
                    continue
                self.state.error(err)
                continue
            self.liveness.contact()
            self.state.ok()
            key = (msg.topic(), msg.partition())
            self._eof.discard(key)
            self._check_offset(key, msg.offset())
            if msg.topic() == self.heartbeat_topic:
                self.liveness.heartbeat()
                self._commit(msg, asynchronous=True)
                continue
            value = msg.value() or b""
            yield Message(value=value, source=self.url.source_name(msg.topic()),
                          partition=msg.partition(), offset=msg.offset(),
                          headers=tuple((k, v or b"") for k, v in (msg.headers() or [])),
                          handle=msg)

    def _check_offset(self, key: tuple[str, int], offset: int) -> None:
        """An offset jump on a partition's first message = the position was reset (by
        librdkafka's auto.offset.reset); an offset going back later = the log was replaced."""
        expected = self._expect.pop(key, None)
        last = self._last.get(key)
        if expected is not None:
            if offset != expected:
                log.error("INCIDENT: %s[%d] resumed at offset %d but was expected at %d "
                          "(offset reset: retention expired or the broker lost its log); "
                          "messages in between may be missing", key[0], key[1], offset,
                          expected)
        elif last is not None and offset <= last:
            log.error("INCIDENT: %s[%d] went back from offset %d to %d: the broker's log was "
                      "replaced; reading on (notices already stored are duplicates)",
                      key[0], key[1], last, offset)
        self._last[key] = offset

    def _check_log(self) -> None:
        """Every few seconds: is each partition's fetch position still inside its log? A
        broker that lost its log may not answer "out of range": the consumer would wait at
        an offset the new log reaches only later, skipping every notice below it. Seen on two
        checks in a row (no false alarm from a watermark read mid-append): INCIDENT, and read
        the new log from its beginning."""
        import confluent_kafka

        if self.consumer is None or not self._assigned or self.state.problem:
            return
        tps = [confluent_kafka.TopicPartition(t, n) for t, n in sorted(self._assigned)
               if t != self.heartbeat_topic]
        try:
            positions = self.consumer.position(tps)
        except confluent_kafka.KafkaException:
            return
        for tp in positions:
            key = (tp.topic, tp.partition)
            if tp.offset < 0:
                continue
            try:  # read after the position: a sound log's end can only have grown since
                low, high = self.consumer.get_watermark_offsets(
                    confluent_kafka.TopicPartition(tp.topic, tp.partition), timeout=2)
            except confluent_kafka.KafkaException:
                continue
            verdict = check_position(tp.topic, tp.partition, tp.offset, low, high,
                                     "reading position")
            if verdict.incident is None:
                self._suspect.pop(key, None)
            elif self._suspect.get(key) != tp.offset:
                self._suspect[key] = tp.offset  # confirm at the next check
            else:
                self._suspect.pop(key, None)
                log.error("%s", verdict.incident)
                try:
                    self.consumer.seek(confluent_kafka.TopicPartition(tp.topic, tp.partition,
                                                                      verdict.offset))
                    self._expect[key] = verdict.offset
                    self._last.pop(key, None)
                except confluent_kafka.KafkaException as exc:
                    log.warning("could not move %s[%d] to offset %d: %s", tp.topic,
                                tp.partition, verdict.offset, exc)

    def commit(self, message: Message) -> None:
        """Acknowledge a stored message. The commit is sent at once but not waited for (in
        order, per partition): a commit lost in a crash only means the message comes again
        and is recognised as a duplicate. :meth:`close` commits synchronously what is left."""
        msg = message.handle
        self._pending[(msg.topic(), msg.partition())] = msg.offset() + 1
        self._commit(msg, asynchronous=True)

    def _commit(self, msg: Any, asynchronous: bool) -> None:
        import confluent_kafka

        tp = confluent_kafka.TopicPartition(msg.topic(), msg.partition(), msg.offset() + 1)
        try:
            self.consumer.commit(offsets=[tp], asynchronous=asynchronous)
            self._committed[(msg.topic(), msg.partition())] = msg.offset() + 1
        except confluent_kafka.KafkaException as exc:
            # Stored but not acknowledged: it will come again and be recognised as a duplicate.
            log.warning("could not commit %s[%d]@%d (it may be delivered again): %s",
                        msg.topic(), msg.partition(), msg.offset(), exc.args[0].str()
                        if exc.args and hasattr(exc.args[0], "str") else exc)

    def _on_commit(self, err: Any, partitions: list[Any]) -> None:
        if err is not None:
            log.warning("commit failed (those messages may be delivered again): %s", err)

    def close(self) -> None:
        """Commit (synchronously) the last stored offsets, then leave the group."""
        import confluent_kafka

        if self.consumer is not None and self._pending:
            offsets = [confluent_kafka.TopicPartition(t, p, off)
                       for (t, p), off in self._pending.items()]
            try:
                self.consumer.commit(offsets=offsets, asynchronous=False)
                self.known.save(self.group_id, dict(self._pending))
            except confluent_kafka.KafkaException as exc:
                log.warning("final commit failed (the last messages may be delivered "
                            "again): %s", exc)
            self._pending.clear()
        self._closing = True
        self._abandon()


def _close_within(consumer: Any, seconds: float) -> None:
    """``consumer.close()`` (leaves the group) but never block shutdown for long."""
    thread = threading.Thread(target=consumer.close, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        log.warning("broker did not answer the close within %.0f s; leaving anyway", seconds)
