"""Liveness: notice when a stream goes silent.

A quiet alert stream is normal (hours without an alert); a stream that has lost its broker is
not. :class:`Liveness` is told of every broker contact and every heartbeat message and logs ONE
warning when neither has been seen for ``warn_after`` seconds, then one line when contact is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("gwalert.heartbeat")

#: Heartbeat topics of the public brokers: SCiMMA's Hopskotch and NASA GCN Kafka.
HEARTBEAT_TOPICS = {"kafka.scimma.org": "sys.heartbeat", "gcn.nasa.gov": "gcn.heartbeat",
                    "test.gcn.nasa.gov": "gcn.heartbeat"}


class Liveness:
    """Tracks the last sign of life and warns once per silence."""

    def __init__(self, warn_after: float = 120.0, *,
                 clock: Callable[[], float] = time.monotonic,
                 logger: logging.Logger = log) -> None:
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
            self.log.warning("no heartbeat and no broker contact for %.0f s: alerts may be "
                             "missed until the stream is back", quiet)
        return self.silent
