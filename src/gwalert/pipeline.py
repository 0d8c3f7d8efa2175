"""The loop that moves each message through decode → store (+ hooks) → acknowledge.

A source (Kafka, GCN, files) yields :class:`Message` objects and is told to ``commit`` a message
only after :meth:`Pipeline.process` returned, i.e. after the notice (or the dead letter) and
everything the hooks wrote are committed to the store. A crash anywhere before that leaves the
message unacknowledged, so it is delivered again and recognised as a duplicate if it was stored.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa

from .errors import GwalertError, NoticeError
from .notice import Notice, decode
from .store import Hook, Store

log = logging.getLogger("gwalert.pipeline")

#: hop-client's large-message offload header value; such a message names a URL to fetch.
HOP_EXTERNAL_FORMAT = b"external"


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
    """What :func:`run` needs from a source."""

    name: str

    def messages(self, stop: threading.Event) -> Iterator[Message]:
        """Yield messages until ``stop`` is set or the source ends."""
        ...

    def commit(self, message: Message) -> None:
        """Acknowledge ``message``: it is durably handled."""
        ...

    def close(self) -> None:
        ...


class Pipeline:
    """decode → store; ``hooks`` run inside the store transaction of each NEW notice."""

    def __init__(self, store: Store, hooks: Sequence[Hook] = (), *,
                 after_commit: Sequence[Callable[[Outcome], None]] = (),
                 fetch_external: bool = False, store_retry_seconds: float = 120.0) -> None:
        self.store = store
        self.hooks = list(hooks)
        self.after_commit = list(after_commit)
        self.fetch_external = fetch_external
        self.store_retry_seconds = store_retry_seconds

    def process(self, message: Message, stop: threading.Event | None = None) -> Outcome:
        """Decode and store ``message``; returns once everything is committed.

        Undecodable messages go to the dead-letter table. Database errors are retried (with
        back-off) for ``store_retry_seconds``; then :class:`GwalertError` is raised and the
        message must not be acknowledged.
        """
        outcome = Outcome(message)
        try:
            notices = self._decode(message)
        except NoticeError as exc:
            reason = outcome.error = str(exc)
            dl_id, new = self._retrying(lambda: self.store.add_dead_letter(
                message.value, reason, message.source, message.partition, message.offset),
                stop)
            outcome.dead_letter_id = dl_id
            if new:
                log.warning("dead letter %d from %s: %s", dl_id, _where(message), reason)
        else:
            for notice in notices:
                # The summary (sky-map analysis) is computed by the store only for a notice
                # that is not already there: duplicates cost a lookup.
                nid, new = self._retrying(lambda n=notice: self.store.add(
                    n, source=message.source, partition=message.partition,
                    offset=message.offset, hooks=self.hooks), stop)
                outcome.notices.append((nid, new, notice))
                if new:
                    log.info("stored %s %s as notice %d (from %s)", notice.superevent_id,
                             notice.alert_type, nid, _where(message))
                else:
                    log.info("duplicate %s %s (notice %d) from %s", notice.superevent_id,
                             notice.alert_type, nid, _where(message))
        for callback in self.after_commit:
            try:
                callback(outcome)
            except Exception:  # noqa: BLE001 - a callback must not stop the stream
                log.exception("after-commit callback failed")
        return outcome

    def _decode(self, message: Message) -> list[Notice]:
        fmt = dict(message.headers).get("_format")
        if fmt == HOP_EXTERNAL_FORMAT and not self.fetch_external:
            raise NoticeError("hop large-message offload (ExternalMessage): the notice is at a "
                              "URL named in the message and fetching it is off")
        return decode(message.value)

    def _retrying(self, operation: Callable[[], Any], stop: threading.Event | None) -> Any:
        deadline = time.monotonic() + self.store_retry_seconds
        delay = 0.5
        while True:
            try:
                return operation()
            except sa.exc.OperationalError as exc:
                problem = str(exc.orig or exc).strip().splitlines()[0]
                if time.monotonic() + delay > deadline:
                    raise GwalertError(f"store unavailable: {problem}") from None
                log.warning("store error, retrying in %.1f s: %s", delay, problem)
                if stop is not None and stop.wait(delay):
                    raise GwalertError(f"stopped while the store was unavailable: {problem}"
                                       ) from None
                if stop is None:
                    time.sleep(delay)
                delay = min(delay * 2, 10.0)


@dataclass
class RunStats:
    messages: int = 0
    new: int = 0
    duplicates: int = 0
    dead_letters: int = 0


def run(source: Source, pipeline: Pipeline, stop: threading.Event | None = None,
        on_outcome: Callable[[Outcome], None] | None = None) -> RunStats:
    """Process every message of ``source`` until it ends or ``stop`` is set.

    Each message is acknowledged (``source.commit``) only after it was stored. ``stop`` is
    checked between messages, never inside one: a notice is stored and acknowledged, or not
    acknowledged at all.
    """
    stop = stop or threading.Event()
    stats = RunStats()
    for message in source.messages(stop):
        outcome = pipeline.process(message, stop)
        source.commit(message)
        stats.messages += 1
        stats.new += len(outcome.new_ids)
        stats.duplicates += sum(1 for _, new, _ in outcome.notices if not new)
        stats.dead_letters += outcome.dead_letter_id is not None
        if on_outcome is not None:
            on_outcome(outcome)
        if stop.is_set():
            break
    return stats


def _where(message: Message) -> str:
    if message.partition is None:
        return message.source
    return f"{message.source} [{message.partition}] @{message.offset}"
