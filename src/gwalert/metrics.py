"""Prometheus metrics for ``gwalert listen`` and ``gwalert respond`` (``--metrics-port``).

Read at each scrape from what the process already keeps (its feeds' counters, the sources'
liveness and librdkafka's consumer lag) and from the action ledger in the store (actions by
state; the latency of the actions finished since the last scrape), plus two histograms observed
as messages are stored: the time from the message's broker timestamp to the notice stored, per
feed. Served by prometheus_client's own HTTP server on a thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from .redact import redact

#: Seconds: broker timestamp -> stored (loopback p99 is tens of ms; real feeds add the network).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class Metrics:
    """The collector: one per process, on its own registry."""

    def __init__(self, engine: Any, feeds: Any = None) -> None:
        from prometheus_client import CollectorRegistry, Histogram

        self.engine = engine
        self.feedset = feeds
        self.registry = CollectorRegistry()
        self.store_latency = Histogram(
            "gwalert_feed_store_latency_seconds",
            "Broker timestamp of a message to its notice stored (new notices), per feed",
            ["feed"],
            buckets=LATENCY_BUCKETS,
            registry=None,
        )
        self.action_latency = Histogram(
            "gwalert_action_latency_seconds",
            "Action planned (notice stored) to its last attempt started, per finished action",
            ["action_type"],
            buckets=LATENCY_BUCKETS,
            registry=None,
        )
        self.action_duration = Histogram(
            "gwalert_action_duration_seconds",
            "Last attempt started to finished, per action",
            ["action_type", "state"],
            buckets=LATENCY_BUCKETS,
            registry=None,
        )
        from .util import utcnow

        # Actions finished from now on (the ledger is shared: every process reports them all).
        self._finished_mark: str | None = utcnow()
        self._lock = threading.Lock()
        self.registry.register(self)
        if feeds is not None:
            feeds.observers.append(self.observe)

    def observe(self, feed: Any, outcome: Any, age: float | None) -> None:
        """FeedSet observer: the broker-to-stored latency of each new notice."""
        if age is not None and outcome.new_ids:
            self.store_latency.labels(feed.name).observe(max(0.0, age))

    def describe(self) -> list[Any]:
        return []  # collected at scrape time only

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        if self.feedset is not None:
            now = time.time()
            fams = {
                "messages": CounterMetricFamily(
                    "gwalert_feed_messages", "Messages handled", labels=["feed"]
                ),
                "new": CounterMetricFamily(
                    "gwalert_feed_notices", "New notices stored", labels=["feed"]
                ),
                "duplicates": CounterMetricFamily(
                    "gwalert_feed_duplicates", "Copies of notices already stored", labels=["feed"]
                ),
                "dead_letters": CounterMetricFamily(
                    "gwalert_feed_dead_letters",
                    "Undecodable messages kept as dead letters",
                    labels=["feed"],
                ),
            }
            up = GaugeMetricFamily(
                "gwalert_feed_up",
                "1 when the feed is connected and not silent, else 0",
                labels=["feed", "state"],
            )
            msg_age = GaugeMetricFamily(
                "gwalert_feed_last_message_age_seconds",
                "Seconds since the feed's last message",
                labels=["feed"],
            )
            beat_age = GaugeMetricFamily(
                "gwalert_feed_last_heartbeat_age_seconds",
                "Seconds since the feed's last heartbeat message",
                labels=["feed"],
            )
            contact_age = GaugeMetricFamily(
                "gwalert_feed_last_contact_age_seconds",
                "Seconds since the feed's broker last answered",
                labels=["feed"],
            )
            lag = GaugeMetricFamily(
                "gwalert_feed_consumer_lag",
                "Messages on the broker not yet consumed (librdkafka)",
                labels=["feed"],
            )
            failures = CounterMetricFamily(
                "gwalert_feed_failures", "Times the feed failed and was retried", labels=["feed"]
            )
            for feed in self.feedset.feeds:
                for key, fam in fams.items():
                    fam.add_metric([feed.name], getattr(feed.stats, key))
                state, _ = feed.current_state()
                up.add_metric([feed.name, state], 1.0 if state == "ok" else 0.0)
                if feed.last_message_wall is not None:
                    msg_age.add_metric([feed.name], now - feed.last_message_wall)
                beat = feed.last_heartbeat_wall()
                if beat is not None:
                    beat_age.add_metric([feed.name], now - beat)
                contact = feed.last_contact_wall()
                if contact is not None:
                    contact_age.add_metric([feed.name], now - contact)
                if feed.lag:
                    lag.add_metric([feed.name], float(sum(feed.lag.values())))
                failures.add_metric([feed.name], feed.failures)
            yield from fams.values()
            yield from (up, msg_age, beat_age, contact_age, lag, failures)
        yield from self._ledger()  # observes the actions finished since the last scrape first
        for histogram in (self.store_latency, self.action_latency, self.action_duration):
            yield from histogram.collect()

    def _ledger(self) -> Iterator[Any]:
        import sqlalchemy as sa
        from prometheus_client.core import GaugeMetricFamily

        from .store import ledger
        from .store.arrivals import parse_iso

        states = GaugeMetricFamily(
            "gwalert_actions", "Actions in the ledger by state", labels=["state"]
        )
        try:
            with self.engine.connect() as conn:
                for state, n in ledger.counts(conn).items():
                    states.add_metric([state], n)
                c = ledger.actions.c
                with self._lock:
                    query = sa.select(
                        c.action_type, c.state, c.created_at, c.started_at, c.finished_at
                    ).where(c.state.in_([ledger.DONE, ledger.FAILED]), c.started_at.is_not(None))
                    if self._finished_mark is not None:
                        query = query.where(c.finished_at > self._finished_mark)
                    rows = conn.execute(query.order_by(c.finished_at)).all()
                    for row in rows:
                        created, started = parse_iso(row.created_at), parse_iso(row.started_at)
                        finished = parse_iso(row.finished_at)
                        if created and started:
                            self.action_latency.labels(row.action_type).observe(
                                max(0.0, (started - created).total_seconds())
                            )
                        if started and finished:
                            self.action_duration.labels(row.action_type, row.state).observe(
                                max(0.0, (finished - started).total_seconds())
                            )
                    if rows:
                        self._finished_mark = rows[-1].finished_at
        except sa.exc.SQLAlchemyError:
            return  # store unavailable: no ledger metrics this scrape
        yield states


class Snapshot:
    """A collector of metric families computed once (the dashboard builds one per scrape)."""

    def __init__(self, families: list[Any]) -> None:
        self.families = families

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        yield from self.families


def store_families(counts: dict[str, Any], sources: list[dict[str, Any]]) -> list[Any]:
    """The store's gauges, as the dashboard's ``/metrics`` serves them, in the naming scheme of
    :class:`Metrics` (``gwalert_actions``, ``gwalert_feed_last_*_age_seconds``)."""
    from prometheus_client.core import GaugeMetricFamily

    out = []
    for key, help_ in (
        ("notices", "Notices in the store"),
        ("superevents", "Superevents in the store"),
        ("dead_letters", "Messages that could not be decoded, kept as dead letters"),
        ("duplicates", "Arrivals of a notice already stored"),
    ):
        if counts.get(key) is not None:
            out.append(GaugeMetricFamily(f"gwalert_store_{key}", help_, value=counts[key]))
    from .store.ledger import STATES

    states = GaugeMetricFamily(
        "gwalert_actions", "Actions in the ledger by state", labels=["state"]
    )
    for state in STATES:
        states.add_metric([state], (counts.get("actions") or {}).get(state, 0))
    out.append(states)
    for key, name, help_ in (
        ("seconds_since_last_message", "message", "Seconds since the feed's last message"),
        (
            "seconds_since_last_heartbeat",
            "heartbeat",
            "Seconds since the feed's last heartbeat message",
        ),
    ):
        fam = GaugeMetricFamily(f"gwalert_feed_last_{name}_age_seconds", help_, labels=["feed"])
        for feed in sources:
            if feed.get(key) is not None:
                fam.add_metric([redact(str(feed["feed"]))], float(feed[key]))
        out.append(fam)
    return out


class Server:
    def __init__(self, httpd: Any, thread: threading.Thread, metrics: Metrics) -> None:
        self.httpd = httpd
        self.thread = thread
        self.metrics = metrics
        self.port = httpd.server_address[1]

    def shutdown(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def serve(port: int, engine: Any, feeds: Any = None, addr: str = "0.0.0.0") -> Server:
    """Start serving ``/metrics`` on ``addr:port`` (0: any free port) in a daemon thread."""
    from prometheus_client import start_http_server

    from .errors import GwalertError

    metrics = Metrics(engine, feeds)
    try:
        httpd, thread = start_http_server(port, addr=addr, registry=metrics.registry)
    except OSError as exc:
        raise GwalertError(f"--metrics-port {port}: {exc.strerror or exc}") from None
    return Server(httpd, thread, metrics)
