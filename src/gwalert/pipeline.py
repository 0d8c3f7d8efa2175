"""The flow of every message, and nothing else::

    source ─Message─▶ decode ─Notice─▶ known? (look-up¹) ─no─▶ analyse (summary)
        ─▶ store notice + first arrival + planned actions in one transaction ─▶ acknowledge
                          └─yes─▶ record the copy's arrival ──────────────────▶ acknowledge

¹ listen (``eager``): only for identities this pipeline stored or found lately (a later feed's
copy); any other notice is recognised as a duplicate by the store transaction's own look-up.

Every way a notice enters goes through :meth:`Pipeline.process`, driven by :func:`run` (the one
loop: each feed of ``gwalert listen`` in its thread, file sources, ``gwalert replay FILES``, the
Python handlers). The :class:`Message` carries its feed, partition/offset, the time it was
received and the broker's timestamp.

The steps live elsewhere: messages and sources in :mod:`gwalert.sources`, decoding in
:mod:`gwalert.alerts`, analysis in :mod:`gwalert.summary`, storage and outage retries in
:mod:`gwalert.store`, planning actions in the responder (a hook).

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
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .alerts import Notice, decode
from .errors import NoticeError, StoreLost, StoreUnavailable
from .sources.message import Message, Outcome, Source
from .store.db import Retrying, is_refusal
from .store.durable import deferred_fsync, make_durable
from .store.notices import Hook, Store
from .store.sanitize import text as _clean
from .summary import Summary, safe_summary
from .util import why

if TYPE_CHECKING:
    from .store.arrivals import Arrivals

log = logging.getLogger("gwalert.pipeline")

#: How many identities a pipeline remembers as stored or found (see ``Pipeline._known``).
_KNOWN = 4096

#: hop-client's large-message offload header value: the notice is at a URL named in the
#: message; gwalert does not fetch it, the message is dead-lettered.
HOP_EXTERNAL_FORMAT = b"external"


class Pipeline:
    """decode → skip known duplicates → analyse → store (+ the first arrival and ``hooks``,
    inside the store transaction of each NEW notice: planned actions) → the caller
    acknowledges. ``arrivals``: where each copy's arrival is recorded (None: not recorded).

    ``eager`` (``gwalert listen``): only identities this pipeline stored or found lately are
    looked up before the analysis; any other notice is analysed at once (its latency) and, if
    stored after all (before a restart, by another process), recognised by the store
    transaction. Otherwise (replays) every notice is looked up first.

    ``store_retry_seconds``: how long an unavailable store is retried before
    :class:`StoreUnavailable` is raised (None, the default: for as long as it lasts, until
    ``stop`` is set). Retries back off from ``retry_delay`` up to ``max_retry_delay``.
    """

    def __init__(
        self,
        store: Store,
        hooks: Sequence[Hook] = (),
        *,
        arrivals: Arrivals | None = None,
        after_commit: Sequence[Callable[[Outcome], None]] = (),
        store_retry_seconds: float | None = None,
        retry_delay: float = 0.5,
        max_retry_delay: float = 30.0,
        eager: bool = False,
    ) -> None:
        self.store = store
        self.hooks = list(hooks)
        self.arrivals = arrivals
        #: Feeds decode and analyse in parallel; their store writes take turns (the first copy
        #: of a notice is stored, a later one found as a duplicate; the store is right under
        #: any interleaving anyway, this only keeps one process's writers from contending).
        self._write = threading.Lock()
        #: Notices being analysed and stored now, by identity: another copy (the other feed's)
        #: waits for the first instead of analysing the same sky map in parallel.
        self._inflight: dict[tuple[str, str, object, str], threading.Event] = {}
        self._inflight_lock = threading.Lock()
        #: Identities this pipeline stored or found lately: only their copies are looked up
        #: before the analysis (a later feed's copy of a stored notice, its analysis skipped).
        #: Any other notice is analysed at once and recognised, if stored after all (by
        #: another process, before a restart), by the store transaction's own look-up.
        self.eager = eager
        self._known: OrderedDict[tuple[str, str, object, str], None] = OrderedDict()
        self.after_commit = list(after_commit)
        #: Runs each store operation, waiting out an unavailable store.
        self.retrying = Retrying(store_retry_seconds, retry_delay, max_retry_delay)

    def process(self, message: Message, stop: threading.Event | None = None) -> Outcome:
        """Store or dead-letter ``message``; returns once everything is committed.

        Raises only :class:`StoreUnavailable` (the store cannot be reached and ``stop`` was
        set, or ``store_retry_seconds`` ran out): the message must then not be acknowledged.
        """
        if message.received_at is None:  # stamped with its feed and receive time if not yet
            message = message.arrived()
        outcome = Outcome(message)
        try:
            notices = self._decode(message)
        except NoticeError as exc:
            notices = []
            self._dead_letter(outcome, str(exc), stop)
        except Exception as exc:  # noqa: BLE001 - a decoder bug on this message, not the stream
            notices = []
            log.error(
                "decoding the message from %s failed unexpectedly", _where(message), exc_info=exc
            )
            self._dead_letter(outcome, f"cannot decode: {why(exc, 300)}", stop)
        for notice in notices:
            self._store(outcome, notice, stop)
        arrivals = self.arrivals
        if arrivals is not None and any(not new for _, new, _ in outcome.notices):
            try:
                self.retrying(lambda: arrivals.after_commit(outcome), stop)
            except (StoreUnavailable, StoreLost):
                raise
            except Exception:  # noqa: BLE001 - the notice is stored; only a copy's record failed
                log.exception("recording the arrival of a copy from %s failed", _where(message))
        for callback in self.after_commit:
            try:
                callback(outcome)
            except Exception:  # noqa: BLE001 - a callback must not stop the stream
                log.exception("after-commit callback failed")
        return outcome

    def _store(self, outcome: Outcome, notice: Notice, stop: threading.Event | None) -> None:
        """One copy of a notice at a time (see ``_inflight``), then :meth:`_store_one`."""
        key = (
            notice.superevent_id,
            str(notice.alert_type),
            notice.time_created,
            notice.content_hash,
        )
        with self._inflight_lock:
            first = self._inflight.get(key)
            if first is None:
                mine = self._inflight[key] = threading.Event()
        if first is not None:
            first.wait(600.0)  # then the look-up finds it stored: a duplicate
            self._store_one(outcome, notice, stop, True)
            return
        try:
            with self._inflight_lock:
                known = key in self._known or not self.eager
            self._store_one(outcome, notice, stop, known)
        finally:
            with self._inflight_lock:
                del self._inflight[key]
                self._known[key] = None
                self._known.move_to_end(key)
                while len(self._known) > _KNOWN:
                    self._known.popitem(last=False)
            mine.set()

    def _store_one(
        self, outcome: Outcome, notice: Notice, stop: threading.Event | None, look: bool
    ) -> None:
        """Skip a known duplicate (with ``look``: a look-up, no analysis), else analyse the
        notice and store it with what the hooks plan, in one transaction (which finds it if
        it is stored after all); dead-letter it if it cannot be."""
        message = outcome.message
        summary: Summary | None = None
        try:
            found = self.retrying(lambda: self.store.find_notice(notice), stop) if look else None
            if found is not None:
                nid, new = found, False
            else:
                summary = safe_summary(notice)
                hooks = list(self.hooks)
                if self.arrivals is not None:
                    hooks.insert(0, self.arrivals.first(message))
                with self._write:
                    nid, new = self.retrying(
                        lambda: self.store.add(
                            notice,
                            source=message.source,
                            partition=message.partition,
                            offset=message.offset,
                            hooks=hooks,
                            summary=summary,
                            received_at=message.received_at,
                        ),
                        stop,
                    )
        except (StoreUnavailable, StoreLost):
            raise
        except Exception as exc:  # noqa: BLE001 - this content, not the store, is the cause
            what = "store refused" if is_refusal(exc) else "could not store"
            log.debug("%s %s", what, notice.superevent_id, exc_info=exc)
            self._dead_letter(
                outcome,
                f"{what} the notice {notice.superevent_id} {notice.alert_type}: {why(exc, 300)}",
                stop,
            )
            return
        outcome.notices.append((nid, new, notice))
        if new and summary is not None:
            outcome.summaries[nid] = summary
        if new:
            log.info(
                "stored %s %s as notice %d (from %s)",
                notice.superevent_id,
                notice.alert_type,
                nid,
                _where(message),
            )
            if notice.warnings:
                log.warning(
                    "notice %d (%s %s) strays from the IGWN alert schema: %s",
                    nid,
                    notice.superevent_id,
                    notice.alert_type,
                    "; ".join(notice.warnings),
                )
        else:
            log.info(
                "duplicate %s %s (notice %d) from %s",
                notice.superevent_id,
                notice.alert_type,
                nid,
                _where(message),
            )

    @staticmethod
    def _decode(message: Message) -> list[Notice]:
        if dict(message.headers).get("_format") == HOP_EXTERNAL_FORMAT:
            raise NoticeError(
                "hop large-message offload (ExternalMessage): the notice is at a "
                "URL named in the message, which gwalert does not fetch"
            )
        return decode(message.value)

    def _dead_letter(self, outcome: Outcome, reason: str, stop: threading.Event | None) -> None:
        """Keep the message's bytes with ``reason``; a reason the store refuses is replaced by
        a plain one (the bytes are what matters)."""
        message = outcome.message
        if outcome.error is None:
            outcome.error = reason
        try:
            dl_id, new = self.retrying(
                lambda: self.store.add_dead_letter(
                    message.value, reason, message.source, message.partition, message.offset
                ),
                stop,
            )
        except (StoreUnavailable, StoreLost):
            raise
        except Exception as exc:  # noqa: BLE001
            reason = (
                f"{_clean(reason)[:200].encode('ascii', 'replace').decode()} "
                f"(full reason not storable: {type(exc).__name__})"
            )
            dl_id, new = self.retrying(
                lambda: self.store.add_dead_letter(
                    message.value, reason, "unknown source", None, None
                ),
                stop,
            )
        if outcome.dead_letter_id is None:
            outcome.dead_letter_id = dl_id
        if new:
            log.warning("dead letter %d from %s: %s", dl_id, _where(message), reason)


@dataclass
class RunStats:
    messages: int = 0
    new: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    unacknowledged: int = 0  # stopped while the store was unavailable


def run(
    source: Source,
    pipeline: Pipeline,
    stop: threading.Event | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    *,
    feed: str | None = None,
    stats: RunStats | None = None,
) -> RunStats:
    """The loop: process every message of ``source`` until it ends or ``stop`` is set.

    Each message is stamped with ``feed`` (default: its source) and the time it was received,
    processed (its SQLite commits return before their fsync, :mod:`gwalert.store.durable`),
    passed to ``on_outcome`` once stored, and acknowledged (``source.commit``) only once
    what it wrote is on disk (:func:`~gwalert.store.durable.make_durable`, one fsync shared
    by the feeds). ``stop`` is checked between messages, never
    inside one: a notice is stored and acknowledged, or not acknowledged at all. Raises
    :class:`StoreUnavailable` (the store is down and ``stop`` is not set) or
    :class:`StoreLost`; counts go to ``stats`` (returned).
    """
    stop = stop or threading.Event()
    stats = stats if stats is not None else RunStats()
    for received in source.messages(stop):
        message = received.arrived(feed)
        try:
            with deferred_fsync():  # stored at once, on disk before the acknowledgment
                outcome = pipeline.process(message, stop)
            if on_outcome is not None:
                on_outcome(outcome)
            make_durable(pipeline.store.engine)  # a failed fsync is never retried: it raises
        except StoreUnavailable as exc:
            if not stop.is_set():
                raise
            stats.unacknowledged += 1
            log.warning(
                "%s; the message from %s is not acknowledged and will be delivered again",
                exc,
                _where(message),
            )
            break
        source.commit(message)
        stats.messages += 1
        stats.new += len(outcome.new_ids)
        stats.duplicates += sum(1 for _, new, _ in outcome.notices if not new)
        stats.dead_letters += outcome.dead_letter_id is not None
        if stop.is_set():
            break
    return stats


def _where(message: Message) -> str:
    if message.partition is None:
        return message.source
    return f"{message.source} [{message.partition}] @{message.offset}"
