"""The durable store on SQLite (default) and PostgreSQL: dedupe, hooks in the transaction,
timeline, dead letters."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from gwalert import samples
from gwalert.alerts import decode
from gwalert.errors import GwalertError
from gwalert.store import Store


def _notice(
    alert_type: str = "PRELIMINARY",
    minute: int = 1,
    fmt: str = "avro",
    sid: str = "MS260101a",
    skymap: bytes | None = None,
):
    rec = samples.make_record(
        sid, alert_type, time_created=f"2026-01-01T00:{minute:02d}:00Z", skymap=skymap
    )
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
    assert store.add(_notice(fmt="json", skymap=skymap), source="gcn", hooks=[hook]) == (nid, False)
    assert calls == [nid]
    rows = list(store.iter_notices())
    assert len(rows) == 1
    row = rows[0]
    assert row.raw == first.raw
    assert (row.superevent_id, row.alert_type, row.time_created) == (
        "MS260101a",
        "PRELIMINARY",
        "2026-01-01T00:01:00Z",
    )
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
    due = sa.Table(
        "rules_due_test", md, sa.Column("notice_id", sa.Integer), sa.Column("action", sa.String(20))
    )
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
        "INITIAL",
        "PRELIMINARY",
        "RETRACTION",
        "UPDATE",
    ]


def test_dead_letters_kept_once(store: Store) -> None:
    assert store.add_dead_letter(b"\x00junk", "not a notice", "k", 0, 5) == (1, True)
    assert store.add_dead_letter(b"\x00junk", "not a notice", "k", 0, 5) == (1, False)
    assert store.add_dead_letter(b"\x00junk", "not a notice", "k", 0, 6)[1]
    assert store.add_dead_letter(b"\x00junk", "x", "file:a", None, None)[1]
    assert not store.add_dead_letter(b"\x00junk", "x", "file:a", None, None)[1]
    rows = list(store.iter_dead_letters())
    assert [(r.raw, r.offset) for r in rows] == [
        (b"\x00junk", 5),
        (b"\x00junk", 6),
        (b"\x00junk", None),
    ]
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


# ------------------------------------------------------------------ values any store accepts
def _odd_notice():
    """A notice whose values SQLite or PostgreSQL used to refuse."""
    import json

    doc = json.loads(
        samples.encode(
            samples.make_record(
                "MS260701a", pipeline="gst\ud800lal", search="All\x00Sky", group="G" * 40
            ),
            "json",
        )
    )
    doc["time_created"] = "9999-12-31T23:59:59-01:00"
    doc["event"]["classification"]["BNS"] = "NAN"
    doc["event"]["far"] = "INF"
    text = json.dumps(doc).replace('"NAN"', "NaN").replace('"INF"', "Infinity")
    return decode(text.encode())[0]


def test_unstorable_values_are_normalised(store: Store) -> None:
    notice = _odd_notice()
    summary = {
        "superevent_id": notice.superevent_id,
        "far": float("nan"),
        "area_90": 1e400,
        "ra": float("inf"),
        "group": "g\x00" * 40,
        "nested": {"x": [float("-inf"), 2**70]},
        "text": "\udfff",
    }
    seen: list[dict] = []
    nid, new = store.add(
        notice,
        source="s\x00" * 400,
        partition=2**40,
        offset=2**70,
        summary=summary,
        hooks=[lambda c, i, n, s: seen.append(s)],
    )
    assert new
    row = store.get_notice(nid)
    assert row.time_created == "9999-12-31T23:59:59-01:00"
    assert row.far is None and row.area_90 is None and row.ra is None
    assert row.group == "g\ufffd" * 15 + "g\u2026" and len(row.group) == 32
    assert row.summary["nested"] == {"x": [None, str(2**70)]}
    assert row.summary["text"] == "\ufffd"
    assert len(row.source) == 512 and "\x00" not in row.source
    assert row.offset is None and row.partition is None  # beyond the columns' 32/64 bits
    assert seen == [row.summary]  # hooks see what is stored
    assert store.add(notice, source="again") == (nid, False)  # the same identity again
    # and the notice's own summary: NaN/inf from the sender are None, warnings kept
    nid2, _ = store.add(decode(notice.raw.replace(b"MS260701a", b"MS260701b"))[0], source="s")
    row2 = store.get_notice(nid2)
    assert row2.far is None and row2.pipeline == "gst\ufffdlal" and row2.search == "All\ufffdSky"
    assert any("event.far is not a finite number" in w for w in row2.warnings)
    assert "BNS" not in row2.summary["classification"]


def test_dead_letter_reason_and_source_are_normalised(store: Store) -> None:
    dl_id, new = store.add_dead_letter(
        b"\x00", "bad \x00 reason \ud800", "src\x00" * 200, 2**40, 2**70
    )
    assert new
    [row] = store.iter_dead_letters()
    assert row.error == "bad \ufffd reason \ufffd" and len(row.source) == 512


def test_time_created_order_survives_out_of_range_times(store: Store) -> None:
    import json

    for created in (
        "2026-01-01T00:00:00Z",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+01:00",
    ):
        doc = json.loads(samples.encode(samples.make_record("MS260702a", "UPDATE"), "json"))
        doc["time_created"] = created
        store.add(decode(json.dumps(doc).encode())[0], source="s")
    ev = store.get_superevent("MS260702a")
    assert ev.latest_time_created == "9999-12-31T23:59:59-01:00" and ev.n_notices == 3


@pytest.mark.slow
def test_old_store_without_warnings_column_still_opens(request, tmp_path) -> None:
    """A store created before the ``warnings`` column existed gets it when opened."""
    for kind in ("sqlite", "postgres"):
        if kind == "sqlite":
            url = str(tmp_path / "old.sqlite")
        else:
            try:
                url = request.getfixturevalue("postgres_url")
            except pytest.skip.Exception:
                continue
        from gwalert.store import metadata, normalize_url

        old = sa.MetaData()
        for table in metadata.sorted_tables:
            cols = [c.copy() for c in table.columns if c.name != "warnings"]
            sa.Table(table.name, old, *cols)
        engine = sa.create_engine(normalize_url(url))
        old.create_all(engine)
        with engine.begin() as conn:
            assert "warnings" not in {
                c["name"] for c in sa.inspect(conn).get_columns("gwalert_notices")
            }
        engine.dispose()
        store = Store.open(url)
        try:
            notice = decode(
                samples.encode(samples.make_record(search=None), "json").replace(
                    b'"search": null, ', b""
                )
            )[0]
            assert notice.warnings == ("missing field event.search",)
            nid, _ = store.add(notice, source="s")
            assert store.get_notice(nid).warnings == ["missing field event.search"]
            nid, _ = store.add(_notice(), source="s")
            assert store.get_notice(nid).warnings is None
        finally:
            store.close()
        Store.open(url).close()  # and again: nothing to add
