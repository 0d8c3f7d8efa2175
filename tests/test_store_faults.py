"""Store faults classified right (issue 16, item 4), on real components.

- A PostgreSQL database turned read-only (``default_transaction_read_only``, what a hot
  standby answers: SQLSTATE 25006) mid-stream: an outage, waited out (one "store unavailable"
  line, one "store back" line, no SQL or message bytes in the log), nothing dead-lettered.
- A SQLite store whose directory is removed under a running ``gwalert listen`` (tansu): exit 1
  with one line, and a restart on a new store with the same group receives every message that
  was not stored before.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
import threading
import uuid

import pytest
import sqlalchemy as sa
from waiting import wait_until

from gwalert import samples
from gwalert.pipeline import Pipeline
from gwalert.sources.message import Message
from gwalert.store import Store, is_outage

ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _message(i: int) -> Message:
    rec = samples.make_record(
        "MS260501a", "UPDATE" if i else "PRELIMINARY", time_created=f"2026-05-01T00:{i:02d}:00Z"
    )
    return Message(samples.encode(rec), "test", 0, i)


@pytest.fixture
def throwaway_database():
    """A database created for the test (and dropped after it), so that it can be made
    read-only without touching anyone else's."""
    name = f"gwalert_ro_{uuid.uuid4().hex[:10]}"
    try:
        admin = sa.create_engine(
            ADMIN, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"cannot create a PostgreSQL database on 127.0.0.1:5432: {exc}")

    def read_only(on: bool) -> None:
        with admin.connect() as conn:
            value = "on" if on else "off"
            conn.exec_driver_sql(
                f'ALTER DATABASE "{name}" SET default_transaction_read_only = {value}'
            )
            # the setting applies to new sessions: end the current ones (the store reconnects)
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )

    yield f"postgresql://postgres@127.0.0.1:5432/{name}", read_only
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.mark.postgres
def test_read_only_postgres_is_an_outage_waited_out(throwaway_database, caplog) -> None:
    url, read_only = throwaway_database
    caplog.set_level(logging.INFO, "gwalert")
    store = Store.open(url)
    try:
        # the error a read-only database answers is an outage, not a refusal
        read_only(True)
        with pytest.raises(sa.exc.DBAPIError) as info:
            with store.engine.begin() as conn:
                conn.exec_driver_sql("CREATE TABLE nope (x int)")
        assert getattr(info.value.orig, "sqlstate", None) == "25006"
        assert is_outage(info.value)
        read_only(False)

        pipeline = Pipeline(store, retry_delay=0.05, max_retry_delay=0.3)
        assert pipeline.process(_message(0)).new_ids
        read_only(True)
        result: list = []
        worker = threading.Thread(
            target=lambda: result.append(pipeline.process(_message(1), threading.Event()))
        )
        worker.start()
        wait_until(lambda: "store unavailable" in caplog.text, 120, "the outage to be noticed")
        assert worker.is_alive() and not result
        read_only(False)
        worker.join(60)
        assert not worker.is_alive()
        assert result[0].new_ids and result[0].dead_letter_id is None
        assert store.counts()["notices"] == 2 and store.counts()["dead_letters"] == 0
    finally:
        store.close()
    lines = [r.getMessage() for r in caplog.records]
    assert sum("store unavailable" in line for line in lines) == 1, lines
    assert sum("store back" in line for line in lines) == 1, lines
    down = next(line for line in lines if "store unavailable" in line)
    assert "read-only" in down and "\n" not in down
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not any("[SQL:" in w or "parameters" in w or "MS260501a" in w for w in warned), warned


@pytest.mark.broker
@pytest.mark.slow
def test_sqlite_directory_removed_under_listen(kafka_broker, tmp_path) -> None:
    from test_listen_kafka import FAST_GROUP, notice, produce, stored

    name = f"igwn.gwalert-{uuid.uuid4().hex[:8]}"
    url = kafka_broker.url(name)
    total = 40
    values = [notice(i) for i in range(total)]
    produce(kafka_broker.bootstrap, name, values[:1])
    store_dir = tmp_path / "store"
    out = tmp_path / "listen.out"
    group = ["--group-id", f"g-{uuid.uuid4().hex[:6]}"]
    base = [sys.executable, "-m", "gwalert", "listen", url, "--no-auth", "--no-heartbeat"]
    with open(out, "wb") as fh:
        listener = subprocess.Popen(
            [
                *base,
                "--store",
                str(store_dir / "s.sqlite"),
                "--start-at",
                "earliest",
                *group,
                *FAST_GROUP,
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    feeder = threading.Thread(
        target=produce, args=(kafka_broker.bootstrap, name, values[1:]), kwargs={"pace": 0.05}
    )
    try:
        wait_until(lambda: out.read_text().count("new ") >= 1, 120, "the first notice")
        feeder.start()
        wait_until(lambda: out.read_text().count("new ") >= 5, 120, "a few notices")
        shutil.rmtree(store_dir)
        assert listener.wait(60) == 1
    finally:
        if listener.poll() is None:
            listener.kill()
        feeder.join(120)
    text = out.read_text()
    errors = [line for line in text.splitlines() if line.startswith("gwalert:")]
    assert len(errors) == 1 and "deleted" in errors[0], text[-2000:]
    assert "Traceback" not in text
    acked = {
        (int(p), int(o)) for p, o in re.findall(r"^new \d+ \S+ \S+ \S+\[(\d+)\]@(\d+)", text, re.M)
    }
    assert 5 <= len(acked) < total
    again = subprocess.run(
        [*base, "--store", str(tmp_path / "new.sqlite"), "--until-eos", *group, *FAST_GROUP],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    # every message (partition, offset) was stored and acknowledged before the deletion or is
    # in the new store: nothing acknowledged was lost with the deleted file
    again_rows = stored(tmp_path / "new.sqlite")
    assert len(acked | {(r.partition, r.offset) for r in again_rows}) == total
    assert len({r.time_created for r in again_rows}) == len(again_rows)


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_sqlite_file_deleted_or_replaced_stops_the_pipeline(tmp_path, how) -> None:
    """A new inode at the store's path, or no file at all: the pipeline raises StoreLost
    (never a dead letter, never an acknowledgement) for the next message."""
    from gwalert.errors import StoreLost

    path = tmp_path / "s.sqlite"
    store = Store.open(str(path))
    try:
        pipeline = Pipeline(store)
        assert pipeline.process(_message(0)).new_ids
        if how == "deleted":
            for p in tmp_path.glob("s.sqlite*"):
                p.unlink()
        else:
            other = Store.open(str(tmp_path / "other.sqlite"))
            other.close()
            (tmp_path / "other.sqlite").replace(path)
        with pytest.raises(StoreLost, match=how):
            pipeline.process(_message(1))
    finally:
        store.close()
