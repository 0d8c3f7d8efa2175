"""One call run ahead in a thread of its own, for two-stage pipelines over a flat map's
pieces: inflating the next piece (ISA-L and zlib let go of the GIL), or comparing the next
chunk's bytes (numpy lets go of it in its loops), while the caller works on the current one.
On two cores the wall time is about the larger stage's, not their sum. A process allowed one
CPU only (``os.sched_getaffinity``: a pinned service, a one-core container) runs the call at
once in the caller's thread instead: there a second thread only adds switching.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any


class Ahead:
    """``fn(*args)`` run in a thread of its own; ``result()`` waits for it (and raises what
    it raised)."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self.fn, self.args = fn, args
        self.out: Any = None
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        if cpus() < 2:
            self._run()
            return
        self.thread = threading.Thread(target=self._run, name="gwalert-ahead", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.out = self.fn(*self.args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
            self.error = exc

    def wait(self) -> None:
        """Until the call is over (its result or error left unread)."""
        if self.thread is not None:
            self.thread.join()

    def result(self) -> Any:
        self.wait()
        if self.error is not None:
            raise self.error
        return self.out


def cpus() -> int:
    """How many CPUs this process may run on (``os.cpu_count`` where affinity is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1
