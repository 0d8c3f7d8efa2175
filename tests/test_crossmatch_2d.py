"""The 2-D crossmatch against ligo.skymap's, on random multi-order maps and hard positions.

Maps: random tilings of the sky (orders 0 to 13, rows sorted by NUNIQ or not), densities with
exact ties, near ties (a few ulp apart), zeros, or smooth; maps with holes (positions in no
row: NaN, as ligo.skymap's missing rows). Positions: random, the corners, edge midpoints and
centres of the map's own rows at every order it holds, the poles, the caps' boundary
|z| = 2/3, RA 0 / 360 / whole turns away. For each: ``SkyMap.crossmatch`` without distance
against ``ligo.skymap.postprocess.crossmatch`` (searched_prob, searched_area, probdensity,
offset) and ``credible_area`` against its ``contour_areas``; the per-position methods
(searched_prob, searched_area, probdensity_at, rows_at) against the crossmatch; the offset
against astropy's separation (to 2e-13 deg).
"""

from __future__ import annotations

import warnings

import astropy_healpix as ah
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gwalert.skymap import SkyMap
from gwalert.skymap.healpix import pixel_area_sr, uniq_to_level_ipix

warnings.filterwarnings("ignore", category=DeprecationWarning)
ligo_crossmatch = pytest.importorskip("ligo.skymap.postprocess.crossmatch")
Table = pytest.importorskip("astropy.table").Table
SkyCoord = pytest.importorskip("astropy.coordinates").SkyCoord

CONTOURS = (0.1, 0.5, 0.9, 0.99)


def random_tiling(rng: np.random.Generator, top: int) -> np.ndarray:
    """NUNIQ of a random tiling of the sky: pixels split at random down to ``top``."""
    level, ipix, out = 0, np.arange(12), []
    while ipix.size:
        split = rng.random(ipix.size) < (rng.uniform(0.2, 0.6) if level < top else 0.0)
        out.append(ipix[~split] + (4 << (2 * level)))
        ipix = (ipix[split][:, None] * 4 + np.arange(4)).ravel()
        level += 1
    return np.sort(np.concatenate(out).astype(np.int64))


def densities(rng: np.random.Generator, uniq: np.ndarray, kind: str) -> np.ndarray:
    n = uniq.size
    if kind == "ties":
        dens = rng.choice(rng.random(4) + 0.1, n)
    elif kind == "near":  # a few ulp apart: the packed sort must fall back
        dens = 1.0 + rng.integers(0, 6, n) * 2.0**-52
    elif kind == "zeros":
        dens = np.where(rng.random(n) < 0.5, 0.0, rng.exponential(1.0, n))
    else:
        lv, ip = uniq_to_level_ipix(uniq)
        lon, lat = ah.healpix_to_lonlat(ip, 1 << lv, order="nested")
        dens = np.exp(-0.5 * ((lat.deg - rng.uniform(-80, 80)) / 10) ** 2) + 1e-6
    return dens / np.sum(dens * pixel_area_sr(uniq_to_level_ipix(uniq)[0]))


