"""A time budget for the sky-map analysis of one notice.

A sender controls the sky map: a 4 MB notice can inflate to gigabytes, and reading and analysing
it then holds the stream for many seconds while the real notices behind it wait. So the
analysis runs in a worker process (:func:`within_budget`), where it can be abandoned: past the
budget (default 10 s, environment variable ``GWALERT_ANALYSIS_TIMEOUT``; 0 or less: no worker,
no budget) the worker is killed, the notice is stored with ``skymap_error = "analysis took
longer than 10 s"``, and the stream goes on. The next analysis starts a fresh worker.

The worker comes from a ``forkserver`` (never ``fork`` from the listener's threads) that has the
analysis modules imported, so a new worker is ready in milliseconds. It receives the raw notice
bytes and the notice's content hash, decodes the notice again and runs the analysis on it;
the main process never decodes the map of an abandoned notice (:func:`abandoned` says which, so
sky-map rule filters treat it as a notice without a usable map).
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

log = logging.getLogger("gwalert.budget")

ENV = "GWALERT_ANALYSIS_TIMEOUT"
DEFAULT_TIMEOUT = 10.0
#: Modules the worker has imported before its first notice.
PRELOAD = ["gwalert.summary", "gwalert.alerts", "gwalert.skymap"]

_in_worker = False
_lock = threading.Lock()
_worker: _Worker | None = None
_abandoned: OrderedDict[str, None] = OrderedDict()


def timeout() -> float:
    """The budget in seconds (``GWALERT_ANALYSIS_TIMEOUT``, default 10; <= 0: none)."""
    value = os.environ.get(ENV, "")
    try:
        return float(value) if value.strip() else DEFAULT_TIMEOUT
    except ValueError:
        log.warning("%s=%r is not a number of seconds: using %g", ENV, value, DEFAULT_TIMEOUT)
        return DEFAULT_TIMEOUT


def abandoned(content_hash: str) -> bool:
    """Whether the analysis of this notice was abandoned (its map must not be read here)."""
    return content_hash in _abandoned


def _remember(content_hash: str) -> None:
    _abandoned[content_hash] = None
    while len(_abandoned) > 1000:
        _abandoned.popitem(last=False)


def within_budget(
    analyse: Callable[[Any], dict[str, Any]],
    notice: Any,
    on_failure: Callable[[str], dict[str, Any]],
) -> dict[str, Any]:
    """``analyse(notice)`` run in the worker process within the budget; past it (or when the
    worker dies) ``on_failure(reason)``. ``analyse`` must be a module-level function (the worker
    imports it by name). Notices without sky-map bytes are analysed here (nothing to bound)."""
    limit = timeout()
    event = getattr(notice, "event", None)
    if _in_worker or limit <= 0 or event is None or not getattr(event, "skymap_bytes", None):
        return analyse(notice)
    if abandoned(notice.content_hash):
        return on_failure(f"analysis took longer than {limit:g} s")
    name = (analyse.__module__, analyse.__qualname__)
    global _worker
    with _lock:
        try:
            if _worker is None or not _worker.alive():
                _worker = _Worker()
            result = _worker.call((name, bytes(notice.raw), notice.content_hash), limit)
        except TimeoutError:
            if _worker is not None:
                _worker.kill()
            _worker = None
            _remember(notice.content_hash)
            log.warning(
                "%s %s: sky-map analysis abandoned after %g s",
                notice.superevent_id,
                notice.alert_type,
                limit,
            )
            return on_failure(f"analysis took longer than {limit:g} s")
        except (EOFError, OSError) as exc:  # the worker died (memory, a signal)
            if _worker is not None:
                _worker.kill()
            _worker = None
            _remember(notice.content_hash)
            return on_failure(f"analysis failed: the analysis process died ({exc or 'killed'})")
    if isinstance(result, BaseException):
        raise result
    return result


class _Worker:
    """One analysis process and its pipe."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child,), name="gwalert-analysis")
        self.process.daemon = True
        self.process.start()
        child.close()

    def alive(self) -> bool:
        return self.process.is_alive()

    def call(self, request: Any, limit: float) -> Any:
        self.conn.send(request)
        if not self.conn.poll(limit):
            raise TimeoutError
        return self.conn.recv()

    def kill(self) -> None:
        try:
            self.process.kill()
            self.process.join(5)
        finally:
            self.conn.close()


def _serve(conn: Any) -> None:
    """The worker: decode each notice again, analyse it, send the result (or the exception)."""
    global _in_worker
    _in_worker = True
    from .alerts import decode

    while True:
        try:
            (module, qualname), raw, content_hash = conn.recv()
        except (EOFError, OSError):
            return
        try:
            analyse: Any = importlib.import_module(module)
            for part in qualname.split("."):
                analyse = getattr(analyse, part)
            notices = [n for n in decode(raw) if n.content_hash == content_hash]
            if not notices:
                raise RuntimeError("the notice did not decode the same in the analysis process")
            result: Any = analyse(notices[0])
        except Exception as exc:  # noqa: BLE001 - the caller raises it as if run there
            result = exc
        try:
            conn.send(result)
        except Exception as exc:  # noqa: BLE001 - an unpicklable result or exception
            conn.send(RuntimeError(f"{type(exc).__name__}: {exc}"))
