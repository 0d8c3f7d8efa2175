"""Waiting in tests: for a condition, with a generous deadline, never for a fixed time.

The machine the suite runs on is small and shared (2 cores, often at load 8), so a test that
sleeps "long enough" or asserts that something happened "within N s" fails a correct build.
``wait_until`` polls a predicate until it holds; its deadline only bounds a broken build.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")

#: Deadline for "this must happen eventually": minutes, not seconds, so load never trips it.
GENEROUS = 120.0


def wait_until(
    predicate: Callable[[], T],
    timeout: float = GENEROUS,
    what: str = "the condition",
    procs: Iterable[Any] = (),
    *,
    interval: float = 0.05,
) -> T:
    """Poll ``predicate`` until it returns something true, and return that; fail (naming
    ``what``) after ``timeout`` s, or at once when one of ``procs`` (``subprocess.Popen``) has
    exited meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"{proc.args} exited ({proc.returncode}) waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def stays(predicate: Callable[[], object], seconds: float, what: str) -> None:
    """Check that ``predicate`` holds throughout ``seconds`` s (a negative check: something
    must NOT happen meanwhile). Load can only make such a check weaker, never fail it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert predicate(), f"{what} no longer holds"
        time.sleep(0.05)
