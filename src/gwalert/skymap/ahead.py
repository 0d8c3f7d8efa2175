"""One call run ahead in a thread of its own, for two-stage pipelines over a flat map's
pieces: inflating the next piece (ISA-L and zlib let go of the GIL), or comparing the next
chunk's bytes (numpy lets go of it in its loops), while the caller works on the current one.
On two cores the wall time is about the larger stage's, not their sum."""

from __future__ import annotations

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
        self.thread = threading.Thread(target=self._run, name="gwalert-ahead", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.out = self.fn(*self.args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
            self.error = exc

    def result(self) -> Any:
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.out
