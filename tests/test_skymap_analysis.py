"""The sky-map analysis engine against ligo.skymap (the oracle) and against brute force.

ligo.skymap's crossmatch takes seconds on a 19,200-row 3-D map, so each map is crossmatched
once per module (fixtures ``oracle_*``) with all the targets the tests need.
"""

from __future__ import annotations

import io
import json
import math
import warnings

import numpy as np
import pytest

from conftest import shared_file
from gwalert.errors import SkyMapError
from gwalert.samples import gaussian_skymap, write_skymap
from gwalert.skymap import SkyMap
from gwalert.skymap.distance import conditional_moments
from gwalert.skymap.healpix import (
    SQDEG_PER_SR,
    level_ipix_to_uniq,
    pixel_area_sr,
    uniq_to_level_ipix,
)
from gwalert.skymap.moc import normalize_uniq

warnings.filterwarnings("ignore", category=DeprecationWarning)
ligo_io = pytest.importorskip("ligo.skymap.io")
ligo_crossmatch = pytest.importorskip("ligo.skymap.postprocess.crossmatch")
ligo_distance = pytest.importorskip("ligo.skymap.distance")

FULL_SKY = 4 * 180**2 / math.pi


def _targets(
    n: int, seed: int, around: tuple[float, float] | None = None, spread: float = 10.0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    if around is not None:
        half = n // 2
        ra[:half] = rng.normal(around[0], spread, half) % 360
        dec[:half] = np.clip(rng.normal(around[1], spread, half), -89.9, 89.9)
    return ra, dec


def _oracle(path, ra, dec, dist=None, contours=(0.5, 0.9)):
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    table = ligo_io.read_sky_map(str(path), moc=True)
    coords = (
        SkyCoord(ra * u.deg, dec * u.deg)
        if dist is None
        else SkyCoord(ra * u.deg, dec * u.deg, dist * u.Mpc)
    )
    return table, ligo_crossmatch.crossmatch(table, coords, contours=contours)


def _write(tmp_path_factory, name: str, data: bytes):
    path = tmp_path_factory.mktemp("maps") / name
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def bayestar():
    """The real BAYESTAR map, crossmatched once by ligo.skymap with 3-D targets."""
    path = shared_file("skymaps", "bayestar.multiorder.fits")
    sm = SkyMap.read(path)
    ra, dec = _targets(3000, 1, around=(38.8, -37.9), spread=8)
    dist = np.random.default_rng(2).uniform(5, 450, ra.size)
    table, result = _oracle(path, ra, dec, dist)
    return sm, table, result, ra, dec, dist


@pytest.fixture(scope="module")
def bayestar_map():
    """The real BAYESTAR map alone (no reference run: cheap)."""
    return SkyMap.read(shared_file("skymaps", "bayestar.multiorder.fits"))


@pytest.fixture(scope="module")
def notice_map(tmp_path_factory):
    """MS181101ab's order-11 map from the user guide's notice (2-D targets only: fast)."""
    from gwalert.alerts import read_notice

    notice = read_notice(shared_file("notices", "MS181101ab-preliminary.avro"))
    path = _write(tmp_path_factory, "ms181101ab.fits", notice.event.skymap_bytes)
    sm = SkyMap.read(path)
    ra, dec = _targets(2000, 3, around=(194.3, -17.9), spread=3)
    table, result = _oracle(path, ra, dec)
    return sm, table, result, ra, dec


@pytest.fixture(scope="module")
def built_maps(tmp_path_factory):
    """Maps the tests build: uniform, one hot pixel, Gaussian with mixed orders, 2-D."""
    maps = {}
    uniq = level_ipix_to_uniq(2, np.arange(192))
    maps["uniform"] = write_skymap(uniq, np.full(192, 1 / (4 * np.pi)))
    # One pixel holds everything; the rest of the sky is at zero, at mixed orders.
    hot = level_ipix_to_uniq(5, np.arange(4 * 5, 4 * 5 + 4))  # four level-5 children
    rest = np.setdiff1d(level_ipix_to_uniq(4, np.arange(3072)), [level_ipix_to_uniq(4, 5)])
    u1 = np.concatenate([rest, hot])
    dens = np.zeros(u1.size)
    dens[-3] = 1.0 / float(pixel_area_sr(5))
    maps["one_pixel"] = write_skymap(u1, dens)
    maps["gaussian"] = gaussian_skymap(120.0, -30.0, 5.0, distance=(150.0, 30.0), max_level=7)
    maps["gaussian_2d"] = gaussian_skymap(200.0, 40.0, 8.0, distance=None, max_level=6)
    out = {}
    for name, data in maps.items():
        path = _write(tmp_path_factory, f"{name}.fits", data)
        ra, dec = _targets(1500, 7, around=(120.0, -30.0) if "gauss" in name else None)
        if name == "gaussian":
            dist = np.random.default_rng(8).uniform(20, 300, ra.size)
            table, result = _oracle(path, ra, dec, dist)
        else:
            dist = None
            table, result = _oracle(path, ra, dec)
        out[name] = (SkyMap.read(path), table, result, ra, dec, dist)
    return out


# ------------------------------------------------------------------------------ numerics
def test_erf_erfcx_mills_match_scipy():
    special = pytest.importorskip("scipy.special")
    from gwalert.skymap.special import erf, erfcx, mills_ratio

    x = np.concatenate([np.linspace(-9, 9, 400001), [0.0, -0.0, np.inf, -np.inf]])
    assert np.max(np.abs(erf(x) - special.erf(x))) < 1e-15
    assert np.isnan(erf(np.array([np.nan, 1.0]))[0])
    y = np.concatenate([np.linspace(0, 60, 300001), [1e3, 1e8]])
    assert np.max(np.abs(erfcx(y) / special.erfcx(y) - 1)) < 1e-13
    t = np.linspace(0, 8, 1001)
    mills = special.ndtr(-t) / (np.exp(-t * t / 2) / np.sqrt(2 * np.pi))
    assert np.max(np.abs(mills_ratio(t) / mills - 1)) < 1e-12
    with pytest.raises(ValueError):
        erfcx(-1.0)


def test_ang2pix_matches_healpy_and_astropy_healpix():
    import astropy_healpix as ah
    import healpy as hp
    from astropy import units as u

    from gwalert.skymap.healpix import ang2pix_nested

    ra, dec = _targets(200000, 11)
    for level in (0, 1, 4, 8, 11, 16, 24):
        ours = ang2pix_nested(level, ra, dec)
        assert np.array_equal(ours, hp.ang2pix(1 << level, ra, dec, lonlat=True, nest=True))
        theirs = ah.lonlat_to_healpix(ra * u.deg, dec * u.deg, 1 << level, order="nested")
        assert np.array_equal(ours, theirs)
    # poles and the RA wrap
    edge_ra = np.array([0.0, 359.999999, 180.0, 45.0])
    edge_dec = np.array([90.0, -90.0, 89.9999, -41.81])
    assert np.array_equal(
        ang2pix_nested(9, edge_ra, edge_dec),
        hp.ang2pix(512, edge_ra, edge_dec, lonlat=True, nest=True),
    )


@pytest.mark.slow
def test_pixel_vectors_match_astropy_healpix():
    import astropy_healpix as ah

    from gwalert.skymap.vectors import pixel_vectors

    rng = np.random.default_rng(5)
    for level in (0, 1, 2, 3, 6, 11, 18, 29):
        ipix = np.arange(12 * 4**level) if level <= 3 else rng.integers(0, 12 * 4**level, 50000)
        for dx, dy in ((0.5, 0.5), (0, 0), (1, 1), (0, 1), (1, 0), (0.5, 0), (1, 0.5)):
            ours = pixel_vectors(level, ipix, dx, dy)
            lon, lat = ah.healpix_to_lonlat(ipix, 1 << level, dx=dx, dy=dy, order="nested")
            ref = np.stack(
                [
                    np.cos(lat.rad) * np.cos(lon.rad),
                    np.cos(lat.rad) * np.sin(lon.rad),
                    np.sin(lat.rad),
                ],
                axis=-1,
            )
            assert np.max(np.linalg.norm(ours - ref, axis=1)) < 1e-12
    # mixed levels in one call
    levels = np.array([0, 5, 11])
    ipix = np.array([7, 1000, 123456])
    mixed = pixel_vectors(levels, ipix)
    for i in range(3):
        np.testing.assert_allclose(
            mixed[i], pixel_vectors(levels[i], ipix[i : i + 1])[0], atol=1e-15
        )


def test_conditional_moments_match_ligo():
    mu = np.concatenate([np.linspace(-300, 3000, 500), [150.0, 0.0]])
    sigma = np.concatenate([np.full(500, 70.0), [1.0, 5.0]])
    mean, std = conditional_moments(mu, sigma)
    lmean, lstd, _ = ligo_distance.parameters_to_moments(mu, sigma)
    np.testing.assert_allclose(mean, lmean, rtol=1e-7)
    np.testing.assert_allclose(std, lstd, rtol=1e-5)
    # mu << 0: the ansatz tends to r^2 exp(-|mu| r / sigma^2), a Gamma(3) law.
    mean, std = conditional_moments(-1000.0, 10.0)
    lam = 1000.0 / 100.0
    assert mean == pytest.approx(3 / lam, rel=1e-3)
    assert std == pytest.approx(math.sqrt(3) / lam, rel=1e-3)


# ------------------------------------------------------------------------------ 2-D
@pytest.mark.parametrize("name", ["uniform", "one_pixel", "gaussian", "gaussian_2d"])
@pytest.mark.slow
def test_built_maps_2d_match_ligo(built_maps, name):
    sm, _, result, ra, dec, _ = built_maps[name]
    np.testing.assert_allclose(sm.credible_area([0.5, 0.9]), result.contour_areas, rtol=1e-6)
    ours = sm.crossmatch(ra, dec)
    np.testing.assert_allclose(ours.searched_area, result.searched_area, rtol=1e-6)
    np.testing.assert_allclose(ours.searched_prob, result.searched_prob, rtol=1e-6, atol=1e-15)
    np.testing.assert_allclose(ours.probdensity, result.probdensity, rtol=1e-6)
    np.testing.assert_allclose(ours.offset, result.offset, rtol=1e-6, atol=1e-6)


def test_uniform_map_areas():
    uniq = level_ipix_to_uniq(3, np.arange(768))
    sm = SkyMap.read(write_skymap(uniq, np.full(768, 1 / (4 * np.pi))))
    assert sm.credible_area(0.9) == pytest.approx(0.9 * FULL_SKY, rel=1e-12)
    assert sm.credible_area(1.0) == pytest.approx(FULL_SKY, rel=1e-12)
    assert sm.credible_area(0.0) == 0.0
    with pytest.raises(SkyMapError):
        sm.credible_area(1.5)


def test_one_pixel_map(built_maps):
    sm = built_maps["one_pixel"][0]
    area5 = float(pixel_area_sr(5)) * SQDEG_PER_SR
    # Linear interpolation inside the single hot pixel, as ligo.skymap does.
    assert sm.credible_area(0.9) == pytest.approx(0.9 * area5, rel=1e-12)
    level, ipix = uniq_to_level_ipix(sm.uniq[np.argmax(sm.probdensity)])
    from gwalert.skymap.healpix import pixel_center

    ra, dec = pixel_center(int(level), int(ipix))
    # The LVK convention (credible level <= p): the lone pixel's level is 1, as in ligo.skymap,
    # so it belongs to the 100% region only; the 90% MOC is empty.
    assert sm.searched_prob(ra, dec) == 1.0
    assert not sm.contains(ra, dec, 0.9)
    assert sm.contains(ra, dec, 1.0)
    assert sm.moc(0.9).uniq.size == 0
    assert sm.moc(1.0).area == pytest.approx(FULL_SKY, rel=1e-12)  # zeros count at p = 1


@pytest.mark.slow
def test_bayestar_2d_and_areas_match_ligo(bayestar):
    sm, _, result, ra, dec, _ = bayestar
    np.testing.assert_allclose(sm.credible_area([0.5, 0.9]), result.contour_areas, rtol=1e-6)
    ours = sm.crossmatch(ra, dec)
    np.testing.assert_allclose(ours.searched_area, result.searched_area, rtol=1e-6)
    np.testing.assert_allclose(ours.searched_prob, result.searched_prob, rtol=1e-6)
    np.testing.assert_allclose(ours.probdensity, result.probdensity, rtol=1e-6)
    np.testing.assert_allclose(ours.offset, result.offset, rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_notice_map_matches_ligo(notice_map):
    sm, _, result, ra, dec = notice_map
    assert sm.level.max() == 11
    np.testing.assert_allclose(sm.credible_area([0.5, 0.9]), result.contour_areas, rtol=1e-6)
    np.testing.assert_allclose(sm.credible_volume([0.5, 0.9]), result.contour_vols, rtol=0.01)
    ours = sm.crossmatch(ra, dec)
    np.testing.assert_allclose(ours.searched_prob, result.searched_prob, rtol=1e-6)
    np.testing.assert_allclose(ours.searched_area, result.searched_area, rtol=1e-6)


@pytest.mark.slow
def test_flat_map_areas_match_multiorder():
    flat_path = shared_file("skymaps", "MS181101ab_userguide_bayestar.slim.nside512.fits.gz")
    flat = SkyMap.read(flat_path)
    # equal sibling pixels merged, as ligo.skymap's read_sky_map(moc=True) merges them
    ref = ligo_io.read_sky_map(str(flat_path), moc=True)
    np.testing.assert_array_equal(flat.uniq, ref["UNIQ"])
    np.testing.assert_array_equal(flat.probdensity, ref["PROBDENSITY"])
    # The same event's multi-order map (order <= 11) gives nearly the same areas.
    from gwalert.alerts import read_notice

    moc = read_notice(shared_file("notices", "MS181101ab-preliminary.avro")).skymap
    np.testing.assert_allclose(
        flat.credible_area([0.5, 0.9]), moc.credible_area([0.5, 0.9]), rtol=0.01
    )


# ------------------------------------------------------------------------------ 3-D
def _snapped(dist: np.ndarray, table) -> np.ndarray:
    """ligo.skymap reads the cell whose shell centre is the largest one below r."""
    prob = table["PROBDENSITY"] * pixel_area_sr(uniq_to_level_ipix(table["UNIQ"])[0])
    distmean, _ = ligo_distance.parameters_to_marginal_moments(
        prob, table["DISTMU"], table["DISTSIGMA"]
    )
    d_r = 6 * distmean / 1000
    return d_r * np.floor(dist / d_r)


@pytest.mark.slow  # the ligo.skymap reference run on a real map: seconds
def test_bayestar_volumes_match_ligo(bayestar):
    sm, _, result, *_ = bayestar
    ours = sm.credible_volume([0.5, 0.9])
    np.testing.assert_allclose(ours, result.contour_vols, rtol=0.01)
    # The exact integral and ligo.skymap's 1000-shell grid agree far better than 1% here.
    np.testing.assert_allclose(ours, result.contour_vols, rtol=1e-4)
    assert sm.credible_volume(0.0) == 0.0
    assert sm.credible_volume(1.0) == math.inf


@pytest.mark.slow
def test_bayestar_3d_crossmatch_matches_ligo(bayestar):
    sm, table, result, ra, dec, dist = bayestar
    snapped = _snapped(dist, table)
    ours = sm.crossmatch(ra, dec, snapped)
    np.testing.assert_allclose(ours.probdensity_vol, result.probdensity_vol, rtol=1e-6, atol=1e-300)
    spv = np.asarray(result.searched_prob_vol)
    assert np.max(np.abs(ours.searched_prob_vol - spv)) < 0.01
    mid = (spv > 0.02) & (spv < 0.98)
    assert mid.sum() > 300
    np.testing.assert_allclose(ours.searched_prob_vol[mid], spv[mid], rtol=0.01)
    np.testing.assert_allclose(
        ours.searched_vol[mid], np.asarray(result.searched_vol)[mid], rtol=0.01
    )
    # searched_prob_dist: ligo interpolates its own grid; ours is exact at the true distance.
    ours_true = sm.crossmatch(ra, dec, dist)
    np.testing.assert_allclose(ours_true.searched_prob_dist, result.searched_prob_dist, atol=1e-3)
    # Unsnapped 3-D credible levels move by at most one shell's worth.
    assert np.max(np.abs(ours_true.searched_prob_vol - spv)) < 0.05


@pytest.mark.slow
def test_searched_volume_batch_equals_one_at_a_time(bayestar):
    """Many targets (adaptive interpolation) against one target at a time (exact)."""
    sm, _, _, ra, dec, dist = bayestar
    many = sm.crossmatch(ra, dec, dist)
    for i in np.arange(0, ra.size, 97):
        one = sm.crossmatch(ra[i], dec[i], dist[i])  # scalars: evaluated exactly
        assert abs(many.searched_prob_vol[i] - one.searched_prob_vol) < 2e-3
        assert many.searched_vol[i] == pytest.approx(one.searched_vol, rel=0.01)
        assert many.searched_prob_dist[i] == pytest.approx(one.searched_prob_dist, abs=5e-4)
        assert many.probdensity_vol[i] == one.probdensity_vol


def test_gaussian_3d_matches_ligo(built_maps):
    sm, table, result, ra, dec, dist = built_maps["gaussian"]
    np.testing.assert_allclose(sm.credible_volume([0.5, 0.9]), result.contour_vols, rtol=0.01)
    ours = sm.crossmatch(ra, dec, _snapped(dist, table))
    np.testing.assert_allclose(ours.probdensity_vol, result.probdensity_vol, rtol=1e-6)
    assert np.max(np.abs(ours.searched_prob_vol - result.searched_prob_vol)) < 0.01


@pytest.mark.slow  # the ligo.skymap reference run on a real map: seconds
def test_distance_functions_match_ligo(bayestar):
    sm, table, *_ = bayestar
    prob = sm.prob
    good = np.isfinite(sm.distmu) & (sm.distnorm > 0)
    r = np.array([1.0, 20.0, 80.0, 157.0, 300.0, 900.0])
    args = (prob[good], sm.distmu[good], sm.distsigma[good], sm.distnorm[good])
    np.testing.assert_allclose(
        sm.distance_posterior(r), ligo_distance.marginal_pdf(r, *args), rtol=1e-6
    )
    np.testing.assert_allclose(
        sm.distance_cdf(r), ligo_distance.marginal_cdf(r, *args), rtol=1e-6, atol=1e-12
    )
    mean, std = sm.distance_moments()
    lmean, lstd = ligo_distance.parameters_to_marginal_moments(prob, sm.distmu, sm.distsigma)
    assert mean == pytest.approx(lmean, rel=1e-6)
    assert std == pytest.approx(lstd, rel=1e-5)
    assert mean == pytest.approx(sm.distmean, rel=1e-3)  # BAYESTAR's header DISTMEAN
    # Along a line of sight: the row's conditional moments.
    ra, dec = sm.most_probable()
    m, s = sm.distance_along(ra, dec)
    row = int(np.argmax(sm.probdensity))
    lm, ls, _ = ligo_distance.parameters_to_moments(sm.distmu[row], sm.distsigma[row])
    assert (m, s) == pytest.approx((float(lm), float(ls)), rel=1e-7)
    ms, ss = sm.distance_along(np.array([ra, 0.0]), np.array([dec, 0.0]))
    assert ms.shape == (2,) and ms[0] == m


def test_2d_map_has_no_volume(built_maps):
    sm = built_maps["gaussian_2d"][0]
    with pytest.raises(SkyMapError, match="no distance"):
        sm.credible_volume(0.9)
    with pytest.raises(SkyMapError, match="no distance"):
        sm.distance_along(200.0, 40.0)
    res = sm.crossmatch([200.0], [40.0], [100.0])
    assert np.isnan(res.searched_prob_vol[0]) and np.isnan(res.searched_vol[0])


# ------------------------------------------------------------------------------ regions
def _brute_force(sm: SkyMap, level: int):
    """Flatten (test only, at a modest order) for brute-force field sums."""
    nside = 1 << level
    ipix = np.arange(12 * nside * nside)
    lvl, ip = uniq_to_level_ipix(sm.uniq)
    rows = np.empty(ipix.size, np.int64)
    for i, (lv, p) in enumerate(zip(lvl, ip, strict=True)):
        if lv <= level:
            shift = 2 * (level - lv)
            rows[p << shift : (p + 1) << shift] = i
        else:
            rows[p >> (2 * (lv - level))] = i
    return rows


def test_probability_in_circle(built_maps):
    import healpy as hp

    sm = built_maps["gaussian"][0]
    res = sm.probability_in_circle(121.0, -31.0, 4.0)
    level = 10
    nside = 1 << level
    rows = _brute_force(sm, level)
    disc = hp.query_disc(nside, hp.ang2vec(121.0, -31.0, lonlat=True), math.radians(4.0), nest=True)
    area = hp.nside2pixarea(nside)
    brute = float(np.sum(sm.probdensity[rows[disc]]) * area)
    cap = 2 * math.pi * (1 - math.cos(math.radians(4.0))) * SQDEG_PER_SR
    assert res.area == pytest.approx(cap, rel=2e-3)
    assert res.probability == pytest.approx(brute, rel=2e-3)
    # The uniform map: probability is the area's share of the sky.
    uni = built_maps["uniform"][0].probability_in_circle(10.0, 80.0, 30.0)
    assert uni.probability == pytest.approx(uni.area / FULL_SKY, rel=1e-9)
    with pytest.raises(SkyMapError):
        sm.probability_in_circle(0, 0, 0)


def test_probability_in_polygon(built_maps):
    import healpy as hp

    sm = built_maps["gaussian"][0]
    ra = [115.0, 125.0, 125.0, 115.0]
    dec = [-35.0, -35.0, -25.0, -25.0]
    res = sm.probability_in_polygon(ra, dec)
    level = 10
    nside = 1 << level
    rows = _brute_force(sm, level)
    vecs = np.array([hp.ang2vec(r, d, lonlat=True) for r, d in zip(ra, dec, strict=True)])
    inside = hp.query_polygon(nside, vecs, nest=True)
    area = hp.nside2pixarea(nside)
    brute = float(np.sum(sm.probdensity[rows[inside]]) * area)
    assert res.probability == pytest.approx(brute, rel=3e-3)
    assert res.area == pytest.approx(inside.size * area * SQDEG_PER_SR, rel=3e-3)
    # A 64-gon inscribed in a circle holds a little less than the circle.
    ang = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    c_ra, c_dec, rad = 120.0, -30.0, 3.0
    pts_ra = c_ra + rad * np.cos(ang) / math.cos(math.radians(c_dec))
    pts_dec = c_dec + rad * np.sin(ang)
    poly = sm.probability_in_polygon(pts_ra, pts_dec)
    circ = sm.probability_in_circle(c_ra, c_dec, rad)
    assert 0.9 * circ.probability < poly.probability < 1.1 * circ.probability
    with pytest.raises(SkyMapError):
        sm.probability_in_polygon([0, 1], [0, 1])
    with pytest.raises(SkyMapError, match="hemisphere"):
        sm.probability_in_polygon([0, 120, 240], [0, 0, 0])


@pytest.mark.slow  # the ligo.skymap reference run on a real map: seconds
def test_contains_and_moc(bayestar):
    sm, _, result, ra, dec, _ = bayestar
    inside = sm.contains(ra, dec, 0.9)
    np.testing.assert_array_equal(inside, np.asarray(result.searched_prob) <= 0.9)
    assert sm.contains(*sm.most_probable(), 0.5) is True
    moc = sm.moc(0.9)
    rank = sm.ranking
    rows = rank.searched_prob <= 0.9
    expected_area = float(np.sum(sm.pixel_area[rows])) * SQDEG_PER_SR
    assert moc.area == pytest.approx(expected_area, rel=1e-12)
    # Short of the interpolated credible area by part of the one pixel that crosses 90%.
    crossing = rank.order[np.searchsorted(rank.cum_prob, 0.9, side="right")]
    gap = sm.credible_area(0.9) - moc.area
    assert 0 <= gap <= sm.pixel_area[crossing] * SQDEG_PER_SR
    # Normalised: no complete group of four siblings is left.
    level, ipix = uniq_to_level_ipix(moc.uniq)
    parents = level_ipix_to_uniq(np.maximum(level - 1, 0), ipix >> 2)
    _, counts = np.unique(parents[level > 0], return_counts=True)
    assert counts.max() < 4
    assert moc.uniq.size < rows.sum()
    # Every cell's centre lies in the region.
    from gwalert.skymap.healpix import pixel_center

    centres = np.array([pixel_center(int(lv), int(p)) for lv, p in zip(level, ipix, strict=True)])
    assert sm.contains(centres[:, 0], centres[:, 1], 0.9).all()


def test_moc_serialisations(tmp_path, bayestar_map):
    from astropy.io import fits

    sm = bayestar_map
    moc = sm.moc(0.5)
    js = moc.to_json()
    assert sum(len(v) for v in js.values()) == moc.uniq.size
    text = moc.to_string()
    assert text.split()[0].split("/")[0] == min(js, key=int)
    path = tmp_path / "m.fits"
    moc.write(str(path))
    with fits.open(path) as hdul:
        hdr = hdul[1].header
        assert hdr["ORDERING"] == "NUNIQ" and hdr["MOCORDER"] == moc.order
        np.testing.assert_array_equal(np.sort(hdul[1].data["UNIQ"]), np.sort(moc.uniq))
    jpath = tmp_path / "m.json"
    moc.write(str(jpath))
    assert json.loads(jpath.read_text()) == js
    # ASCII ranges round-trip.
    back = []
    for part in text.split():
        order, cells = part.split("/")
        for rng in cells.split(","):
            a, _, b = rng.partition("-")
            back += [level_ipix_to_uniq(int(order), i) for i in range(int(a), int(b or a) + 1)]
    np.testing.assert_array_equal(np.sort(back), np.sort(moc.uniq))


def test_normalize_uniq_merges_siblings():
    children = level_ipix_to_uniq(3, np.arange(4 * 7, 4 * 7 + 4))
    grand = level_ipix_to_uniq(4, np.arange(16 * 2, 16 * 3))  # all of level-2 pixel 2
    out = normalize_uniq(np.concatenate([children, grand, [level_ipix_to_uniq(3, 0)]]))
    assert set(out.tolist()) == {
        int(level_ipix_to_uniq(2, 7)),
        int(level_ipix_to_uniq(2, 2)),
        int(level_ipix_to_uniq(3, 0)),
    }


# ------------------------------------------------------------------------------ bad maps
def _fits_table(columns: dict[str, np.ndarray], header: dict) -> bytes:
    from astropy.io import fits

    cols = [
        fits.Column(k, "K" if v.dtype.kind == "i" else "D", array=v) for k, v in columns.items()
    ]
    hdu = fits.BinTableHDU.from_columns(cols)
    for k, v in header.items():
        hdu.header[k] = v
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
    return buf.getvalue()


def test_bad_maps_raise_clear_errors():
    uniq = level_ipix_to_uniq(1, np.arange(48))
    good = np.full(48, 1 / (4 * np.pi))
    nuniq = {"PIXTYPE": "HEALPIX", "ORDERING": "NUNIQ"}
    with pytest.raises(SkyMapError, match="no PROBDENSITY"):
        SkyMap.read(_fits_table({"UNIQ": uniq, "PROB": good}, nuniq))
    bad = good.copy()
    bad[3] = np.nan
    with pytest.raises(SkyMapError, match="NaN"):
        SkyMap.read(write_skymap(uniq, bad))
    bad = good.copy()
    bad[3] = -bad[3]
    bad[4] += 2 * good[3]
    with pytest.raises(SkyMapError, match="negative"):
        SkyMap.read(write_skymap(uniq, bad))
    with pytest.raises(SkyMapError, match="sum to 2"):
        SkyMap.read(write_skymap(uniq, 2 * good))
    with pytest.raises(SkyMapError, match="ordering"):
        SkyMap.read(_fits_table({"PROBX": np.full(48, 1 / 48)}, {"ORDERING": "SPIRAL"}))
    with pytest.raises(SkyMapError):
        SkyMap.read(b"SIMPLE  = not really a FITS file")


def test_bad_coordinates_and_levels(bayestar_map):
    sm = bayestar_map
    with pytest.raises(SkyMapError, match="±90"):
        sm.crossmatch([0.0], [95.0])
    with pytest.raises(SkyMapError):
        sm.contains(0.0, np.nan)
    with pytest.raises(SkyMapError, match="between 0 and 1"):
        sm.credible_volume(-0.1)


# ------------------------------------------------------------------------------ summary
@pytest.mark.slow  # the ligo.skymap reference run on a real map: seconds
def test_summary_areas_and_volume(notice_map):
    from gwalert.alerts import read_notice
    from gwalert.summary import summarize

    sm, _, result, *_ = notice_map
    facts = summarize(read_notice(shared_file("notices", "MS181101ab-preliminary.avro")))
    assert facts["area_50"] == pytest.approx(result.contour_areas[0], rel=1e-6)
    assert facts["area_90"] == pytest.approx(result.contour_areas[1], rel=1e-6)
    assert facts["vol_90"] == pytest.approx(result.contour_vols[1], rel=0.01)
    retraction = summarize(read_notice(shared_file("notices", "MS181101ab-retraction.avro")))
    assert retraction["area_90"] is None and retraction["vol_90"] is None


def test_summary_2d_has_no_volume():
    from gwalert.alerts import decode, encode
    from gwalert.samples import make_record
    from gwalert.summary import summarize

    sky = gaussian_skymap(200.0, 40.0, 8.0, distance=None, max_level=5)
    facts = summarize(decode(encode(make_record(group="Burst", pipeline="CWB", skymap=sky)))[0])
    assert facts["area_90"] > facts["area_50"] > 0
    assert facts["vol_90"] is None
