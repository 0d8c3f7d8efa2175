"""The exact pixel centre that ``gwalert parse`` uses agrees with astropy-healpix bit for bit."""

from __future__ import annotations

import astropy_healpix as ah
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwalert.skymap.healpix import (
    level_ipix_to_uniq,
    pixel_area_sr,
    pixel_center,
    uniq_to_level_ipix,
)


@pytest.mark.parametrize("level", range(0, 7))
def test_every_pixel_of_low_orders(level):
    nside = 2**level
    ipix = np.arange(12 * nside * nside)
    lon, lat = ah.healpix_to_lonlat(ipix, nside, order="nested")
    ours = np.array([pixel_center(level, p) for p in ipix])
    np.testing.assert_array_equal(ours[:, 0], lon.deg)
    np.testing.assert_array_equal(ours[:, 1], lat.deg)


def test_random_pixels_up_to_order_29():
    rng = np.random.default_rng(7)
    for level in range(7, 30):
        nside = 2**level
        ipix = rng.integers(0, 12 * nside * nside, 300)
        ipix = np.concatenate([ipix, [0, 12 * nside * nside - 1, 4 * nside * nside]])
        lon, lat = ah.healpix_to_lonlat(ipix, nside, order="nested")
        ours = np.array([pixel_center(level, int(p)) for p in ipix])
        np.testing.assert_array_equal(ours[:, 0], lon.deg)
        np.testing.assert_array_equal(ours[:, 1], lat.deg)


def test_uniq_round_trip_matches_astropy():
    rng = np.random.default_rng(8)
    level = rng.integers(0, 30, 5000)
    ipix = (rng.random(5000) * 12 * 4.0**level).astype(np.int64)
    uniq = level_ipix_to_uniq(level, ipix)
    np.testing.assert_array_equal(uniq, ah.level_ipix_to_uniq(level, ipix))
    got_level, got_ipix = uniq_to_level_ipix(uniq)
    ref_level, ref_ipix = ah.uniq_to_level_ipix(uniq)
    np.testing.assert_array_equal(got_level, ref_level)
    np.testing.assert_array_equal(got_ipix, ref_ipix)


def test_pixel_area():
    np.testing.assert_allclose(
        pixel_area_sr(np.arange(10)), [ah.nside_to_pixel_area(2**lv).value for lv in range(10)]
    )


def test_out_of_range():
    with pytest.raises(ValueError):
        pixel_center(2, 12 * 16)
    with pytest.raises(ValueError):
        uniq_to_level_ipix([3])


def _positions(rng: np.random.Generator, level: int) -> tuple[np.ndarray, np.ndarray]:
    """Random positions, positions on pixel edges in RA and on the cap boundaries (z = ±2/3),
    the poles and RA values outside [0, 360)."""
    nside = 1 << level
    n = 20000
    ra = np.concatenate(
        [
            rng.uniform(0, 360, n),
            rng.integers(0, 4 * nside, n) * (90.0 / nside),
            rng.uniform(-720, 720, 2000),
            [0.0, 359.99999999999994, 360.0, -1e-300],
        ]
    )
    z = rng.choice([2 / 3, -2 / 3, 0.0, 0.5, -0.99, 1.0, -1.0], n)
    dec = np.concatenate(
        [
            np.degrees(np.arcsin(rng.uniform(-1, 1, n))),
            np.degrees(np.arcsin(z)),
            rng.uniform(-90, 90, 2000),
            [90.0, -90.0, 41.8103148958, 0.0],
        ]
    )
    return ra, dec


