"""Liveness: is the broker there, and is the stream alive?

A quiet alert stream is normal (hours without an alert); a stream that has lost its broker is
not. :class:`Liveness` is told of every broker contact and every heartbeat message (the
broker's heartbeat topic, followed alongside the alert topics) and logs ONE warning when
neither has been seen for ``warn_after`` seconds, then one line when contact is back.
:class:`BrokerState` logs one line per change of the broker's state, and
:func:`wait_for_broker` waits for the broker's first answer (or its refusal of the
credentials).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import confluent_kafka

from ..errors import GwalertError
from .url import BrokerURL

log = logging.getLogger("gwalert.heartbeat")
kafka_log = logging.getLogger("gwalert.kafka")

#: Heartbeat topics of the public brokers: SCiMMA's Hopskotch and NASA GCN Kafka.
HEARTBEAT_TOPICS = {
    "kafka.scimma.org": "sys.heartbeat",
    "gcn.nasa.gov": "gcn.heartbeat",
    "test.gcn.nasa.gov": "gcn.heartbeat",
}

#: Errors that are fatal before the first successful contact (reported at once).
AUTH_ERRORS = (
    "_AUTHENTICATION",
    "SASL_AUTHENTICATION_FAILED",
    "TOPIC_AUTHORIZATION_FAILED",
    "GROUP_AUTHORIZATION_FAILED",
    "_SSL",
    "ILLEGAL_SASL_STATE",
)


def heartbeat_topic_for(url: BrokerURL) -> str | None:
    return HEARTBEAT_TOPICS.get(url.domain or url.host)


class Liveness:
    """Tracks the last sign of life and warns once per silence."""

    def __init__(
        self,
        warn_after: float = 120.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = log,
    ) -> None:
        self.warn_after = warn_after
        self.clock = clock
        self.log = logger
        self.last_contact = clock()
        self.last_heartbeat: float | None = None
        self.silent = False

    def contact(self) -> None:
        """The broker answered (a message, a metadata reply, a broker reported up)."""
        self.last_contact = self.clock()
        self._back()

    def heartbeat(self) -> None:
        """A heartbeat message arrived."""
        self.last_heartbeat = self.last_contact = self.clock()
        self._back()

    def _back(self) -> None:
        if self.silent:
            self.silent = False
            self.log.warning("stream alive again (broker contact restored)")

    def seconds_silent(self) -> float:
        return self.clock() - self.last_contact

    def check(self) -> bool:
        """Log the silence warning once when due; True while the stream is silent."""
        if self.warn_after <= 0:
            return False
        quiet = self.seconds_silent()
        if quiet >= self.warn_after and not self.silent:
            self.silent = True
            self.log.warning(
                "no heartbeat and no broker contact for %.0f s: alerts may be "
                "missed until the stream is back",
                quiet,
            )
        return self.silent


class BrokerState:
    """Logs one line per change of the broker's state, not one per error: each kind of problem
    once until the broker is reachable again."""

    def __init__(self, log_changes: bool = True) -> None:
        self.log_changes = log_changes
        self.reported: set[str] = set()
        self.last_error: Any = None

    @property
    def problem(self) -> str | None:
        return self.last_error.name() if self.reported and self.last_error is not None else None

    def error(self, err: Any) -> None:
        self.last_error = err
        name = err.name()
        if name not in self.reported:
            self.reported.add(name)
            if self.log_changes:
                kafka_log.warning("broker: %s (%s); retrying", err.str(), name)

    def ok(self) -> None:
        if self.reported and self.log_changes:
            kafka_log.warning("broker: reachable again")
            self.reported.clear()


def wait_for_broker(
    consumer: Any,
    state: BrokerState,
    url: BrokerURL,
    timeout: float,
    stop: threading.Event | None = None,
) -> Any:
    """The cluster metadata, once the broker answers; :class:`GwalertError` when it rejects
    the credentials (as soon as it says so) or has not answered within ``timeout`` seconds
    (0: wait for ever)."""
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
                raise GwalertError(
                    f"{url.bootstrap}: cannot reach the network (a host name "
                    f"does not resolve; DNS or offline?): {text}"
                )
            raise GwalertError(f"{url.bootstrap}: authentication failed: {text}")
        if stop is not None and stop.is_set():
            raise GwalertError("stopped before the broker answered")
        if timeout and time.monotonic() > deadline:
            why = err.str() if err is not None else "no answer"
            raise GwalertError(f"cannot reach broker {url.bootstrap} within {timeout:.0f} s: {why}")
