"""Probability inside fields of view, on the multi-order map: against brute-force fine-grid
integration (random footprints, pointings including the poles and RA 0/360, random maps), against
gwalert.skymap.fields, and the union of fields (overlaps counted once)."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import examples
from gwalert.plan import coverage, footprints
from gwalert.skymap import SkyMap
from gwalert.skymap.healpix import pixel_area_sr, uniq_to_level_ipix


def random_map(seed: int, base: int, splits: int) -> SkyMap:
    """A multi-order map: level-``base`` pixels with random densities, ``splits`` of them
    refined (twice) with random densities of their own; normalised."""
    rng = np.random.default_rng(seed)
    n = 12 * 4**base
    uniq = list(4 * 4**base + np.arange(n))
    for _ in range(splits):
        i = int(rng.integers(len(uniq)))
        u = uniq.pop(i)
        kids = [4 * u + k for k in range(4)]
        if rng.random() < 0.5:
            k = kids.pop(int(rng.integers(4)))
            kids += [4 * k + j for j in range(4)]
        uniq += kids
    u = np.sort(np.array(uniq, np.int64))
    # a blob somewhere plus noise, so densities differ a lot between rows
    dens = rng.gamma(0.5, 1.0, u.size) + 1e-3
    level, _ = uniq_to_level_ipix(u)
    dens /= float(np.sum(dens * pixel_area_sr(level)))
    return SkyMap.from_table({"UNIQ": u, "PROBDENSITY": dens}, {"ORDERING": "NUNIQ"})


def _frame(ra: float, dec: float) -> np.ndarray:
    return coverage.field_frames(np.array([ra]), np.array([dec]))[0]


def brute_force(sm: SkyMap, fp: footprints.Footprint, ra: float, dec: float, level: int) -> float:
    """Sum of density x area over level-``level`` pixels whose centres lie in the footprint
    (pixels found by astropy-healpix's cone search; membership tested on the sphere)."""
    import astropy.units as u
    from astropy_healpix import HEALPix

    hp = HEALPix(nside=1 << level, order="nested")
    # astropy-healpix's cone search at a coarser level (with a margin of their size), then
    # all the descendants of those pixels at ``level``
    c = max(0, level - 5)
    coarse = HEALPix(nside=1 << c, order="nested")
    margin = 1.5 * math.degrees(math.sqrt(coarse.pixel_area.to_value(u.sr)))
    near = coarse.cone_search_lonlat(
        ra * u.deg, dec * u.deg, min(fp.circumradius + margin, 180) * u.deg
    )
    k = 4 ** (level - c)
    ipix = (near[:, None] * k + np.arange(k)).reshape(-1)
    lon, lat = hp.healpix_to_lonlat(ipix)
    a, d = lon.rad, lat.rad
    v = np.column_stack([np.cos(d) * np.cos(a), np.cos(d) * np.sin(a), np.sin(d)])
    w = v @ _frame(ra, dec).T
    if fp.radius is not None:
        inside = np.degrees(np.arccos(np.clip(w[:, 2], -1, 1))) <= fp.radius
    else:
        inside = np.zeros(len(w), bool)
        for verts in fp.local_vertices():
            nrm = np.cross(verts, np.roll(verts, -1, axis=0))
            inside |= np.all(w @ nrm.T >= 0, axis=1)
    dens = sm.probdensity_at(np.degrees(a[inside]), np.degrees(d[inside]))
    return float(np.sum(dens) * hp.pixel_area.to_value(u.sr))


def perimeter(fp: footprints.Footprint) -> float:
    if fp.radius is not None:
        return 2 * math.pi * math.sin(math.radians(fp.radius))
    total = 0.0
    for v in fp.local_vertices():
        total += float(np.sum(np.arccos(np.clip(np.sum(v * np.roll(v, -1, 0), 1), -1, 1))))
    return total


def random_polygon(draw, size: float) -> np.ndarray:
    """A convex polygon: random angles on an ellipse, in (xi, eta) degrees."""
    k = draw(st.integers(3, 7))
    angles = sorted(draw(st.lists(st.floats(0, 2 * math.pi), min_size=k, max_size=k)))
    if max(np.diff(angles + [angles[0] + 2 * math.pi])) > math.pi * 0.95:
        angles = list(np.linspace(0, 2 * math.pi, k, endpoint=False))
    a = size
    b = size * draw(st.floats(0.3, 1.0))
    rot = draw(st.floats(0, math.pi))
    x, y = a * np.cos(angles), b * np.sin(angles)
    ox, oy = draw(st.floats(-0.3, 0.3)) * size, draw(st.floats(-0.3, 0.3)) * size
    return np.column_stack(
        [x * math.cos(rot) - y * math.sin(rot) + ox, x * math.sin(rot) + y * math.cos(rot) + oy]
    )


@st.composite
def footprint_strategy(draw):
    kind = draw(st.sampled_from(["square", "rect", "circle", "polygon", "chips"]))
    size = draw(st.floats(0.5, 15.0))
    if kind == "square":
        return footprints.rectangle(size, size)
    if kind == "rect":
        return footprints.rectangle(size, size * draw(st.floats(0.2, 1.0)))
    if kind == "circle":
        return footprints.circle(size / 2)
    if kind == "polygon":
        return footprints.polygons([random_polygon(draw, size / 2)])
    # two chips side by side with a gap
    half = size / 4
    gap = size * 0.05
    left = np.array(
        [[-2 * half - gap, -half], [-gap, -half], [-gap, half], [-2 * half - gap, half]]
    )
    right = left * np.array([-1, 1])
    return footprints.polygons([left, right[::-1]])


positions = st.tuples(
    st.one_of(st.sampled_from([0.0, 359.999, 180.0]), st.floats(0, 360, exclude_max=True)),
    st.one_of(st.sampled_from([90.0, -90.0, 89.5, -89.9, 0.0]), st.floats(-90, 90)),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fp=footprint_strategy(),
    pos=positions,
    seed=st.integers(0, 2**31),
    base=st.integers(1, 3),
    splits=st.integers(0, 30),
)
def test_field_probability_matches_brute_force(fp, pos, seed, base, splits):
    check_brute_force(fp, pos, seed, base, splits)


@pytest.mark.slow
@settings(
    max_examples=examples(60, 300), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    fp=footprint_strategy(),
    pos=positions,
    seed=st.integers(0, 2**31),
    base=st.integers(1, 4),
    splits=st.integers(0, 60),
)
def test_field_probability_matches_brute_force_many(fp, pos, seed, base, splits):
    check_brute_force(fp, pos, seed, base, splits)


def check_brute_force(fp, pos, seed, base, splits):
    sm = random_map(seed, base, splits)
    ra, dec = pos
    integral = coverage.MapIntegral(sm)
    level = coverage.detail_level(fp)
    cells = coverage.footprint_cells(fp, [ra], [dec], level)
    got = float(coverage.field_probabilities(integral, cells)[0])
    fine = level + 2
    while fine > level and fp.area / (float(pixel_area_sr(fine)) * (180 / math.pi) ** 2) > 4e5:
        fine -= 1
    want = brute_force(sm, fp, ra, dec, fine)
    # Both pixelise the boundary: each is within a band of a few pixels' width of the truth.
    band = perimeter(fp) * (2.5 / (1 << level) + 2.5 / (1 << fine))
    tol = float(sm.probdensity.max()) * band + 1e-12
    assert abs(got - want) <= tol, (got, want, tol)
    # the pixelised area is the footprint's area, to the same band
    area = float(cells.area()[0])
    assert abs(area - fp.area) <= band * (180 / math.pi) ** 2 + 1e-9


@settings(max_examples=25, deadline=None)
@given(
    pos=positions,
    seed=st.integers(0, 2**31),
    size=st.floats(1.0, 20.0),
    circle=st.booleans(),
)
def test_same_pixels_as_skymap_fields(pos, seed, size, circle):
    """At the detail level gwalert.skymap.fields chooses, both count exactly the pixels whose
    centres lie inside: the probabilities agree to rounding."""
    sm = random_map(seed, 2, 10)
    ra, dec = pos
    integral = coverage.MapIntegral(sm)
    if circle:
        fp = footprints.circle(size / 2)
        want = sm.probability_in_circle(ra, dec, size / 2).probability
        radius = math.radians(size / 2)
    else:
        fp = footprints.rectangle(size, size)
        t = math.radians(fp.polygons[0][:, 0].max())
        corners = np.array([[-t, -t, 1], [t, -t, 1], [t, t, 1], [-t, t, 1]])
        v = corners / np.linalg.norm(corners, axis=1, keepdims=True) @ _frame(ra, dec)
        vra = np.degrees(np.arctan2(v[:, 1], v[:, 0])) % 360
        vdec = np.degrees(np.arcsin(np.clip(v[:, 2], -1, 1)))
        want = sm.probability_in_polygon(vra, vdec).probability
        radius = math.radians(fp.circumradius)
    # gwalert.skymap.fields' level: the map's own, and pixels at most size/64 across
    lv = 0
    while lv < 16 and math.sqrt(float(pixel_area_sr(lv))) > radius / 64:
        lv += 1
    lv = max(lv, int(sm.level.max()))
    got = float(
        coverage.field_probabilities(integral, coverage.footprint_cells(fp, [ra], [dec], lv))[0]
    )
    assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


@settings(max_examples=10, deadline=None)
@given(
    pos=positions,
    offset=st.tuples(st.floats(-12, 12), st.floats(-12, 12)),
    seed=st.integers(0, 2**31),
)
def test_union_counts_overlaps_once(pos, offset, seed):
    sm = random_map(seed, 2, 20)
    ra, dec = pos
    dec2 = float(np.clip(dec + offset[1], -90, 90))
    ra2 = (ra + offset[0]) % 360
    fp = footprints.rectangle(16, 12)
    integral = coverage.MapIntegral(sm)
    level = coverage.detail_level(fp)
    cells = coverage.footprint_cells(fp, [ra, ra2], [dec, dec2], level)
    pa, pb = coverage.field_probabilities(integral, cells)
    union = coverage.union_probability(integral, cells)
    assert max(pa, pb) - 1e-12 <= union <= pa + pb + 1e-12
    # the union is what the union of the two fields' pixel sets holds: brute force over the
    # pixels of the detail level (the same centres both fields use)
    ipix = np.arange(12 * 4**level)
    v = all_centres(level)
    nrm = [np.cross(x, np.roll(x, -1, 0)) for x in fp.local_vertices()][0]
    ins = np.zeros(len(v), bool)
    for r0, d0 in ((ra, dec), (ra2, dec2)):
        ins |= np.all((v @ _frame(r0, d0).T) @ nrm.T >= 0, axis=1)
    lo = ipix[ins] << (2 * (29 - level))
    hi = (ipix[ins] + 1) << (2 * (29 - level))
    want = float(np.sum(integral.ranges(lo, hi)))
    assert union == pytest.approx(want, rel=1e-9, abs=1e-12)


@functools.cache
def all_centres(level: int) -> np.ndarray:
    """Unit vectors of every pixel centre at ``level`` (astropy-healpix)."""
    from astropy_healpix import HEALPix

    hp = HEALPix(nside=1 << level, order="nested")
    lon, lat = hp.healpix_to_lonlat(np.arange(hp.npix))
    a, d = lon.rad, lat.rad
    return np.column_stack([np.cos(d) * np.cos(a), np.cos(d) * np.sin(a), np.sin(d)])


def test_integral_of_whole_sky_and_of_rows():
    sm = random_map(1, 2, 40)
    integral = coverage.MapIntegral(sm)
    assert integral.ranges(np.array([0]), np.array([12 << 58]))[0] == pytest.approx(1.0)
    level, ipix = uniq_to_level_ipix(sm.uniq)
    lo = ipix << (2 * (29 - level))
    hi = (ipix + 1) << (2 * (29 - level))
    assert np.allclose(integral.ranges(lo, hi), sm.prob, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("bad", ["0", "-1", "180", "200", "nan", "x", "3x0", ""])
def test_bad_fov(bad):
    from gwalert.errors import GwalertError

    with pytest.raises(GwalertError):
        footprints.parse_fov(bad)