@pytest.mark.parametrize("level", [0, 1, 3, 6, 9, 12, 18, 24, 29])
def test_ang2pix_matches_astropy_and_coarser_levels_are_shifts(level):
    """Our ang2pix (x, y, face) against astropy-healpix's nested index; x, y at any
    coarser level are the bits at ``level`` shifted right (the look-up's dense index relies on
    it)."""
    import astropy.units as u

    from gwalert.skymap.healpix import ang2xyf_rad, xyf_to_nested
    from gwalert.skymap.special import sin_cos_dec

    rng = np.random.default_rng(level)
    ra, dec = _positions(rng, level)
    z, cd = sin_cos_dec(dec)
    face, ix, iy = ang2xyf_rad(level, np.radians(ra), z, cd, dec)
    # astropy-healpix breaks ties on exact pixel edges its own way (HEALPix's formula here,
    # as before): compared on the random positions only
    rand = slice(0, 20000)
    ref = ah.lonlat_to_healpix(ra[rand] * u.deg, dec[rand] * u.deg, 1 << level, order="nested")
    np.testing.assert_array_equal(xyf_to_nested(level, face[rand], ix[rand], iy[rand]), ref)
    for coarse in range(0, level, max(1, level // 6)):
        fc, xc, yc = ang2xyf_rad(coarse, np.radians(ra), z, cd, dec)
        d = level - coarse
        np.testing.assert_array_equal(fc, face)
        np.testing.assert_array_equal(xc, ix >> d)
        np.testing.assert_array_equal(yc, iy >> d)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), pole=st.floats(1e-300, 1.0))
def test_sin_cos_dec_within_4e_16_of_the_exact_values(seed, pole):
    """sin(Dec) and cos(Dec) from one tangent, against long double sinl/cosl of the exact
    Dec: absolute error below 4e-16 everywhere (poles, equator, tiny angles), the sine also
    relatively accurate."""
    from gwalert.skymap.special import sin_cos_dec

    if np.finfo(np.longdouble).eps > 1e-18:
        pytest.skip("the reference needs an extended-precision long double")
    rng = np.random.default_rng(seed)
    dec = np.concatenate(
        [
            rng.uniform(-90, 90, 50_000),
            90 - rng.uniform(0, pole, 2000),
            -90 + rng.uniform(0, pole, 2000),
            rng.uniform(-pole, pole, 2000),
            [90.0, -90.0, 0.0, -0.0, 45.0, 1e-300, 89.99999999999999, np.degrees(np.arcsin(2 / 3))],
        ]
    )
    s, c = sin_cos_dec(dec)
    exact = dec.astype(np.longdouble) * (np.longdouble(np.pi) / 180)  # pi to ~1e-16: below
    exact += dec.astype(np.longdouble) * (np.longdouble(1.2246467991473532e-16) / 180)
    ref_s, ref_c = np.sin(exact), np.cos(exact)
    assert float(np.max(np.abs(s - ref_s))) < 4e-16
    assert float(np.max(np.abs(c - ref_c))) < 4e-16
    assert np.all(np.abs(s - ref_s) <= 6e-16 * np.abs(ref_s))


@settings(max_examples=40, deadline=None)
@given(level=st.integers(0, 29), seed=st.integers(0, 2**32 - 1))
def test_nested_to_ab_inverts_ab_to_nested(level, seed):
    """A pixel's own pair (the look-up's dense index is scattered by it) gives the pixel back,
    and the wrapped copy of base pixel 4 at quadrants (4, 4) names the same pixels."""
    from gwalert.skymap.healpix import ab_to_nested, nested_to_ab

    nside = 1 << level
    rng = np.random.default_rng(seed)
    ipix = rng.integers(0, 12 * nside * nside, 5000)
    ipix[:12] = np.arange(12) * nside * nside  # every base pixel
    a, b = nested_to_ab(level, ipix)
    assert a.min() >= 0 and b.min() >= 0 and a.max() < 5 * nside and b.max() < 5 * nside
    np.testing.assert_array_equal(ab_to_nested(level, a.copy(), b.copy()), ipix)
    four = ipix >> (2 * level) == 4
    np.testing.assert_array_equal(
        ab_to_nested(level, a[four] + 4 * nside, b[four] + 4 * nside), ipix[four]
    )
