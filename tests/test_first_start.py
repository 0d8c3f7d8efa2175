"""First start with ``--start-at latest`` (issue 16, item 5): the launch is recorded in the
store before connecting, so a first run killed in its first moments (before its start marks)
is followed by a restart that reads from the first launch: a notice produced in between is
stored, one produced before the first launch is not. Real tansu broker, real processes."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
import uuid

import pytest
import sqlalchemy as sa
from test_listen_kafka import FAST_GROUP, notice, produce, stored
from waiting import GENEROUS, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def _rows(path, table: str) -> int:
    if not path.exists():
        return 0
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar() or 0)
    except sa.exc.OperationalError:  # not created yet
        return 0
    finally:
        engine.dispose()


@pytest.mark.parametrize("trial", range(3))
def test_first_start_killed_early_misses_nothing(kafka_broker, tmp_path, trial) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    name = f"igwn.gwalert-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap})
    for future in admin.create_topics([NewTopic(name, 1)]).values():
        future.result(GENEROUS)
    produce(kafka_broker.bootstrap, name, [notice(0)])  # before the first launch: not wanted
    # the launch time has a second's resolution (it errs early): launch over a second later
    produced = time.time()
    wait_until(lambda: time.time() > produced + 1.1, what="a second past the message")
    url = kafka_broker.url(name)
    store = tmp_path / "s.sqlite"
    base = [sys.executable, "-m", "gwalert", "listen", url, "--no-auth", "--no-heartbeat"]
    group = ["--group-id", f"g-{uuid.uuid4().hex[:6]}", "--store", str(store), *FAST_GROUP]
    first = subprocess.Popen([*base, *group], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while _rows(store, "gwalert_launches") == 0:
            assert time.monotonic() < deadline, "the first run never recorded its launch"
            assert first.poll() is None
            time.sleep(0.02)
        time.sleep(random.uniform(0.0, 1.0))  # somewhere in the window before the marks
        first.send_signal(signal.SIGKILL)
        first.wait(GENEROUS)
    finally:
        if first.poll() is None:
            first.kill()
    marked = _rows(store, "gwalert_start_marks")
    produce(kafka_broker.bootstrap, name, [notice(1)])  # after the launch, before the restart
    again = subprocess.run(
        [*base, *group, "--until-eos"], capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    times = sorted(r.time_created for r in stored(store))
    assert times == ["2026-01-01T01:00:01Z"], (times, marked, again.stderr[-1500:])
