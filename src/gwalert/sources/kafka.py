"""Live notices from a Kafka broker (SCiMMA Hopskotch, NASA GCN, any Kafka) with no loss.

confluent-kafka directly, configured from hop-client's credentials or gcn-kafka's: automatic
commits are off, and a message's offset is committed (synchronously) only when the pipeline has
stored it. The group id is stable, so a restart resumes where the last run stopped. Broker errors
never end the loop (librdkafka reconnects by itself); each change of state is logged once.

Where a partition starts is decided in :mod:`.start` (``--start-at``, start marks, INCIDENT
checks on a lost log); broker state and the silence warning live in :mod:`.liveness`.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import confluent_kafka

from ..errors import GwalertError
from .liveness import BrokerState, Liveness, wait_for_broker
from .message import Marks, Message
from .start import (
    Key,
    Move,
    Partition,
    StartPolicy,
    check_log,
    check_offset,
    checked_committed,
    move,
    watermarks,
)
from .url import BrokerURL

log = logging.getLogger("gwalert.kafka")


def rdkafka_logger() -> logging.Logger:
    """librdkafka's own log lines, kept to errors unless debugging: broker state changes are
    logged once each by :class:`~gwalert.sources.liveness.BrokerState` instead."""
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


class KafkaSource:
    """Consume ``url``'s topics, yield messages, commit each after it is stored."""

    def __init__(
        self,
        url: BrokerURL,
        config: dict[str, Any],
        *,
        group_id: str,
        start_at: str | datetime = "latest",
        until_eos: bool = False,
        heartbeat_topic: str | None = None,
        silence_warning: float = 120.0,
        connect_timeout: float = 30.0,
        poll_interval: float = 0.5,
        marks: Marks | None = None,
    ) -> None:
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
        self.parts: dict[Key, Partition] = {}
        self._closing = False
        #: ``marks``: where the group first started (the store's marks), or None (this run only).
        self.start = StartPolicy(group_id, url.topics, start_at, marks)
        self.check_interval = 5.0
        #: The log checks (:func:`.start.check_log`) wait for the broker: in their own thread.
        self._checker: threading.Thread | None = None
        self._checker_stop = threading.Event()
        self._moves: list[Move] = []
        self._moves_lock = threading.Lock()
        conf = dict(config)
        conf.update(
            {
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
            }
        )
        # Tunables (a --kafka-option wins): a new topic is seen within 10 s; a listener that
        # was killed is replaced within ~10 s instead of librdkafka's 45 s session timeout
        # (being evicted by a long network cut only means redelivery, and dedupe); brokers
        # that do not wake a waiting fetch (tansu) still deliver within 100 ms.
        for key, value in (
            ("topic.metadata.refresh.interval.ms", 10000),
            ("session.timeout.ms", 10000),
            ("heartbeat.interval.ms", 2000),
            ("socket.keepalive.enable", True),
            ("fetch.wait.max.ms", 100),
        ):
            conf.setdefault(key, value)
        self.config = conf
        self.consumer: Any = None

    # ------------------------------------------------------------------ connecting
    def connect(self, stop: threading.Event | None = None) -> None:
        """Create the consumer, wait for the broker's first answer, subscribe.

        Wrong credentials are reported as soon as the broker says so; an unreachable broker
        after ``connect_timeout`` seconds (0: wait for ever). Either raises GwalertError.
        """
        try:
            self.consumer = confluent_kafka.Consumer(self.config)
        except confluent_kafka.KafkaException as exc:
            raise GwalertError(f"{self.url}: invalid client configuration: {exc}") from None
        try:
            meta = wait_for_broker(self.consumer, self.state, self.url, self.connect_timeout, stop)
        except GwalertError:
            self._abandon()
            raise
        self.state.ok()
        self.liveness.contact()
        if self.start_at == "latest":
            self.start.mark_start(self.consumer, meta)
        missing = [t for t in self.url.topics if t not in meta.topics]
        if missing:
            log.warning(
                "topic(s) %s not on %s yet; waiting for them",
                ", ".join(missing),
                self.url.bootstrap,
            )
        topics = list(self.url.topics)
        if self.heartbeat_topic and self.heartbeat_topic in meta.topics:
            topics.append(self.heartbeat_topic)
        self.consumer.subscribe(
            topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke
        )
        log.info("listening to %s as group %s", ", ".join(topics), self.group_id)
        self._checker_stop.clear()
        self._checker = threading.Thread(
            target=self._check_loop,
            daemon=True,
            name=f"gwalert-log-check {self.name}",
        )
        self._checker.start()

    def _abandon(self) -> None:
        self._stop_checker()
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            close_within(consumer, 5.0)

    def _stop_checker(self) -> None:
        """Stop the log checks; they end within their broker calls' timeouts (2 s each), and
        the consumer is closed only after (never under a call in flight)."""
        self._checker_stop.set()
        checker, self._checker = self._checker, None
        if checker is not None and checker is not threading.current_thread():
            checker.join()

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

    def _part(self, key: Key) -> Partition:
        part = self.parts.get(key)
        if part is None:
            part = self.parts[key] = Partition()
        return part

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        if self._closing:
            return

        for p in partitions:
            part = self._part((p.topic, p.partition))
            part.assigned, part.suspect = True, None
        try:
            committed = consumer.committed(partitions, timeout=10)
        except confluent_kafka.KafkaException as exc:
            log.warning("could not read committed offsets: %s", exc)
            committed = []
        start: dict[Key, int] = {}
        by_time: list[Key] = []
        for p in committed:
            key = (p.topic, p.partition)
            part = self._part(key)
            if p.topic == self.heartbeat_topic:
                if p.offset < 0:
                    start[key] = confluent_kafka.OFFSET_END
                continue
            low, high = watermarks(consumer, p.topic, p.partition)
            if p.offset >= 0:
                part.committed = part.expect = p.offset
                moved = checked_committed(p.topic, p.partition, p.offset, low, high)
                if moved is not None:
                    start[key] = moved
                continue
            off = self.start.without_commit(key, part.committed, low, high)
            if off is None:
                by_time.append(key)
            else:
                start[key] = off
        start.update(self.start.by_time(consumer, by_time))
        for key, off in start.items():
            if off >= 0:
                self._part(key).expect = off
        if start:
            for p in partitions:
                p.offset = start.get((p.topic, p.partition), p.offset)
            consumer.assign(partitions)
            # Record the starting position at once: otherwise a partition with nothing
            # committed yet (no message, or a commit lost in a kill -9) would start at
            # "latest" after a restart and skip what arrived while we were down.
            pin = [
                confluent_kafka.TopicPartition(t, n, off)
                for (t, n), off in start.items()
                if off >= 0 and t != self.heartbeat_topic
            ]
            if pin:
                try:
                    consumer.commit(offsets=pin, asynchronous=False)
                    for tp in pin:
                        self._part((tp.topic, tp.partition)).committed = tp.offset
                    self.start.known.save(
                        self.group_id, {(tp.topic, tp.partition): tp.offset for tp in pin}
                    )
                except confluent_kafka.KafkaException as exc:
                    log.warning("could not commit the starting offsets: %s", exc)
        log.info("assigned %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions))

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        """Before giving partitions up, commit what was stored from them (synchronously)."""
        done = []
        for p in partitions:
            part = self._part((p.topic, p.partition))
            if part.pending is not None:
                done.append(confluent_kafka.TopicPartition(p.topic, p.partition, part.pending))
                part.pending = None
        if done and not self._closing:
            try:
                consumer.commit(offsets=done, asynchronous=False)
            except confluent_kafka.KafkaException as exc:
                log.warning(
                    "commit before rebalance failed (those messages may be delivered again): %s",
                    exc,
                )
        for p in partitions:
            part = self._part((p.topic, p.partition))
            part.assigned = part.eof = False
            part.last = None

    # ------------------------------------------------------------------ the loop
    def messages(self, stop: threading.Event) -> Iterator[Message]:
        if self.consumer is None:
            self.connect(stop)
        KafkaError = confluent_kafka.KafkaError
        while not stop.is_set():
            msg = self.consumer.poll(self.poll_interval)
            self.liveness.check()
            if self._moves:
                with self._moves_lock:
                    moves, self._moves = self._moves, []
                move(self.consumer, self.parts, moves)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    self._part((msg.topic(), msg.partition())).eof = True
                    assigned = [p for p in self.parts.values() if p.assigned]
                    if self.until_eos and assigned and all(p.eof for p in assigned):
                        log.info("end of every assigned partition reached")
                        return
                    continue
                self.state.error(err)
                continue
            self.liveness.contact()
            self.state.ok()
            key = (msg.topic(), msg.partition())
            self._part(key).eof = False
            self._check_offset(key, msg.offset())
            if msg.topic() == self.heartbeat_topic:
                self.liveness.heartbeat()
                self._commit(msg, asynchronous=True)
                continue
            value = msg.value() or b""
            yield Message(
                value=value,
                source=self.url.source_name(msg.topic()),
                partition=msg.partition(),
                offset=msg.offset(),
                headers=tuple((k, v or b"") for k, v in (msg.headers() or [])),
                handle=msg,
            )

    def _check_offset(self, key: Key, offset: int) -> None:
        check_offset(key, self._part(key), offset)

    def _check_loop(self) -> None:
        """The checker thread: :meth:`_check_log` every ``check_interval`` s until stopped,
        on a client of its own (see :meth:`_check_config`), closed before the thread ends."""
        client = None
        try:
            while not self._checker_stop.wait(self.check_interval):
                try:
                    if client is None:
                        client = confluent_kafka.Consumer(self._check_config())
                    self._check_log(client)
                except Exception:  # noqa: BLE001 - a check that fails is tried again next time
                    log.debug("log check failed", exc_info=True)
        finally:
            if client is not None:
                close_within(client, 5.0)

    def _check_config(self) -> dict[str, Any]:
        """The log checks' client: the consumer's connection settings, no callbacks, never
        subscribed (it joins no group). Its watermark queries travel on connections of their
        own: on the consumer's, the feed's fetches and commits would queue behind them (a
        check of 4 partitions held a notice for 300+ ms on tansu)."""
        conf = {
            k: v
            for k, v in self.config.items()
            if not callable(v) and k not in ("statistics.interval.ms", "enable.partition.eof")
        }
        conf["group.id"] = f"{self.group_id}-log-check"
        return conf

    def _check_log(self, client: Any) -> None:
        """One check (in the checker thread); confirmed moves wait for the polling thread."""
        consumer = self.consumer
        if consumer is None or self.state.problem:
            return
        parts = {
            k: p for k, p in list(self.parts.items()) if p.assigned and k[0] != self.heartbeat_topic
        }
        moves = check_log(consumer, parts, client)
        if moves:
            with self._moves_lock:
                self._moves.extend(moves)

    def commit(self, message: Message) -> None:
        """Acknowledge a stored message. The commit is sent at once but not waited for (in
        order, per partition): a commit lost in a crash only means the message comes again
        and is recognised as a duplicate. :meth:`close` commits synchronously what is left."""
        msg = message.handle
        self._part((msg.topic(), msg.partition())).pending = msg.offset() + 1
        self._commit(msg, asynchronous=True)

    def _commit(self, msg: Any, asynchronous: bool) -> None:
        tp = confluent_kafka.TopicPartition(msg.topic(), msg.partition(), msg.offset() + 1)
        try:
            self.consumer.commit(offsets=[tp], asynchronous=asynchronous)
            self._part((msg.topic(), msg.partition())).committed = msg.offset() + 1
        except confluent_kafka.KafkaException as exc:
            # Stored but not acknowledged: it will come again and be recognised as a duplicate.
            log.warning(
                "could not commit %s[%d]@%d (it may be delivered again): %s",
                msg.topic(),
                msg.partition(),
                msg.offset(),
                exc.args[0].str() if exc.args and hasattr(exc.args[0], "str") else exc,
            )

    def _on_commit(self, err: Any, partitions: list[Any]) -> None:
        if err is not None:
            log.warning("commit failed (those messages may be delivered again): %s", err)

    def close(self) -> None:
        """Commit (synchronously) the last stored offsets, then leave the group."""
        pending = {k: p.pending for k, p in self.parts.items() if p.pending is not None}
        if self.consumer is not None and pending:
            offsets = [confluent_kafka.TopicPartition(t, n, off) for (t, n), off in pending.items()]
            try:
                self.consumer.commit(offsets=offsets, asynchronous=False)
                self.start.known.save(self.group_id, pending)
            except confluent_kafka.KafkaException as exc:
                log.warning(
                    "final commit failed (the last messages may be delivered again): %s", exc
                )
            for part in self.parts.values():
                part.pending = None
        self._closing = True
        self._abandon()


def close_within(consumer: Any, seconds: float) -> None:
    """``consumer.close()`` (leaves the group) but never block shutdown for long."""
    thread = threading.Thread(target=consumer.close, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        log.warning("broker did not answer the close within %.0f s; leaving anyway", seconds)
