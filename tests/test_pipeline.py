"""``Pipeline.process``'s invariant (stored or dead-lettered, then acknowledged) and store
outages: a real PostgreSQL cut off behind a loopback TCP proxy (the machine's server is never
touched), retried with capped back-off, one log line per change of state, and SIGTERM while
the store is down exits 0 without acknowledging (the broker delivers the message again)."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading

import pytest
import sqlalchemy as sa
from tcp_proxy import TcpProxy
from waiting import GENEROUS, wait_until

from gwalert import samples
from gwalert.errors import StoreUnavailable
from gwalert.pipeline import Pipeline, run
from gwalert.sources.message import Message
from gwalert.store import Store, is_outage


def _message(i: int, source: str = "test") -> Message:
    rec = samples.make_record(
        "MS260401a", "UPDATE" if i else "PRELIMINARY", time_created=f"2026-04-01T00:{i:02d}:00Z"
    )
    return Message(samples.encode(rec), source, 0, i)


class ListSource:
    name = "list"

    def __init__(self, messages: list[Message]) -> None:
        self.messages_ = messages
        self.acked: list[Message] = []

    def messages(self, stop):
        for m in self.messages_:
            if stop.is_set():
                return
            yield m

    def commit(self, message: Message) -> None:
        self.acked.append(message)

    def close(self) -> None:
        pass


@pytest.fixture
def proxy():
    p = TcpProxy()
    yield p
    p.down()


@pytest.fixture
def proxied_url(postgres_url, proxy):
    return postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}") + "&connect_timeout=3"


# --------------------------------------------------------------------- content vs. outage
def test_content_errors_from_the_store_are_dead_letters(store):
    """A hook whose SQL the database refuses (ProgrammingError) or that fails otherwise: the
    message becomes a dead letter with the reason and can be acknowledged."""

    def bad_sql(conn, nid, notice, summary):
        conn.exec_driver_sql("SELECT no_such_column FROM gwalert_notices")

    message = _message(1)
    outcome = Pipeline(store, hooks=[bad_sql]).process(message)
    assert outcome.dead_letter_id is not None and not outcome.notices
    assert outcome.error.startswith("store refused the notice MS260401a UPDATE: ")
    assert store.counts()["notices"] == 0
    [dead] = store.iter_dead_letters()
    assert dead.error == outcome.error and dead.raw == message.value


def test_eager_pipeline_stores_each_notice_once_whoever_stored_it(store):
    """``eager`` (listen): a notice this pipeline has not seen is analysed without a look-up;
    stored before by someone else (a restart, another process) it is still a duplicate (the
    store transaction's look-up), its hooks not run; a later copy of one it stored is looked
    up first; either way one row per notice."""
    planned: list[int] = []
    looked: list[str] = []
    find = store.find_notice

    def counted(notice):
        looked.append(notice.alert_type)
        return find(notice)

    store.find_notice = counted  # type: ignore[method-assign]
    eager = Pipeline(store, hooks=[lambda conn, nid, n, s: planned.append(nid)], eager=True)
    first = Pipeline(store).process(_message(0))  # stored by another pipeline
    assert len(looked) == 1
    again = eager.process(_message(0, "other feed"))
    assert looked == ["PRELIMINARY"] and not again.new_ids
    assert [nid for nid, _, _ in again.notices] == first.new_ids and planned == []
    new = eager.process(_message(1))
    assert new.new_ids and planned == new.new_ids and len(looked) == 1
    copy = eager.process(_message(1, "other feed"))  # known here: looked up, not analysed
    assert not copy.new_ids and [nid for nid, _, _ in copy.notices] == new.new_ids
    assert len(looked) == 2 and planned == new.new_ids
    assert store.counts()["notices"] == 2


def test_outage_errors_are_told_apart():
    orig = Exception("x")
    assert is_outage(sa.exc.OperationalError("s", {}, orig))
    assert is_outage(sa.exc.InterfaceError("s", {}, orig))
    assert is_outage(sa.exc.DBAPIError("s", {}, orig, connection_invalidated=True))
    assert not is_outage(sa.exc.DataError("s", {}, orig))
    assert not is_outage(sa.exc.IntegrityError("s", {}, orig))
    assert not is_outage(sa.exc.ProgrammingError("s", {}, orig))
    assert not is_outage(ValueError("x"))


def test_sqlite_sql_errors_are_not_outages(tmp_path):
    """sqlite3 reports a missing column as an OperationalError; a locked database is one."""
    import sqlite3

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    with pytest.raises(sa.exc.OperationalError) as info, engine.connect() as conn:
        conn.exec_driver_sql("SELECT nothing FROM nowhere")
    assert not is_outage(info.value)
    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorcode = 5  # SQLITE_BUSY
    assert is_outage(sa.exc.OperationalError("s", {}, locked))
    engine.dispose()


# --------------------------------------------------------------------------- store outage
@pytest.mark.postgres
@pytest.mark.slow
def test_store_outage_is_waited_for_and_logged_once_per_change(proxied_url, proxy, caplog):
    caplog.set_level(logging.WARNING, "gwalert.pipeline")
    store = Store.open(proxied_url)
    attempts = []
    find_notice = store.find_notice

    def counted(notice):  # the real lookup, counted: each call is one attempt on the store
        attempts.append(1)
        return find_notice(notice)

    store.find_notice = counted  # type: ignore[method-assign]
    try:
        pipeline = Pipeline(store, retry_delay=0.05, max_retry_delay=0.2)
        assert pipeline.process(_message(0)).new_ids
        proxy.down()
        result: list = []
        worker = threading.Thread(
            target=lambda: result.append(pipeline.process(_message(1), threading.Event()))
        )
        before = len(attempts)
        worker.start()
        wait_until(lambda: len(attempts) >= before + 5, what="five attempts on the down store")
        assert worker.is_alive() and not result  # still waiting, nothing given up
        proxy.up()
        worker.join(GENEROUS)
        assert not worker.is_alive()
        assert result[0].new_ids and result[0].dead_letter_id is None
        assert store.counts()["notices"] == 2 and store.counts()["dead_letters"] == 0
    finally:
        store.close()
    lines = [r.getMessage() for r in caplog.records]
    assert sum("store unavailable" in line for line in lines) == 1, lines
    assert sum("store back" in line for line in lines) == 1, lines


@pytest.mark.postgres
@pytest.mark.slow
def test_stop_while_the_store_is_down_leaves_the_message_unacknowledged(proxied_url, proxy):
    store = Store.open(proxied_url)
    try:
        source = ListSource([_message(0), _message(1), _message(2)])
        pipeline = Pipeline(store, retry_delay=0.05, max_retry_delay=0.2)
        stop = threading.Event()
        pipeline.process(_message(0))
        proxy.down()

        def stop_once_waiting() -> None:  # stop while the pipeline waits out the outage
            wait_until(lambda: pipeline.retrying.down, what="the outage noticed")
            stop.set()

        threading.Thread(target=stop_once_waiting, daemon=True).start()
        done: list = []
        runner = threading.Thread(target=lambda: done.append(run(source, pipeline, stop)))
        runner.start()
        runner.join(GENEROUS)
        assert not runner.is_alive(), "run() did not return after stop was set"
        stats = done[0]
        # message 0 was already stored: a duplicate needs the store too, so nothing is acked
        assert stats.unacknowledged == 1 and source.acked == []
        with pytest.raises(StoreUnavailable):
            stopped = threading.Event()
            stopped.set()
            pipeline.process(_message(1), stopped)
        proxy.up()
        stats = run(ListSource(source.messages_), pipeline, threading.Event())
        assert (stats.new, stats.duplicates, stats.unacknowledged) == (2, 1, 0)
    finally:
        store.close()


# ----------------------------------------------------------------- the CLI on a real broker
@pytest.mark.broker
@pytest.mark.postgres
@pytest.mark.slow
def test_listen_sigterm_during_store_outage_exits_0_and_message_comes_again(
    kafka_broker, proxied_url, postgres_url, proxy, tmp_path
):
    from test_listen_kafka import FAST_GROUP, produce, topic

    name = topic()
    url = kafka_broker.url(name)
    out = tmp_path / "listen.out"
    direct = Store.open(postgres_url)

    def listener() -> subprocess.Popen:
        fh = open(out, "ab")  # noqa: SIM115 - owned by the child
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gwalert",
                "listen",
                url,
                "--no-auth",
                "--store",
                proxied_url,
                "--no-heartbeat",
                "--start-at",
                "earliest",
                "--group-id",
                "outage-test",
                *FAST_GROUP,
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
        )

    procs = []
    try:
        produce(kafka_broker.bootstrap, name, [_message(0).value])
        procs.append(listener())
        wait_until(lambda: direct.counts()["notices"] == 1, 60, "the first notice")
        proxy.down()
        produce(kafka_broker.bootstrap, name, [_message(1).value])
        wait_until(lambda: "store unavailable" in out.read_text(), what="the outage")
        procs[0].send_signal(signal.SIGTERM)
        assert procs[0].wait(120) == 0, out.read_text()
        text = out.read_text()
        assert "not acknowledged" in text and "Traceback" not in text
        assert text.count("store unavailable") == 1
        assert direct.counts()["notices"] == 1
        proxy.up()
        procs.append(listener())
        wait_until(lambda: direct.counts()["notices"] == 2, 60, "the redelivered notice")
        procs[1].send_signal(signal.SIGTERM)
        assert procs[1].wait(120) == 0
        assert direct.counts() == {"notices": 2, "dead_letters": 0, "superevents": 1}
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        direct.close()
