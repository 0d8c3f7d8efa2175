"""The fast path of many targets' 3-D levels (``VolumeModel.evaluate_many(fast=True)``): the
fast erf over its whole domain, the bound of the ``FAR_FAST`` threshold (rows that far above a
density count with their whole probability), the far rows' volume shortcut, and fast against
exact evaluation on generated maps."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_skymap_differential import DIST_KINDS, make_map

from gwalert.samples import write_skymap
from gwalert.skymap import SkyMap
from gwalert.skymap.special import FAST_ERF_ERROR, erf_fast_nonneg
from gwalert.skymap.volume_rows import FAR, FAR_FAST, main_part

stats = pytest.importorskip("scipy.stats")


def _erf(x: np.ndarray) -> np.ndarray:
    return np.array([math.erf(v) for v in np.asarray(x, float).ravel()]).reshape(np.shape(x))


def test_fast_erf_on_a_dense_grid():
    """Every interval of the table (1/256 wide, up to 6.5) and beyond, at 40 points each."""
    x = np.linspace(0.0, 7.0, 7 * 256 * 40 + 1)
    x = np.concatenate([x, np.nextafter(np.arange(1, 7 * 256) / 256, 0)])  # interval ends
    assert np.max(np.abs(erf_fast_nonneg(x) - _erf(x))) <= FAST_ERF_ERROR
    inside = x[x < 6.4]  # the caller's bound skips the clamp: the same values
    assert np.array_equal(erf_fast_nonneg(inside, 6.4), erf_fast_nonneg(inside))


def test_fast_erf_edges_and_shape():
    assert erf_fast_nonneg(np.zeros(3)).tolist() == [0.0, 0.0, 0.0]  # rows at their peak: 0
    big = np.array([6.5, 8.0, 1e3, 1e200, np.finfo(float).max])
    assert erf_fast_nonneg(big).tolist() == [1.0] * big.size
    x = np.array([[0.1, 0.5], [2.0, 3.0]])
    out = erf_fast_nonneg(x)
    assert out.shape == (2, 2)
    assert np.max(np.abs(out - _erf(x))) <= FAST_ERF_ERROR
    assert x.tolist() == [[0.1, 0.5], [2.0, 3.0]]  # the input is not modified


@given(st.lists(st.floats(0.0, 1e6), min_size=1, max_size=50))
def test_fast_erf_any_nonnegative_values(values):
    x = np.array(values)
    assert np.max(np.abs(erf_fast_nonneg(x) - _erf(x))) <= FAST_ERF_ERROR


def _missing_fraction(x: np.ndarray, q: float) -> np.ndarray:
    """The part of a main row's probability outside its interval at q = ln(peak / rho), over
    its total, from the normal law (independent of the module's closed forms): the row's
    probability is the integral of (x + t)^2 phi(t) over t >= -x (t = (r - mu) / sigma)."""
    s = math.sqrt(2 * q)
    norm = stats.norm

    def antiderivative(t):  # of (x + t)^2 phi(t)
        return (x * x + 1) * norm.cdf(t) - (2 * x + t) * norm.pdf(t)

    upper = (x * x + 1) * norm.sf(s) + (2 * x + s) * norm.pdf(s)
    lower = np.where(x > s, antiderivative(-s) - antiderivative(-x), 0.0)  # r in [0, mu - sigma s]
    total = (x * x + 1) * norm.cdf(x) + x * norm.pdf(x)
    return (upper + lower) / total


@pytest.mark.parametrize(("threshold", "bound"), [(FAR_FAST, 8e-11), (FAR, 3.1e-17)])
def test_far_rows_miss_at_most_the_documented_fraction(threshold, bound):
    """Rows more than FAR_FAST (FAR) above a density count with their whole probability: the
    part they miss is at most 8e-11 (3e-17) of it, whatever mu / sigma (the worst is mu = 0)."""
    x = np.concatenate([np.linspace(0, 30, 30001), np.geomspace(30, 1e6, 500)])
    missing = _missing_fraction(x, threshold)
    assert missing.max() <= bound
    assert missing.max() > bound / 2  # the bound is the real worst case, not a loose one


def _generated(seed: int, base: int, top: int, kind: str, tied: bool) -> SkyMap:
    uniq, dens, mu, sigma, norm = make_map(seed, base, max(base, top), kind, tied)
    return SkyMap.read(write_skymap(uniq, dens, distmu=mu, distsigma=sigma, distnorm=norm))


maps_3d = st.tuples(
    st.integers(0, 2**31),
    st.integers(0, 3),
    st.integers(0, 9),
    st.sampled_from([k for k in DIST_KINDS if k != "none"]),
    st.booleans(),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(maps_3d, st.integers(0, 2**31))
def test_fast_evaluation_matches_exact(args, seed):
    """P within 1e-10 of the total (FAR_FAST: 8e-11, erf: 8e-12), V and dV/du to rounding,
    at densities from the peak down to far below every row."""
    vm = _generated(*args).volume_model
    if not math.isfinite(vm.lnc_max):
        return
    rng = np.random.default_rng(seed)
    u = vm.lnc_max - np.concatenate([rng.exponential(3.0, 20), rng.uniform(0, 200, 20)])
    P, V, dV = vm.evaluate_many(u, derivative=True)
    # one node at a time too: the far rows are those far above every node of a block
    Pf, Vf, dVf = (
        np.concatenate(c)
        for c in zip(
            *(vm.evaluate_many(u[i : i + 1], True, fast=True) for i in range(u.size)), strict=True
        )
    )
    assert np.max(np.abs(vm.evaluate_many(u, True, fast=True)[0] - P)) <= 1e-10 * vm.total
    assert np.max(np.abs(Pf - P)) <= 1e-10 * vm.total
    np.testing.assert_allclose(Vf, V, rtol=1e-12, atol=0)
    np.testing.assert_allclose(dVf, dV, rtol=1e-12, atol=0)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(maps_3d, st.floats(0.0, 60.0))
def test_far_volume_shortcut_matches_the_general_form(args, extra):
    """Far rows' V and dV/du (clipped cube, minus (xr - r)^3 of the few wide rows still
    unclipped) against the general form, on rows all at least FAR_FAST below their peak."""
    vm = _generated(*args).volume_model
    g = vm.main
    if g["lnc"].size == 0:
        return
    u = np.array([float(g["lnc"][-1]) - FAR_FAST - extra - 1e-9])  # every row far
    k = g["lnc"].size
    _, V, dV = main_part(g, u, 0, k, True, False, False)
    P0, Vf, dVf = main_part(g, u, 0, k, True, True, False)
    assert P0 == 0.0
    np.testing.assert_allclose(Vf, V, rtol=1e-12, atol=0)
    np.testing.assert_allclose(dVf, dV, rtol=1e-12, atol=0)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(maps_3d, st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_heavy_nodes_are_the_heaviest_rows_in_range(args, a, b):
    """The rows made nodes at their peak: inside the targets' range, holding more than
    _HEAVY_ROW, at most _HEAVY of them and none lighter than a heavy row left out."""
    from gwalert.skymap import volume_interp as vi

    vm = _generated(*args).volume_model
    if not math.isfinite(vm.lnc_max):
        return
    groups = (vm.main, vm.neg)
    total = np.concatenate([g["row_total"] for g in groups])
    with np.errstate(divide="ignore"):
        y = np.log(vm.lnc_max + np.concatenate([g["neg_peak"] for g in groups]))
    lo, hi = np.quantile(y[np.isfinite(y)], sorted([a, b])) if np.isfinite(y).any() else (0, 0)
    got = vi._heavy_nodes(vm, float(lo), float(hi))
    candidates = (total > vi._HEAVY_ROW) & (y > lo) & (y < hi)
    assert got.size == min(vi._HEAVY, int(candidates.sum()))
    assert np.all((got > lo) & (got < hi))
    chosen = np.isin(y, got) & candidates
    if got.size:
        left_out = candidates & ~chosen
        assert total[left_out].max(initial=0.0) <= total[chosen].min()
