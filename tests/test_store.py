"""The durable store on SQLite (default) and PostgreSQL: dedupe, hooks in the transaction,
timeline, dead letters."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from gwalert import samples
from gwalert.errors import GwalertError
from gwalert.notice import decode
from gwalert.store import Store


def _notice(alert_type: str = "PRELIMINARY", minute: int = 1, fmt: str = "avro",
            sid: str = "MS260101a", skymap: bytes | None = None):
    rec = samples.make_record(sid, alert_type, time_created=f"2026-01-01T00:{minute:02d}:00Z",
                              skymap=skymap)
    return decode(samples.encode(rec, fmt))[0]


@pytest.fixture(scope="module")
def skymap() -> bytes:
    return samples.gaussian_skymap(max_level=5)


def test_add_then_duplicate_is_recognised(store: Store, skymap: bytes) -> None:
    calls: list[int] = []

    def hook(conn, notice_id, notice, summary) -> None:
        calls.append(notice_id)

    first = _notice(skymap=skymap)
    nid, new = store.add(first, source="kafka://x/t", partition=2, offset=7, hooks=[hook])
    assert new and calls == [nid]
    # The same notice again, and in GCN's JSON form: stored once, hook not called again.
    assert store.add(_notice(skymap=skymap), source="again", hooks=[hook]) == (nid, False)
    assert store.add(_notice(fmt="json", skymap=skymap), source="gcn", hooks=[hook]) == (nid,
                                                                                        False)
    assert calls == [nid]
    rows = list(store.iter_notices())
    assert len(rows) == 1
    row = rows[0]
    assert row.raw == first.raw
    assert (row.superevent_id, row.alert_type, row.time_created) == (
        "MS260101a", "PRELIMINARY", "2026-01-01T00:01:00Z")
    assert (row.source, row.partition, row.offset) == ("kafka://x/t", 2, 7)
    assert row.received_at.endswith("Z")
    assert row.summary["distmean"] == pytest.approx(150.0)
    assert row.ra == pytest.approx(120.0, abs=2)
    assert decode(row.raw)[0].content_hash == first.content_hash


def test_changed_content_is_a_new_notice(store: Store) -> None:
    a = decode(samples.encode(samples.make_record(far=1e-9), "avro"))[0]
    b = decode(samples.encode(samples.make_record(far=2e-9), "avro"))[0]
    assert store.add(a, source="s")[1] and store.add(b, source="s")[1]
    assert store.counts()["notices"] == 2


def test_hook_failure_stores_nothing(store: Store) -> None:
    def bad(conn, notice_id, notice, summary) -> None:
        raise RuntimeError("rules engine broke")

    with pytest.raises(RuntimeError):
        store.add(_notice(), source="s", hooks=[bad])
    assert store.counts() == {"notices": 0, "dead_letters": 0, "superevents": 0}
    # Delivered again later, it is new.
    assert store.add(_notice(), source="s")[1]


def test_hook_writes_commit_with_the_notice(store: Store) -> None:
    md = sa.MetaData()
    due = sa.Table("rules_due_test", md, sa.Column("notice_id", sa.Integer),
                   sa.Column("action", sa.String(20)))
    md.create_all(store.engine)

    def hook(conn, notice_id, notice, summary) -> None:
        conn.execute(due.insert().values(notice_id=notice_id, action="email"))

    nid, _ = store.add(_notice(), source="s", hooks=[hook])
    store.add(_notice(), source="s", hooks=[hook])
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(due.c.notice_id)).scalars().all() == [nid]


def test_superevent_timeline(store: Store) -> None:
    store.add(_notice("INITIAL", 20), source="s")
    store.add(_notice("PRELIMINARY", 1), source="s")  # arrives late: not the latest
    ev = store.get_superevent("MS260101a")
    assert ev.latest_alert_type == "INITIAL" and not ev.retracted and ev.n_notices == 2
    store.add(_notice("RETRACTION", 50), source="s")
    store.add(_notice("UPDATE", 40), source="s")
    ev = store.get_superevent("MS260101a")
    assert ev.retracted and ev.latest_alert_type == "RETRACTION" and ev.n_notices == 4
    assert [r.superevent_id for r in store.iter_superevents()] == ["MS260101a"]
    assert [r.alert_type for r in store.iter_notices("MS260101a", with_raw=False)] == [
        "INITIAL", "PRELIMINARY", "RETRACTION", "UPDATE"]


def test_dead_letters_kept_once(store: Store) -> None:
    assert store.add_dead_letter(b"\x00junk", "not a notice", "k", 0, 5) == (1, True)
    assert store.add_dead_letter(b"\x00junk", "not a notice", "k", 0, 5) == (1, False)
    assert store.add_dead_letter(b"\x00junk", "not a notice", "k", 0, 6)[1]
    assert store.add_dead_letter(b"\x00junk", "x", "file:a", None, None)[1]
    assert not store.add_dead_letter(b"\x00junk", "x", "file:a", None, None)[1]
    rows = list(store.iter_dead_letters())
    assert [(r.raw, r.offset) for r in rows] == [(b"\x00junk", 5), (b"\x00junk", 6),
                                                 (b"\x00junk", None)]
    assert rows[0].error == "not a notice"


def test_concurrent_writers_store_once(tmp_path) -> None:
    path = str(tmp_path / "c.sqlite")
    Store.open(path).close()
    notices = [_notice(t, m) for t, m in (("PRELIMINARY", 1), ("INITIAL", 20), ("UPDATE", 40))]
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def work() -> None:
        store = Store.open(path)
        try:
            for n in notices * 3:
                results.append(store.add(n, source="t"))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(new for _, new in results) == 3
    store = Store.open(path)
    assert store.counts()["notices"] == 3
    store.close()


def test_default_store_is_sqlite_wal_in_user_data_dir(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("GWALERT_STORE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    store = Store.open()
    try:
        assert store.engine.url.database.startswith(str(tmp_path / "data"))
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    finally:
        store.close()


def test_unopenable_store_is_one_clear_error(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(GwalertError, match="store"):
        Store.open(str(blocker / "sub" / "s.sqlite"))
    with pytest.raises(GwalertError, match="cannot open store"):
        Store.open("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
