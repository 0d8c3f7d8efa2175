"""How the ``gwalert`` process ends (the console script and ``python -m gwalert``).

A thread still running when the interpreter finalizes is ended by CPython (3.11 to 3.13) the
next time it takes the GIL, with ``pthread_exit``. When that happens inside C++ code that called
back into Python (matplotlib's font code reading its font file while drawing a sky map, say), the
forced unwinding reaches a frame that may not throw and the whole process aborts: SIGABRT,
"terminate called without an active exception", exit status -6, whatever the verb returned.

The verbs leave such threads behind only by design: an action still running past ``listen``'s
stop timeout (recorded as running and run again at the next start), a picture being drawn for
a request when ``serve`` is stopped at once, a consumer whose broker never answers its close.
So once the verb has returned and closed what it owns, :func:`leave` restores the default
actions of SIGINT and SIGTERM (one arriving now ends the process at once), waits for the
non-daemon threads (as the interpreter would) and, when other threads are still there, runs the
exit handlers, flushes the standard streams and ends the process with ``os._exit`` instead of
finalizing the interpreter under them. With no other thread it exits normally.

A thread counts while :func:`threading.enumerate` lists it, not by ``is_alive()``: a ``join``
interrupted by Ctrl-C (or a second SIGTERM) marks a thread that is still running as stopped.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from typing import NoReturn


def leave(code: int) -> NoReturn:
    """End the process with exit status ``code`` (see the module's docstring)."""
    for sig in (signal.SIGINT, signal.SIGTERM):  # a verb's handler must not raise in here
        signal.signal(sig, signal.SIG_DFL)
    me = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not me and not thread.daemon:
            thread.join()
    if not [t for t in threading.enumerate() if t is not me]:
        raise SystemExit(code)
    atexit._run_exitfuncs()  # what finalization runs first (logging's flush among them)
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more to say
            pass
    os._exit(code)
