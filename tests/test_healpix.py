"""The exact pixel centre that ``gwalert parse`` uses agrees with astropy-healpix bit for bit."""

from __future__ import annotations

import astropy_healpix as ah
import numpy as np
import pytest

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
