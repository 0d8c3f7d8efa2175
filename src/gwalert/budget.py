"""A time budget for the sky-map analysis of one notice.

A sender controls the sky map: a 4 MB notice can inflate to gigabytes, and reading and analysing
it then holds the stream for many seconds while the real notices behind it wait. So the
analysis runs in a worker process (:func:`within_budget`), where it can be abandoned: past the
budget (default 10 s, environment variable ``GWALERT_ANALYSIS_TIMEOUT``; 0 or less: no worker,
no budget) the worker is killed, the notice is stored with ``skymap_error = "analysis took
longer than 10 s"``, and the stream goes on. The next analysis starts a fresh worker.

The worker is a fresh interpreter (``python -m gwalert.budget``: never a ``fork`` of the
listener's threads, nothing of the caller's ``__main__`` re-run); a new one is started at once
when one is abandoned, and its imports do not count against the budget. It receives only
what the analysis reads, the notice's identity and its sky-map bytes (not the raw message:
nothing is decoded twice), and runs the analysis on them; the main process never decodes the
map of an abandoned notice (:func:`abandoned` says which, so sky-map rule filters treat it as
a notice without a usable map).
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

try:
    import fcntl
except ImportError:  # not on Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("gwalert.budget")

ENV = "GWALERT_ANALYSIS_TIMEOUT"
DEFAULT_TIMEOUT = 10.0
#: Modules the worker has imported before its first notice.
PRELOAD = ["gwalert.summary", "gwalert.alerts", "gwalert.skymap"]
#: The analysis the worker runs once on a small map before its first notice (module, name).
WARM_UP = ("gwalert.summary", "skymap_facts")

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
            result = _worker.call((name, *_essentials(notice)), limit)
        except TimeoutError:
            if _worker is not None:
                _worker.kill()
            _worker = _Worker()  # importing while the stream goes on
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


def _essentials(notice: Any) -> tuple[Any, ...]:
    """What the worker gets of a notice: its identity and its sky-map bytes (not the raw
    message nor its record: nothing decoded twice, one copy of the map through the pipe)."""
    return (
        notice.superevent_id,
        str(notice.alert_type),
        notice.time_created,
        str(notice.format),
        notice.content_hash,
        notice.event.skymap_bytes,
    )


def _rebuilt(
    superevent_id: str,
    alert_type: str,
    time_created: Any,
    fmt: str,
    content_hash: str,
    skymap: bytes,
) -> Any:
    """The worker's notice: the identity and sky map the caller sent, nothing else (an
    ``analyse`` function reads nothing else: its map is parsed here as the caller's
    ``notice.skymap`` would parse it)."""
    from .alerts import AlertType, Event, Format, Notice

    event = Event(
        time=None,
        far=None,
        significant=None,
        instruments=(),
        group=None,
        pipeline=None,
        search=None,
        classification={},
        properties={},
        mchirp_source=None,
        duration=None,
        central_frequency=None,
        skymap_bytes=skymap,
    )
    return Notice(
        superevent_id=superevent_id,
        alert_type=AlertType(alert_type),
        time_created=time_created,
        event=event,
        external_coinc=None,
        urls={},
        format=Format(fmt),
        raw=b"",
        _record={},
        _hash=content_hash,
    )


#: Linux: the pipe to the worker holds a whole sky map (1 MiB, the unprivileged maximum), so
#: it is written at once instead of 64 KiB at a time, each waiting for the worker to run.
_PIPE_SIZE = 1 << 20


def _widen(pipe: Any) -> None:
    setpipe = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if setpipe is None or pipe is None:
        return
    try:
        fcntl.fcntl(pipe.fileno(), setpipe, _PIPE_SIZE)
    except OSError:  # a lower pipe-max-size: the default size works, a little slower
        pass


class _Worker:
    """One analysis process (``python -m gwalert.budget``: a fresh interpreter, nothing of the
    caller's ``__main__`` re-run, no fork of the listener's threads) and its pipes: frames of
    an 8-byte length and a pickle each way."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gwalert.budget"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
            env={**os.environ, ENV: "0"},  # inside the worker: analyse in process
        )
        _widen(self.process.stdin)
        self.ready = False

    def alive(self) -> bool:
        return self.process.poll() is None

    def call(self, request: Any, limit: float) -> Any:
        if not self.ready:  # the imports are not part of the budget
            if _read_frame(self.process, time.monotonic() + READY_TIMEOUT) != "ready":
                raise EOFError("the analysis process did not start")
            self.ready = True
        data = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        assert self.process.stdin is not None
        self.process.stdin.write(struct.pack("<Q", len(data)))
        self.process.stdin.write(data)
        self.process.stdin.flush()
        return _read_frame(self.process, time.monotonic() + limit)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(30)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


#: Seconds a new analysis process may take to import numpy, astropy and gwalert.
READY_TIMEOUT = 120.0


def _read_frame(process: subprocess.Popen[bytes], deadline: float) -> Any:
    """One frame from the worker, or :class:`TimeoutError` past ``deadline``."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    buf = b""
    need = 8
    size: int | None = None
    while True:
        while len(buf) < need:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(fd, max(need - len(buf), 1 << 16))
            if not chunk:
                raise EOFError("the analysis process died")
            buf += chunk
        if size is None:
            size = struct.unpack("<Q", buf[:8])[0]
            buf, need = buf[8:], size
            continue
        return pickle.loads(buf[:size])  # noqa: S301 - our own child process


def _warm_up() -> None:
    """Analyse a small generated 3-D map once before saying ready: what the analysis imports
    on first use (``SkyMap`` and numpy, the volume code) and its first-call costs are paid
    outside the budget, not by the first notice of a fresh worker (a loaded machine could push
    a real notice past a tight budget). The analysis is named as a request names it."""
    from .samples import gaussian_skymap

    notice = _rebuilt("S000000warm", "PRELIMINARY", None, "avro", "", gaussian_skymap(max_level=4))
    try:
        _resolve(*WARM_UP)(notice)
    except Exception as exc:  # noqa: BLE001 - a warm-up only: the real notices will say
        log.debug("analysis warm-up failed: %s", exc)


def _resolve(module: str, qualname: str) -> Any:
    """The module-level function a request names."""
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def _serve() -> None:
    """The worker: decode each notice again, analyse it, send the result (or the exception)."""
    global _in_worker
    _in_worker = True
    from . import budget  # this file run as __main__ is another module object than this one

    budget._in_worker = True

    for name in PRELOAD:
        importlib.import_module(name)
    _warm_up()
    gc.freeze()  # the modules live as long as the worker: out of the collector's full passes
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the frames

    def send(value: Any) -> None:
        try:
            data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - an unpicklable result or exception
            data = pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
        out.write(struct.pack("<Q", len(data)) + data)
        out.flush()

    send("ready")
    stdin = sys.stdin.buffer
    while True:
        head = stdin.read(8)
        if len(head) < 8:
            return
        (size,) = struct.unpack("<Q", head)
        (module, qualname), *essentials = pickle.loads(stdin.read(size))  # noqa: S301
        try:
            result: Any = _resolve(module, qualname)(_rebuilt(*essentials))
        except Exception as exc:  # noqa: BLE001 - the caller raises it as if run there
            result = exc
        send(result)


if __name__ == "__main__":
    _serve()
