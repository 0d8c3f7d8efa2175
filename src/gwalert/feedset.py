"""Several feeds into one pipeline: each feed in its own thread with its own consumer.

A :class:`Feed` is one ``listen`` URL (SCiMMA's Kafka, NASA GCN, a local broker, files). Its
thread opens the source, connects, and runs the pipeline's loop (:func:`gwalert.pipeline.run`)
on it: feeds decode and analyse in parallel, their store writes take turns (the first copy of
a notice is the one stored, the later copies are recognised as duplicates), then it
acknowledges the message on
its own consumer, from the thread that owns that consumer (confluent-kafka consumers are not
thread-safe). A feed that fails (broker unreachable, credentials rejected, an unexpected error)
is reported and retried with back-off; the others go on. Only an unavailable store stops all
feeds, as it stops a single one.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import GwalertError, StoreLost, StoreUnavailable
from .pipeline import Pipeline, RunStats, run
from .sources.message import Outcome, Source
from .store import feeds as feedstatus

log = logging.getLogger("gwalert.feeds")

#: ``observer(feed, outcome, seconds_since_broker_timestamp_or_None)`` after each message.
Observer = Callable[["Feed", Outcome, "float | None"], None]


@dataclass
class Feed:
    """One feed: how to open its source, its counters and its state."""

    name: str
    open: Callable[[], Source]
    stats: RunStats = field(default_factory=RunStats)
    state: str = feedstatus.CONNECTING
    detail: str | None = None
    last_message_at: str | None = None  # ISO UTC
    last_message_wall: float | None = None  # time.time()
    connected_once: bool = False
    first_error: str | None = None
    failures: int = 0
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    source: Any = None
    thread: threading.Thread | None = None

    # ---------------------------------------------------------------- what the source says
    def last_heartbeat_wall(self) -> float | None:
        liveness = getattr(self.source, "liveness", None)
        beat = getattr(liveness, "last_heartbeat", None)
        if liveness is None or beat is None:
            return None
        return time.time() - (liveness.clock() - beat)

    def last_contact_wall(self) -> float | None:
        liveness = getattr(self.source, "liveness", None)
        if liveness is None:
            return self.last_message_wall
        return time.time() - liveness.seconds_silent()

    def current_state(self) -> tuple[str, str | None]:
        """(state, detail) now: a connected feed is ``ok``, ``silent`` (no heartbeat or broker
        contact for the silence limit) or ``degraded`` (the broker reports an error)."""
        if self.state != feedstatus.OK:
            return self.state, self.detail
        source = self.source
        liveness = getattr(source, "liveness", None)
        if liveness is not None and liveness.silent:
            return feedstatus.SILENT, (
                f"no heartbeat and no broker contact for {liveness.seconds_silent():.0f} s"
            )
        broker = getattr(source, "state", None)
        problem = getattr(broker, "problem", None)
        if problem:
            err = getattr(broker, "last_error", None)
            return feedstatus.DEGRADED, (err.str() if err is not None else problem)
        return feedstatus.OK, None

    def row(self) -> dict[str, Any]:
        """This feed's row for the ``gwalert_feeds`` table."""
        state, detail = self.current_state()
        beat = self.last_heartbeat_wall()
        from .store.arrivals import ms_to_iso

        return {
            "feed": self.name,
            "last_message_at": self.last_message_at,
            "last_heartbeat_at": ms_to_iso(int(beat * 1000)) if beat else None,
            "state": state,
            "detail": detail,
        }

    def on_stats(self, text: str) -> None:
        """librdkafka statistics (chained after the source's own callback): consumer lag."""
        try:
            stats = json.loads(text)
        except ValueError:
            return
        topics = set(getattr(getattr(self.source, "url", None), "topics", ()) or ())
        for topic, tstats in (stats.get("topics") or {}).items():
            if topics and topic not in topics:
                continue
            for part, pstats in (tstats.get("partitions") or {}).items():
                lag = pstats.get("consumer_lag", -1)
                if part != "-1" and isinstance(lag, int) and lag >= 0:
                    self.lag[(topic, int(part))] = lag


