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
from gwalert.skymap.healpix import pixel_center, uniq_to_level_ipix

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


def test_solve_on_bayestar_map():
    sm = SkyMap.read(shared_file("skymaps", "bayestar.multiorder.fits"))
    check_solve(sm, LEVELS + list(np.linspace(0.02, 0.98, 13)), 1e-9)


def _real_3d_maps() -> list[tuple[str, SkyMap]]:
    """Every 3-D map in ../shared: the sky-map files and the notices' maps (the Fermi-combined
    ones included)."""
    from conftest import SHARED
    from gwalert.alerts import read_notice

    maps = []
    folder = SHARED / "skymaps"
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            sm = SkyMap.read(path)
            if sm.has_distance:
                maps.append((path.name, sm))
    notices = SHARED / "notices"
    for name in ("MS181101ab-ext-update.avro", "MS230425l-preliminary.json"):
        if (notices / name).exists():
            notice = read_notice(notices / name)
            for kind, sm in (("event", notice.skymap), ("combined", notice.combined_skymap)):
                if sm is not None and sm.has_distance:
                    maps.append((f"{name} {kind}", sm))
    return maps


@pytest.mark.slow  # ~13 s of CPU: five maps x 100,000 targets
def test_interpolated_levels_on_every_real_map():
    """100,000 targets per real 3-D map (the interpolated path, as a user's galaxy catalogue
    takes it), against the exact closed form at 3,000 of them: |dP| <= 2e-3 for 99.9% and
    never above 1e-2 (the issue's bound), searched_vol within 3%."""
    maps = _real_3d_maps()
    if not maps:
        pytest.skip("no 3-D map in ../shared")
    rng = np.random.default_rng(20)
    n = 100_000
    for name, sm in maps:
        ra = rng.uniform(0, 360, n)
        dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
        # a third of the targets at the densest rows' centres: high 3-D densities too
        lv, ip = uniq_to_level_ipix(sm.uniq)
        top = np.argsort(sm.probdensity)[::-1][: n // 3]
        for k, i in enumerate(top):
            ra[k], dec[k] = pixel_center(int(lv[i]), int(ip[i]))
        scale = sm.distmean or float(np.nanmedian(sm.distmu))
        dist = rng.uniform(1, 3 * scale, n)
        res = sm.crossmatch(ra, dec, dist)
        vm = sm.volume_model
        with np.errstate(divide="ignore"):
            u = np.log(np.asarray(res.probdensity_vol))
        live = np.flatnonzero(np.isfinite(u) & (u < vm.lnc_max))
        check = rng.choice(live, size=min(3000, live.size), replace=False)
        P, V, _ = vm.evaluate_many(u[check], derivative=False)
        err = np.abs(res.searched_prob_vol[check] - P)
        assert err.max() <= 1e-2, (name, err.max())
        assert np.mean(err <= 2e-3) >= 0.999, (name, np.sort(err)[-5:])
        np.testing.assert_allclose(res.searched_vol[check], V, rtol=0.03, err_msg=name)
