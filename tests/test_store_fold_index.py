"""The superevent fold reads its notices through an index (``ix_gwalert_notices_fold``), never
their rows: on SQLite the columns after ``raw`` lie past the raw bytes' overflow pages, so each
stored notice used to cost a walk through its ~1 MB (34 ms per store at 100 notices of one
superevent). Stores created before the index get it when opened, SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from gwalert.store import Store
from gwalert.store.fold import FOLD_COLUMNS
from gwalert.store.notices import notices

INDEX = "ix_gwalert_notices_fold"


def _indexes(store: Store) -> dict[str, list[str]]:
    return {
        ix["name"]: list(ix["column_names"])
        for ix in sa.inspect(store.engine).get_indexes("gwalert_notices")
    }


def test_an_older_store_gets_the_index_when_opened(store: Store) -> None:
    assert _indexes(store)[INDEX] == list(FOLD_COLUMNS)
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"DROP INDEX {INDEX}")  # as a store made before it was defined
    url = store.engine.url.render_as_string(hide_password=False)
    assert INDEX not in _indexes(store)
    again = Store.open(url)
    try:
        assert _indexes(again)[INDEX] == list(FOLD_COLUMNS)
    finally:
        again.close()


def test_sqlite_fold_reads_only_the_index(sqlite_store: Store) -> None:
    c = notices.c
    query = sa.select(*(c[name] for name in FOLD_COLUMNS[1:])).where(c.superevent_id == "S1")
    sql = str(query.compile(sqlite_store.engine, compile_kwargs={"literal_binds": True}))
    with sqlite_store.engine.connect() as conn:
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert f"COVERING INDEX {INDEX}" in plan
