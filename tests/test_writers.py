"""Many writers, one truth (issue 16): real processes storing random interleavings of notice
families into one PostgreSQL schema or one SQLite file, then every invariant checked
(tests/writers.py); the fold's independence of order as a property.

Classes of interleaving covered:
- ``test_concurrent_writers``: K (2-8) processes started at once on the same superevents;
  each copy (Avro from one source, JSON from another) handed to a random writer, some to two
  (duplicates racing each other), random order per writer, RETRACTIONs first or last, two
  notices of one superevent created at the same instant; new-superevent races (every writer's
  first notices are of superevents nobody stored yet).
- ``test_fold_is_order_independent``: every permutation class of one superevent's notices
  (hypothesis), on the fold alone.
- ``test_store_order_independent``: the same notices stored in two hypothesis-chosen orders
  into two stores give the same superevent rows (by notice identity).
GWALERT_LONG_TESTS=1: thousands of notices, 8 processes.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from writers import check_invariants, families, run_writers, schedules

from gwalert.store.fold import fold

LONG = bool(os.environ.get("GWALERT_LONG_TESTS"))


def _campaign(url: str, tmp_path, writers: int, n_superevents: int, seed: int) -> None:
    rng = random.Random(seed)
    fams = families(rng, n_superevents)
    plans = schedules(rng, fams, writers)
    results = run_writers(url, plans, tmp_path)
    assert sum(r.get("dead_letters", 0) for r in results) == 0, (seed, results)
    counts = check_invariants(url, fams, plans)
    assert counts["superevents"] == n_superevents, seed
    messages = sum(len(p) for p in plans)
    print(f"seed {seed}: {writers} writers, {messages} messages, {counts}")


def _url(kind: str, request, tmp_path) -> str:
    if kind == "postgres":
        return request.getfixturevalue("postgres_url")
    return str(tmp_path / "store.sqlite")


KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_concurrent_writers(kind, request, tmp_path) -> None:
    seed = int(os.environ.get("GWALERT_SEED") or random.SystemRandom().randrange(2**32))
    writers = random.Random(seed).randint(2, 4)
    _campaign(_url(kind, request, tmp_path), tmp_path, writers, 12, seed)


@pytest.mark.skipif(not LONG, reason="long campaign: set GWALERT_LONG_TESTS=1")
@pytest.mark.parametrize("kind", KINDS)
def test_concurrent_writers_long(kind, request, tmp_path) -> None:
    seed = int(os.environ.get("GWALERT_SEED") or random.SystemRandom().randrange(2**32))
    _campaign(_url(kind, request, tmp_path), tmp_path, 8, 500, seed)


# ------------------------------------------------------------------ the fold as a property
@dataclass(frozen=True)
class _N:
    id: int
    alert_type: str
    time_created: str
    content_hash: str
    received_at: str
    event_time: str | None


_notice = st.builds(
    lambda kind, minute, tag, rec: (kind, f"2026-01-01T00:{minute:02d}:00Z", tag, rec),
    st.sampled_from(["EARLYWARNING", "PRELIMINARY", "INITIAL", "UPDATE", "RETRACTION"]),
    st.integers(0, 5),  # few minutes: ties between notices created at the same instant
    st.text("0123456789abcdef", min_size=4, max_size=4),
    st.integers(0, 99),
)


def _key(state, content_of):
    """The fold with notice ids replaced by the notices' content (ids are arrival-ordered)."""
    d = state.row()
    d["latest_notice_id"] = content_of[d["latest_notice_id"]]
    if d["key_notice_id"] is not None:
        d["key_notice_id"] = content_of[d["key_notice_id"]]
    return d


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_notice, min_size=1, max_size=12, unique_by=lambda n: (n[0], n[1], n[2])), st.randoms()
)
def test_fold_is_order_independent(items, rnd) -> None:
    def stored(order):
        rows = [
            _N(i + 1, k, t, h, f"2026-01-02T00:00:{r:02d}Z", None if k == "RETRACTION" else t)
            for i, (k, t, h, r) in enumerate(order)
        ]
        return rows, {n.id: (n.alert_type, n.time_created, n.content_hash) for n in rows}

    a, content_a = stored(items)
    shuffled = list(items)
    rnd.shuffle(shuffled)
    b, content_b = stored(shuffled)
    fa, fb = fold("S1", a), fold("S1", b)
    assert fa is not None and fb is not None
    assert _key(fa, content_a) == _key(fb, content_b)
    assert fa.n_notices == len(items)
    assert fa.retracted == any(k == "RETRACTION" for k, *_ in items)
    latest = max(items, key=lambda n: (n[1], n[2], n[0]))
    assert (fa.latest_alert_type, fa.latest_time_created) == (latest[0], latest[1])


_record = st.tuples(
    st.sampled_from(["EARLYWARNING", "PRELIMINARY", "INITIAL", "UPDATE", "RETRACTION"]),
    st.integers(0, 3),
    st.sampled_from([1e-9, 2e-9, 3e-9]),
    st.sampled_from(["avro", "json"]),
)


@settings(max_examples=25, deadline=None)
@given(st.lists(_record, min_size=1, max_size=8), st.randoms())
def test_store_order_independent(records, rnd) -> None:
    """The same messages stored in two orders (Avro and JSON copies, duplicates) give the same
    superevent row, by notice identity."""
    from gwalert import samples
    from gwalert.alerts import decode
    from gwalert.store import Store

    raws = [
        samples.encode(
            samples.make_record("S260101a", k, time_created=f"2026-01-01T00:0{m}:00Z", far=far),
            fmt,
        )
        for k, m, far, fmt in records
    ]
    shuffled = list(raws)
    rnd.shuffle(shuffled)
    states = []
    for order in (raws, shuffled):
        store = Store.open("sqlite://")
        try:
            for raw in order:
                store.add(decode(raw)[0], source="s")
            ev = store.get_superevent("S260101a")
            ids = {
                n.id: (n.alert_type, n.time_created, n.content_hash)
                for n in store.iter_notices(with_raw=False)
            }
            states.append(
                (
                    ev.n_notices,
                    ids[ev.latest_notice_id],
                    bool(ev.retracted),
                    ids.get(ev.key_notice_id),
                )
            )
        finally:
            store.close()
    assert states[0] == states[1]
    assert states[0][0] == len(
        {(k, m, None if k == "RETRACTION" else far) for k, m, far, _ in records}
    )