def positions(rng: np.random.Generator, uniq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lv, ip = uniq_to_level_ipix(uniq)
    pick = rng.integers(0, uniq.size, 300)
    ras, decs = [rng.uniform(0, 360, 2000)], [np.degrees(np.arcsin(rng.uniform(-1, 1, 2000)))]
    for dx in (0.0, 0.5, 1.0):
        for dy in (0.0, 0.5, 1.0):
            lon, lat = ah.healpix_to_lonlat(ip[pick], 1 << lv[pick], order="nested", dx=dx, dy=dy)
            ras.append(lon.deg)
            decs.append(lat.deg)
    cap = np.degrees(np.arcsin(2 / 3))
    ra_g, dec_g = np.meshgrid(np.arange(0, 360, 7.5), [90, -90, cap, -cap, 0.0, 45.0])
    ras += [ra_g.ravel(), ras[1] + 360.0 * rng.integers(-2, 3, ras[1].size)]
    decs += [dec_g.ravel(), decs[1]]
    return np.concatenate(ras), np.concatenate(decs)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    top=st.integers(0, 13),
    kind=st.sampled_from(["smooth", "ties", "near", "zeros"]),
    holes=st.booleans(),
    shuffled=st.booleans(),
)
@pytest.mark.slow
def test_crossmatch_2d_matches_ligo_skymap(seed, top, kind, holes, shuffled):
    rng = np.random.default_rng(seed)
    uniq = random_tiling(rng, top)
    dens = densities(rng, uniq, kind)
    if holes and uniq.size > 4:  # rows left out: positions there are in no row
        keep = rng.random(uniq.size) > 0.1
        uniq, dens = uniq[keep], dens[keep]
    if shuffled:
        order = rng.permutation(uniq.size)
        uniq, dens = uniq[order], dens[order]
    sm = SkyMap(uniq=uniq, probdensity=dens)
    ra, dec = positions(rng, uniq)
    ref = ligo_crossmatch.crossmatch(
        Table({"UNIQ": uniq, "PROBDENSITY": dens}),
        SkyCoord(ra, dec, unit="deg"),
        contours=CONTOURS,
    )
    ours = sm.crossmatch(ra, dec)
    # positions in no row: NaN here, some neighbouring row's numbers in ligo.skymap
    rows = np.asarray(sm.rows_at(ra, dec))
    inside = rows >= 0
    assert holes or inside.all()
    for key in ("searched_prob", "searched_area", "probdensity"):
        mine = getattr(ours, key)
        assert np.array_equal(np.isnan(mine), ~inside)
        np.testing.assert_allclose(
            mine[inside], np.asarray(getattr(ref, key))[inside], rtol=1e-12, err_msg=key
        )
    # the offset from the most probable pixel: ligo.skymap takes the arccos of the cosine,
    # off by up to ~sqrt(eps) rad (1.2e-6 deg seen) near zero offset
    np.testing.assert_allclose(ours.offset, ref.offset, rtol=1e-9, atol=1e-5)
    np.testing.assert_allclose(sm.credible_area(CONTOURS), ref.contour_areas, rtol=1e-12)
    # the per-position methods give the crossmatch's numbers
    np.testing.assert_array_equal(sm.searched_prob(ra, dec)[inside], ours.searched_prob[inside])
    np.testing.assert_array_equal(sm.searched_area(ra, dec)[inside], ours.searched_area[inside])
    np.testing.assert_array_equal(sm.probdensity_at(ra, dec)[inside], ours.probdensity[inside])
    np.testing.assert_array_equal(sm.probdensity[rows[inside]], ours.probdensity[inside])


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 3000), top=st.integers(0, 29))
def test_uniq_to_level_ipix_matches_astropy_healpix(seed, n, top):
    """Sorted (one run per level, found by search) and unsorted NUNIQ, orders 0 to 29."""
    rng = np.random.default_rng(seed)
    level = rng.integers(0, top + 1, n)
    ipix = (rng.random(n) * (12.0 * 4.0**level)).astype(np.int64)
    uniq = np.unique(ipix + (4 << (2 * level)))
    for u in (uniq, rng.permutation(uniq)):
        got = uniq_to_level_ipix(u)
        want = ah.uniq_to_level_ipix(u)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), top=st.integers(0, 11))
def test_offset_is_astropys_separation(seed, top):
    """The offset from the mode against astropy's ``separation`` (Vincenty's formula): within
    2e-13 deg everywhere, the mode itself, its neighbourhood, its antipode and the poles
    included (ligo.skymap's own arccos is off by up to ~1e-6 deg near zero)."""
    from gwalert.skymap.credible import mode

    rng = np.random.default_rng(seed)
    uniq = random_tiling(rng, top)
    sm = SkyMap(uniq=uniq, probdensity=densities(rng, uniq, "smooth"))
    ra0, dec0 = mode(sm)
    ra, dec = positions(rng, uniq)
    close = rng.normal(0.0, 1e-6, (2, 500))
    ra = np.concatenate([ra, ra0 + close[0], ra0 + 180.0 + close[0], [ra0, ra0 + 180.0, 0.0]])
    dec = np.concatenate(
        [dec, np.clip(dec0 + close[1], -90, 90), np.clip(-dec0 + close[1], -90, 90)]
        + [[dec0, -dec0, 90.0]]
    )
    ref = SkyCoord(ra0, dec0, unit="deg").separation(SkyCoord(ra, dec, unit="deg")).deg
    np.testing.assert_allclose(sm.crossmatch(ra, dec).offset, ref, rtol=0, atol=2e-13)
