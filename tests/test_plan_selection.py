"""Field selection: the MILP equals an exhaustive search on small instances, the greedy never
beats it, and the reported gap is honest (random maps and field layouts)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_plan_coverage import random_map

from gwalert.plan import coverage, footprints, selection, tiles, tiling


def small_instance(seed: int, n_fields: int, size: float):
    rng = np.random.default_rng(seed)
    sm = random_map(seed, 2, 20)
    ra0, dec0 = sm.most_probable()
    ra = (ra0 + rng.normal(0, size, n_fields)) % 360
    dec = np.clip(dec0 + rng.normal(0, size, n_fields), -89, 89)
    fp = footprints.rectangle(size, size * 0.8)
    integral = coverage.MapIntegral(sm)
    cells = coverage.footprint_cells(fp, ra, dec)
    return integral, cells, selection.incidence(integral, cells)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), n_fields=st.integers(2, 9), k=st.integers(1, 4))
def test_milp_equals_exhaustive_search_and_beats_greedy(seed, n_fields, k):
    integral, cells, inc = small_instance(seed, n_fields, 12.0)
    k = min(k, n_fields)
    best = 0.0
    for combo in itertools.combinations(range(n_fields), k):
        # the union straight from the fields' ranges, not from the atoms
        best = max(best, coverage.union_probability(integral, cells, np.array(combo)))
    sel = selection.select(inc, k, method="milp", time_limit=30)
    assert sel.method == "milp"
    assert sel.probability == pytest.approx(best, rel=1e-9, abs=1e-12)
    assert coverage.union_probability(integral, cells, np.array(sel.fields)) == pytest.approx(
        sel.probability, rel=1e-9, abs=1e-12
    )
    g = selection.select(inc, k, method="greedy")
    assert g.probability <= sel.probability + 1e-12
    # the bound is an upper bound and the gap says how far from it the answer may be
    assert sel.bound is not None and sel.bound >= best - 1e-9
    assert sel.gap is not None and 0 <= sel.gap <= 1e-6


def test_gap_is_honest_when_time_runs_out():
    """With a time limit too short to prove optimality, the bound still bounds the best
    solution found by any method and the gap is (bound - found) / bound."""
    sm = random_map(7, 3, 50)
    fp = footprints.rectangle(4, 4)
    grid = tiling.own_grid(fp)
    integral = coverage.MapIntegral(sm)
    cells = coverage.footprint_cells(fp, grid.ra, grid.dec)
    inc = selection.incidence(integral, cells)
    sel = selection.select(inc, 40, method="milp", time_limit=0.05)
    g = selection.select(inc, 40, method="greedy")
    assert sel.probability >= g.probability - 1e-12
    assert sel.bound is not None and sel.bound >= sel.probability - 1e-12
    assert sel.gap == pytest.approx((sel.bound - sel.probability) / sel.bound)
    assert coverage.union_probability(integral, cells, np.array(sel.fields)) == pytest.approx(
        sel.probability, rel=1e-9
    )


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(1, 30))
def test_tiles_cumulative_is_the_union(seed, n):
    sm = random_map(seed, 3, 30)
    fp = footprints.parse_fov("7")
    plan = tiles.plan_tiles(sm, fp, n, coverage_level=0.99)
    integral = coverage.MapIntegral(sm)
    cum = [t.cumulative for t in plan.tiles]
    assert cum == sorted(cum)
    assert len(plan.tiles) <= n
    ra = np.array([t.ra for t in plan.tiles])
    dec = np.array([t.dec for t in plan.tiles])
    cells = coverage.footprint_cells(fp, ra, dec)
    for k in range(1, len(plan.tiles) + 1):
        u = coverage.union_probability(integral, cells, np.arange(k))
        assert plan.tiles[k - 1].cumulative == pytest.approx(u, rel=1e-9, abs=1e-12)
    own = coverage.field_probabilities(integral, cells)
    assert np.allclose([t.probability for t in plan.tiles], own, rtol=1e-9, atol=1e-12)


def test_observed_fields_are_not_chosen_again():
    sm = random_map(3, 3, 30)
    fp = footprints.parse_fov("7")
    first = tiles.plan_tiles(sm, fp, 5, coverage_level=0.99)
    done = tiling.Grid(
        np.array([t.id for t in first.tiles[:3]], dtype=object),
        np.array([t.ra for t in first.tiles[:3]]),
        np.array([t.dec for t in first.tiles[:3]]),
    )
    again = tiles.plan_tiles(sm, fp, 5, coverage_level=0.99, observed=done)
    chosen = {(round(t.ra, 6), round(t.dec, 6)) for t in again.tiles}
    assert not chosen & {(round(t.ra, 6), round(t.dec, 6)) for t in first.tiles[:3]}