class FeedSet:
    """Runs ``feeds`` into ``pipeline`` until every feed ends or ``stop`` is set.

    ``fail_fast``: a feed whose first connection fails ends the run with that error (one
    feed: as ``gwalert listen URL`` always did); otherwise a failed feed is retried every
    ``retry`` s (doubling up to ``retry_max``) while the others go on, and the run fails only
    when every feed failed before ever connecting. ``until_eos`` feeds that fail are not
    retried.
    """

    def __init__(
        self,
        feeds: Sequence[Feed],
        pipeline: Pipeline,
        *,
        stop: threading.Event | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
        observers: Sequence[Observer] = (),
        fail_fast: bool = False,
        until_eos: bool = False,
        retry: float = 2.0,
        retry_max: float = 60.0,
        status_engine: Any = None,
        status_interval: float = 3.0,
    ) -> None:
        self.feeds = list(feeds)
        self.pipeline = pipeline
        self.stop = stop or threading.Event()
        self.on_outcome = on_outcome
        self.observers = list(observers)
        self.fail_fast = fail_fast
        self.until_eos = until_eos
        self.retry = retry
        self.retry_max = retry_max
        self.status_engine = status_engine
        self.status_interval = status_interval
        self._print_lock = threading.Lock()
        self._fatal: BaseException | None = None
        if status_engine is not None:
            feedstatus.create(status_engine)

    @property
    def stats(self) -> RunStats:
        total = RunStats()
        for feed in self.feeds:
            total.messages += feed.stats.messages
            total.new += feed.stats.new
            total.duplicates += feed.stats.duplicates
            total.dead_letters += feed.stats.dead_letters
            total.unacknowledged += feed.stats.unacknowledged
        return total

    def run(self) -> RunStats:
        """Start one thread per feed, write the status table while they run, return the
        totals; raises :class:`GwalertError` for a fatal error (store gone, fail-fast feed)."""
        named = _FeedNames() if len(self.feeds) > 1 else None
        if named is not None:
            for name in _SOURCE_LOGGERS:
                logging.getLogger(name).addFilter(named)
        try:
            return self._run()
        finally:
            if named is not None:
                for name in _SOURCE_LOGGERS:
                    logging.getLogger(name).removeFilter(named)

    def _run(self) -> RunStats:
        for feed in self.feeds:
            feed.thread = threading.Thread(
                target=self._run_feed,
                args=(feed,),
                daemon=True,
                name=f"{_THREAD_PREFIX}{feed.name}",
            )
            feed.thread.start()
        last_status = 0.0
        try:
            while any(f.thread is not None and f.thread.is_alive() for f in self.feeds):
                if (
                    self._fatal is None
                    and self.feeds
                    and all(f.first_error and not f.connected_once for f in self.feeds)
                ):
                    self._fatal = GwalertError(
                        "; ".join(f"{f.name}: {f.first_error}" for f in self.feeds)
                        if len(self.feeds) > 1
                        else self.feeds[0].first_error or "failed"
                    )
                if self._fatal is not None:
                    self.stop.set()
                now = time.monotonic()
                if now - last_status >= self.status_interval:
                    self.write_status()
                    last_status = now
                self.stop.wait(0.2)
            for feed in self.feeds:
                if feed.thread is not None:
                    feed.thread.join()
        except BaseException:  # a second Ctrl-C: leave at once (nothing unstored is acked)
            self.stop.set()
            raise
        finally:
            self.stop.set()
            self.write_status(final=True)
        if self._fatal is not None:
            raise self._fatal
        return self.stats

    def write_status(self, final: bool = False) -> None:
        if self.status_engine is None:
            return
        rows = []
        for feed in self.feeds:
            row = feed.row()
            if final and row["state"] in (
                feedstatus.OK,
                feedstatus.SILENT,
                feedstatus.DEGRADED,
                feedstatus.CONNECTING,
            ):
                row.update(state=feedstatus.STOPPED, detail="listener stopped")
            rows.append(row)
        try:
            feedstatus.write(self.status_engine, rows)
        except Exception as exc:  # noqa: BLE001 - status is informative, never fatal
            log.debug("could not write feed status: %s", exc)

    # ------------------------------------------------------------------ one feed's thread
    def _run_feed(self, feed: Feed) -> None:
        delay = self.retry
        while not self.stop.is_set():
            source = None
            try:
                feed.state, feed.detail = feedstatus.CONNECTING, None
                source = feed.source = feed.open()
                config = getattr(source, "config", None)
                if isinstance(config, dict) and "stats_cb" in config:
                    own = config["stats_cb"]

                    def chained(text: str, own: Any = own) -> None:
                        own(text)
                        feed.on_stats(text)

                    config["stats_cb"] = chained
                connect = getattr(source, "connect", None)
                if connect is not None:
                    connect(self.stop)
                feed.state, feed.connected_once = feedstatus.OK, True
                if feed.failures:
                    log.warning("feed %s: connected again", feed.name)
                delay = self.retry
                self._consume(feed, source)
                if self.stop.is_set():
                    feed.state, feed.detail = feedstatus.STOPPED, "listener stopped"
                else:
                    log.info("feed %s: end of stream", feed.name)
                    feed.state, feed.detail = feedstatus.STOPPED, "end of stream"
                return
            except _StoreGone as exc:
                self._fatal = exc.error
                self.stop.set()
                return
            except Exception as exc:  # noqa: BLE001 - one feed must never stop the others
                text = str(exc) if isinstance(exc, GwalertError) else f"{type(exc).__name__}: {exc}"
                feed.failures += 1
                feed.state, feed.detail = feedstatus.FAILED, text
                if not feed.connected_once and feed.first_error is None:
                    feed.first_error = text
                if self.stop.is_set():
                    return
                if self.fail_fast and not feed.connected_once:
                    self._fatal = exc if isinstance(exc, GwalertError) else GwalertError(text)
                    return
                if self.until_eos:
                    log.error("feed %s: %s", feed.name, text)
                    return
                log.error("feed %s: %s; retrying in %.0f s", feed.name, text, delay)
                self.stop.wait(delay)
                delay = min(delay * 2, self.retry_max)
            finally:
                if source is not None:
                    try:
                        source.close()
                    except Exception as exc:  # noqa: BLE001
                        log.warning("feed %s: close failed: %s", feed.name, exc)

    def _consume(self, feed: Feed, source: Source) -> None:
        """This feed's messages through the pipeline's loop (:func:`gwalert.pipeline.run`),
        in parallel with the other feeds (the pipeline serialises the store writes); each
        message is acknowledged on this feed's own consumer, from its own thread."""

        def after(outcome: Outcome) -> None:
            msg = outcome.message
            done = time.time()
            feed.last_message_at, feed.last_message_wall = msg.received_at, done
            age = None if msg.broker_ms is None else done - msg.broker_ms / 1000
            for observer in self.observers:
                try:
                    observer(feed, outcome, age)
                except Exception:  # noqa: BLE001
                    log.exception("feed observer failed")
            if self.on_outcome is not None:
                with self._print_lock:
                    self.on_outcome(outcome)

        try:
            run(
                source,
                self.pipeline,
                self.stop,
                after,
                feed=feed.name,
                stats=feed.stats,
            )
        except (StoreUnavailable, StoreLost) as exc:  # the store is gone: nothing more is acked
            raise _StoreGone(exc) from None


