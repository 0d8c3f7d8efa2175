"""Positions exactly on pixel edges get ligo.skymap's pixel.

ligo.skymap's ``crossmatch`` looks targets up with healpy's ``ang2pix(nside, pi/2 - dec, ra,
nest=True)`` at the map's deepest order (not astropy-healpix, whose ``lonlat_to_healpix``
breaks ties on edges differently: thousands of the edge points below). Our ang2pix rounds
differently in the bulk and must give healpy's pixel on every edge, corner, cap boundary,
pole and round RA/Dec grid point, at every level, directly and through the crossmatch.
"""

from __future__ import annotations

import astropy.units as u
import astropy_healpix as ah
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import shared_file
from gwalert.skymap.healpix import ang2pix_nested
from gwalert.skymap.map import SkyMap

hp = pytest.importorskip("healpy")


def _reference(level: int, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """ligo.skymap's look-up: SkyCoord's radians, healpy's nested ang2pix."""
    c = SkyCoord(ra * u.deg, dec * u.deg)
    return hp.ang2pix(1 << level, 0.5 * np.pi - c.dec.rad, c.ra.rad, nest=True)


def _edge_points(level: int, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Corners, edge midpoints and centres of random pixels at ``level`` and of all pixels
    of the coarse levels, as astropy-healpix places them."""
    nside = 1 << level
    npix = 12 * nside * nside
    ipix = np.arange(npix) if npix <= n else rng.integers(0, npix, n)
    ras, decs = [], []
    for dx in (0.0, 0.5, 1.0):
        for dy in (0.0, 0.5, 1.0):
            lon, lat = ah.healpix_to_lonlat(ipix, nside, order="nested", dx=dx, dy=dy)
            ras.append(lon.deg)
            decs.append(lat.deg)
    return np.concatenate(ras), np.concatenate(decs)


def _round_grid() -> tuple[np.ndarray, np.ndarray]:
    """Integer and half-integer degrees, the poles, RA 0 and the caps' boundary z = ±2/3."""
    ra, dec = np.meshgrid(np.arange(0, 360, 0.5), np.arange(-90, 90.5, 0.5))
    cap = np.degrees(np.arcsin(2 / 3))
    ra_c, dec_c = np.meshgrid(np.arange(0, 360, 0.25), [cap, -cap, 90.0, -90.0, 0.0])
    return np.concatenate([ra.ravel(), ra_c.ravel()]), np.concatenate([dec.ravel(), dec_c.ravel()])


@pytest.mark.parametrize("level", range(0, 30))
def test_edges_and_round_grids_give_the_reference_pixel(level):
    rng = np.random.default_rng(100 + level)
    ra_e, dec_e = _edge_points(level, rng, 3000)
    ra_g, dec_g = _round_grid()
    ra = np.concatenate([ra_e, ra_g])
    dec = np.concatenate([dec_e, dec_g])
    np.testing.assert_array_equal(ang2pix_nested(level, ra, dec), _reference(level, ra, dec))


@settings(max_examples=200, deadline=None)
@given(
    level=st.integers(0, 29),
    seed=st.integers(0, 2**32 - 1),
    dx=st.sampled_from([0.0, 0.5, 1.0]),
    dy=st.sampled_from([0.0, 0.5, 1.0]),
    deeper=st.integers(0, 6),
)
def test_edge_points_at_any_level_and_coarser_lookups(level, seed, dx, dy, deeper):
    """A corner or edge point of a pixel at ``level``, looked up at ``level`` and deeper (the
    edge then lies inside the finer grid too) and coarser: healpy's pixel each time."""
    nside = 1 << level
    ipix = np.random.default_rng(seed).integers(0, 12 * nside * nside, 16)
    lon, lat = ah.healpix_to_lonlat(ipix, nside, order="nested", dx=dx, dy=dy)
    ra, dec = lon.deg, lat.deg
    for lv in {level, min(29, level + deeper), max(0, level - deeper)}:
        np.testing.assert_array_equal(ang2pix_nested(lv, ra, dec), _reference(lv, ra, dec))


@pytest.mark.parametrize("level", [0, 2, 7, 13, 21, 29])
def test_ra_outside_0_360_is_wrapped_as_ligo_skymap_does(level):
    """Edge points and round grids with RA shifted by whole turns (and RA 360, -0.0, a tiny
    negative RA): ligo.skymap's SkyCoord wraps RA into [0, 360) before the look-up."""
    rng = np.random.default_rng(200 + level)
    ra_e, dec_e = _edge_points(level, rng, 2000)
    turns = rng.integers(-3, 4, ra_e.size) * 360.0
    ra = np.concatenate([ra_e + turns, [360.0, -0.0, -1e-300, 720.0, -360.0, 1e300]])
    dec = np.concatenate([dec_e, [0.0, 41.8103148958, 0.0, -41.8103148958, 90.0, 30.0]])
    np.testing.assert_array_equal(ang2pix_nested(level, ra, dec), _reference(level, ra, dec))


@settings(max_examples=100, deadline=None)
@given(
    ra=st.lists(st.floats(-1000, 1000), min_size=1, max_size=20),
    dec=st.floats(-90, 90),
    level=st.integers(0, 29),
)
def test_any_position(ra, dec, level):
    ra_a = np.asarray(ra)
    dec_a = np.full(ra_a.size, dec)
    np.testing.assert_array_equal(
        ang2pix_nested(level, ra_a, dec_a), _reference(level, ra_a, dec_a)
    )


@pytest.mark.slow
def test_crossmatch_on_edges_matches_ligo_skymap():
    """SkyMap.crossmatch, searched_prob, probdensity_at and contains at the corners and edges
    of the map's own rows (every level it holds) and on round grids, against ligo.skymap's
    crossmatch on the real BAYESTAR map."""
    from astropy.table import Table
    from ligo.skymap.postprocess.crossmatch import crossmatch as ligo_crossmatch

    path = shared_file("skymaps", "bayestar.multiorder.fits")
    sm = SkyMap.read(path)
    table = Table.read(path)
    level, ipix = ah.uniq_to_level_ipix(np.asarray(table["UNIQ"]))
    pick = np.random.default_rng(5).integers(0, level.size, 3000)
    ras, decs = [], []
    for dx in (0.0, 0.5, 1.0):
        for dy in (0.0, 0.5, 1.0):
            lon, lat = ah.healpix_to_lonlat(
                ipix[pick], ah.level_to_nside(level[pick]), order="nested", dx=dx, dy=dy
            )
            ras.append(lon.deg)
            decs.append(lat.deg)
    ra_g, dec_g = _round_grid()
    ra = np.concatenate([*ras, ras[0] - 360.0, ras[4] + 720.0, ra_g])
    dec = np.concatenate([*decs, decs[0], decs[4], dec_g])
    ref = ligo_crossmatch(table, SkyCoord(ra * u.deg, dec * u.deg))
    ours = sm.crossmatch(ra, dec)
    for key in ("searched_prob", "searched_area", "probdensity"):
        np.testing.assert_allclose(
            np.asarray(getattr(ours, key)), np.asarray(getattr(ref, key)), rtol=1e-12, err_msg=key
        )
    np.testing.assert_array_equal(sm.searched_prob(ra, dec), ours.searched_prob)
    np.testing.assert_array_equal(sm.probdensity_at(ra, dec), ours.probdensity)
    np.testing.assert_array_equal(sm.contains(ra, dec, 0.9), np.asarray(ref.searched_prob) <= 0.9)


@settings(max_examples=150, deadline=None)
@given(
    level=st.integers(0, 29),
    seed=st.integers(0, 2**32 - 1),
    dx=st.sampled_from([0.0, 0.5, 1.0]),
    dy=st.sampled_from([0.0, 0.5, 1.0]),
    coarser=st.integers(0, 9),
    turns=st.booleans(),
)
def test_lookup_pair_is_healpys_pixel_at_its_level_and_coarser(level, seed, dx, dy, coarser, turns):
    """The look-up's own path: RA wrapped, ``positions``' one-tangent sines and cosines,
    ``ang2ab_scaled`` told RA is in range (``in_range``), the pair shifted to a coarser level
    in one shift: healpy's pixel at corners, edge midpoints and centres of pixels at
    ``level`` and on the round grids (poles, cap boundary, RA 0), at ``level`` and coarser."""
    from gwalert.skymap.arrays import wrap_ra
    from gwalert.skymap.healpix import ab_to_nested, ang2ab_scaled, in_range, positions

    rng = np.random.default_rng(seed)
    ra_e, dec_e = _edge_points(level, rng, 400)
    ra_g, dec_g = _round_grid()
    pick = rng.integers(0, ra_g.size, 3000)
    ra = np.concatenate([ra_e, ra_g[pick], [0.0, 359.99999999999994, 90.0, 180.0]])
    dec = np.concatenate([dec_e, dec_g[pick], [90.0, -90.0, 0.0, -41.8103148958]])
    if turns:  # RA given whole turns away: wrapped as ligo.skymap's SkyCoord wraps it
        ra = ra + 360.0 * rng.integers(-2, 3, ra.size)
    ra = wrap_ra(ra)
    h, z, cos_dec = positions(ra, dec)
    reduced = in_range(float(ra.max()))
    a, b, sub = ang2ab_scaled(level, h, z, cos_dec, dec, reduced=reduced)
    for k in {0, min(coarser, level)}:
        got = ab_to_nested(level - k, a >> (sub + k), b >> (sub + k))
        np.testing.assert_array_equal(got, _reference(level - k, ra, dec), err_msg=f"k={k}")
