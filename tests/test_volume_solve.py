"""The credible-volume solve (``VolumeModel.solve``) against its own exact evaluation: the
bracketing grid's first nodes come from the rows' prefix totals, Newton finishes, and the last
step may skip its evaluation; whatever the path, the returned (u, V) must be where P(u) = p
and V must be V(u). On generated maps a row can start (at its peak density) right at the
solution, where P bends like a square root and the last Newton step is good to ~1e-7 only;
on real maps the agreement is ~1e-10."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_skymap_differential import DIST_KINDS, make_map

from conftest import shared_file
from gwalert.samples import write_skymap
from gwalert.skymap import SkyMap

LEVELS = [1e-6, 0.01, 0.1, 0.5, 0.68, 0.9, 0.99, 0.999]


def check_solve(sm: SkyMap, levels: list[float], tol: float) -> None:
    vm = sm.volume_model
    solved = vm.solve(levels)
    for p, (u, V) in zip(levels, solved, strict=True):
        if p >= vm.total:
            assert (u, V) == (-math.inf, math.inf)
            continue
        P, V_exact, _ = vm.evaluate(u)
        # The solve stops at a bracket of 1e-14 |u|: P may change by more than tol there.
        step = 2e-14 * max(1.0, abs(u))
        resolved = vm.evaluate(u - step)[0] - vm.evaluate(u + step)[0] <= tol * p
        if resolved:
            assert abs(P - p) <= tol * p, (p, u, P)
            assert abs(V - V_exact) <= 10 * tol * V_exact, (p, V, V_exact)
        alone = vm.solve([p])[0][1]  # each level alone: the same volume, to the bit
        assert alone == V, (p, alone, V)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 2**31),
    st.integers(0, 3),
    st.integers(0, 9),
    st.sampled_from([k for k in DIST_KINDS if k != "none"]),
    st.booleans(),
)
@pytest.mark.slow
def test_solve_lands_on_the_level(seed, base, top, kind, tied):
    uniq, dens, mu, sigma, norm = make_map(seed, base, max(base, top), kind, tied)
    sm = SkyMap.read(write_skymap(uniq, dens, distmu=mu, distsigma=sigma, distnorm=norm))
    check_solve(sm, LEVELS, 1e-6)


@pytest.mark.slow
def test_solve_on_bayestar_map():
    sm = SkyMap.read(shared_file("skymaps", "bayestar.multiorder.fits"))
    check_solve(sm, LEVELS + list(np.linspace(0.02, 0.98, 13)), 1e-9)
