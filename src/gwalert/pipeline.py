"""The loop that moves each message through decode → store (+ hooks) → acknowledge.

A source (Kafka, GCN, files) yields :class:`Message` objects and is told to ``commit`` a message
only after :meth:`Pipeline.process` returned, i.e. after the notice (or the dead letter) and
everything the hooks wrote are committed to the store. A crash anywhere before that leaves the
message unacknowledged, so it is delivered again and recognised as a duplicate if it was stored.

The invariant, enforced in :meth:`Pipeline.process` and nowhere else: whatever a message holds,
it is stored (with its warnings when it strays from the schema) or dead-lettered with the
reason, and then it can be acknowledged. Nothing the message provokes in decoding, analysis,
summary, storage or the hooks escapes; only a store that cannot be reached stops the stream,
and then it is retried until it answers or the listener is told to stop
(:class:`~gwalert.errors.StoreUnavailable`, the message left unacknowledged).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa

from .errors import NoticeError, StoreUnavailable
from .notice import Notice, decode
from .sanitize import text as _clean
from .store import Hook, Store, is_outage

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
    """decode → store; ``hooks`` run inside the store transaction of each NEW notice.

    ``store_retry_seconds``: how long an unavailable store is retried before
    :class:`StoreUnavailable` is raised (None, the default: for as long as it lasts, until
    ``stop`` is set). Retries back off from ``retry_delay`` up to ``max_retry_delay``.
    """

    def __init__(self, store: Store, hooks: Sequence[Hook] = (), *,
                 after_commit: Sequence[Callable[[Outcome], None]] = (),
                 fetch_external: bool = False, store_retry_seconds: float | None = None,
                 retry_delay: float = 0.5, max_retry_delay: float = 30.0) -> None:
        self.store = store
        self.hooks = list(hooks)
        self.after_commit = list(after_commit)
        self.fetch_external = fetch_external
        self.store_retry_seconds = store_retry_seconds
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.store_down = False  # logged once per change of state

    def process(self, message: Message, stop: threading.Event | None = None) -> Outcome:
        """Store or dead-letter ``message``; returns once everything is committed.

        Raises only :class:`StoreUnavailable` (the store cannot be reached and ``stop`` was
        set, or ``store_retry_seconds`` ran out): the message must then not be acknowledged.
        """
        outcome = Outcome(message)
        try:
            notices = self._decode(message)
        except NoticeError as exc:
            notices = []
            self._dead_letter(outcome, str(exc), stop)
        except Exception as exc:  # noqa: BLE001 - a decoder bug on this message, not the stream
            notices = []
            log.error("decoding the message from %s failed unexpectedly", _where(message),
                      exc_info=exc)
            self._dead_letter(outcome, f"cannot decode: {_why(exc)}", stop)
        for notice in notices:
            # The summary (sky-map analysis) is computed by the store only for a notice that
            # is not already there: duplicates cost a lookup.
            try:
                nid, new = self._retrying(lambda n=notice: self.store.add(
                    n, source=message.source, partition=message.partition,
                    offset=message.offset, hooks=self.hooks), stop)
            except StoreUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 - this content, not the store, is the cause
                what = ("store refused" if isinstance(exc, sa.exc.SQLAlchemyError)
                        else "could not store")
                log.debug("%s %s", what, notice.superevent_id, exc_info=exc)
                self._dead_letter(outcome, f"{what} the notice {notice.superevent_id} "
                                  f"{notice.alert_type}: {_why(exc)}", stop)
                continue
            outcome.notices.append((nid, new, notice))
            if new:
                log.info("stored %s %s as notice %d (from %s)", notice.superevent_id,
                         notice.alert_type, nid, _where(message))
                if notice.warnings:
                    log.warning("notice %d (%s %s) strays from the IGWN alert schema: %s", nid,
                                notice.superevent_id, notice.alert_type,
                                "; ".join(notice.warnings))
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

    def _dead_letter(self, outcome: Outcome, reason: str, stop: threading.Event | None) -> None:
        """Keep the message's bytes with ``reason``; a reason the store refuses is replaced by
        a plain one (the bytes are what matters)."""
        message = outcome.message
        if outcome.error is None:
            outcome.error = reason
        try:
            dl_id, new = self._retrying(lambda: self.store.add_dead_letter(
                message.value, reason, message.source, message.partition, message.offset),
                stop)
        except StoreUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001
            reason = (f"{_clean(reason)[:200].encode('ascii', 'replace').decode()} "
                      f"(full reason not storable: {type(exc).__name__})")
            dl_id, new = self._retrying(lambda: self.store.add_dead_letter(
                message.value, reason, "unknown source", None, None), stop)
        if outcome.dead_letter_id is None:
            outcome.dead_letter_id = dl_id
        if new:
            log.warning("dead letter %d from %s: %s", dl_id, _where(message), reason)

    def _retrying(self, operation: Callable[[], Any], stop: threading.Event | None) -> Any:
        """``operation()``, retried while the store is unavailable (capped back-off, one log
        line when the store goes away and one when it is back). Other errors propagate."""
        started = time.monotonic()
        delay = self.retry_delay
        while True:
            try:
                result = operation()
            except Exception as exc:
                if not is_outage(exc):
                    raise
                problem = _first_line(exc)
                if not self.store_down:
                    self.store_down = True
                    log.warning("store unavailable (%s); retrying until it answers, the "
                                "message stays unacknowledged", problem)
                if stop is not None and stop.is_set():
                    raise StoreUnavailable(f"stopped while the store was unavailable: "
                                           f"{problem}") from None
                if (self.store_retry_seconds is not None
                        and time.monotonic() - started + delay > self.store_retry_seconds):
                    raise StoreUnavailable(f"store unavailable: {problem}") from None
                if stop is not None:
                    if stop.wait(delay):
                        raise StoreUnavailable(f"stopped while the store was unavailable: "
                                               f"{problem}") from None
                else:
                    time.sleep(delay)
                delay = min(delay * 2, self.max_retry_delay)
                continue
            if self.store_down:
                self.store_down = False
                log.warning("store available again")
            return result


@dataclass
class RunStats:
    messages: int = 0
    new: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    unacknowledged: int = 0  # stopped while the store was unavailable


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
        try:
            outcome = pipeline.process(message, stop)
        except StoreUnavailable as exc:
            if not stop.is_set():
                raise
            stats.unacknowledged += 1
            log.warning("%s; the message from %s is not acknowledged and will be delivered "
                        "again", exc, _where(message))
            break
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


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    try:
        text = str(getattr(exc, "orig", None) or exc).strip()
    except Exception:  # noqa: BLE001
        text = ""
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= 300 else line[:297] + "..."
