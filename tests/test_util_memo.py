"""util.memo: a per-instance cached property (Notice.skymap's), with no lock across instances."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
from waiting import GENEROUS

from gwalert.util import memo


@dataclass(frozen=True)
class Thing:
    name: str
    gate: threading.Event
    entered: threading.Event

    @memo
    def value(self) -> str:
        """The expensive part."""
        self.entered.set()
        assert self.gate.wait(GENEROUS), "the other instance's first use never ran"
        return self.name.upper()


def test_two_instances_compute_at_once_and_each_keeps_its_value():
    """The first use of one instance waits until another instance's first use has started:
    with one lock for the class (functools.cached_property on Python 3.11) it never would."""
    a_in, b_in = threading.Event(), threading.Event()
    a = Thing("a", gate=b_in, entered=a_in)
    b = Thing("b", gate=a_in, entered=b_in)
    got: dict[str, str] = {}
    t = threading.Thread(target=lambda: got.setdefault("a", a.value))
    t.start()
    assert a_in.wait(GENEROUS)
    assert b.value == "B"
    t.join(GENEROUS)
    assert got == {"a": "A"} and a.value == "A" and b.value == "B"
    assert a.__dict__["value"] == "A"  # kept with the instance (a frozen dataclass)
    assert Thing.value.__doc__ == "The expensive part."


def test_a_failed_first_use_is_not_kept():
    calls: list[int] = []

    class Flaky:
        @memo
        def value(self) -> int:
            calls.append(1)
            if len(calls) == 1:
                raise ValueError("first time")
            return len(calls)

    f = Flaky()
    with pytest.raises(ValueError):
        _ = f.value
    assert f.value == 2 and f.value == 2 and len(calls) == 2
