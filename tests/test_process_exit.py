"""The ``gwalert`` process ends with the status its verb chose, never with SIGABRT.

CPython ends a thread still running at interpreter exit with ``pthread_exit`` the next time it
takes the GIL; inside matplotlib's font code (C++ calling back into Python) that aborts the
whole process: "terminate called without an active exception", exit status -6. Seen in the
teardown of ``gwalert serve`` (a map being drawn) and of ``gwalert listen --until-eos`` (an
action drawing a sky map past the stop timeout). ``gwalert.cli._process.leave`` ends such a
process without finalizing under the thread. This test puts a thread in exactly that state, at
varying moments, and check the exit status every time; ``GWALERT_LONG_TESTS=1`` repeats it 20
times.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from waiting import GENEROUS, wait_until

from gwalert import samples

LONG = os.environ.get("GWALERT_LONG_TESTS") == "1"

#: A module whose function draws a sky map again and again, touching ``marker`` after each
#: picture: a thread inside matplotlib's native code whenever the process ends.
DRAWER = """
import io
from pathlib import Path

def draw(notice, marker):
    sky = notice.skymap
    while True:
        sky.plot(io.BytesIO(), event=notice.superevent_id, alert_type="x", dpi=50)
        Path(marker).touch()
"""

RULES = """
[[rule]]
name = "drawing"
max_age = "100000d"

[[rule.action]]
type = "python"
callable = "drawer:draw"
kwargs = {{ marker = "{marker}" }}
timeout = 600
"""


@pytest.fixture
def drawer(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "drawer.py").write_text(DRAWER)
    return {**os.environ, "PYTHONPATH": str(tmp_path)}


def _no_abort(returncode: int, stderr: str, expected: int) -> None:
    assert "terminate called" not in stderr, stderr[-2000:]
    assert returncode == expected, f"exit status {returncode}: {stderr[-2000:]}"


@pytest.mark.slow
def test_listen_stopped_while_an_action_draws_exits_cleanly(tmp_path, drawer) -> None:
    """``listen --until-eos`` whose action still draws when it is told to stop: the process
    leaves with 130 (stopped while waiting for actions), never -6; the action stays in the
    ledger for the next start."""
    inbox = tmp_path / "in"
    inbox.mkdir()
    record = samples.make_record("MS260101a", skymap=samples.gaussian_skymap(max_level=4))
    (inbox / "a.avro").write_bytes(samples.encode(record))
    for i in range(20 if LONG else 1):
        marker = tmp_path / f"marker{i}"
        rules = tmp_path / f"rules{i}.toml"
        rules.write_text(RULES.format(marker=marker))
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gwalert",
                "listen",
                str(inbox),
                "--store",
                str(tmp_path / f"s{i}.sqlite"),
                "--config",
                str(rules),
                "--until-eos",
                "-q",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=drawer,
        )
        try:
            wait_until(marker.exists, what="the action drawing", procs=(proc,))
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=GENEROUS)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        _no_abort(proc.returncode, stderr, 130)