#: Loggers of the sources, whose lines name no feed: with several feeds they get its name.
_SOURCE_LOGGERS = ("gwalert.kafka", "gwalert.heartbeat", "gwalert.pipeline")
_THREAD_PREFIX = "gwalert-feed "


class _FeedNames(logging.Filter):
    """Prefix a source's log line with the feed whose thread logged it (librdkafka's callbacks
    run in the thread that polls, i.e. the feed's own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        thread = threading.current_thread().name
        if thread.startswith(_THREAD_PREFIX) and not getattr(record, "gwalert_feed", None):
            feed = thread[len(_THREAD_PREFIX) :]
            record.gwalert_feed = feed
            record.msg = f"feed {feed}: {record.msg}"
        return True


def feed_group(
    url: str, group_id: str | None, store_key: str, several: bool
) -> tuple[str | None, str]:
    """(group id, store key for the default group id) of feed ``url``. Alone, a feed keeps the
    single-feed group (a restart resumes); one of several gets its own group (the feeds join,
    rebalance and fail apart), derived from ``--group-id`` or from the default one."""
    if not several:
        return group_id, store_key
    import hashlib

    tag = hashlib.sha256(url.encode()).hexdigest()[:8]
    return (f"{group_id}-{tag}" if group_id else None), f"{store_key}#{url}"


class _StoreGone(Exception):
    def __init__(self, error: GwalertError) -> None:
        super().__init__(str(error))
        self.error = error
