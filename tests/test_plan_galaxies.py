"""Galaxy ranking against a direct computation of posterior density x luminosity weight
(random catalogs on the real 3-D BAYESTAR map and on random 2-D maps)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_plan_coverage import random_map

from conftest import shared_file
from gwalert.plan import galaxies
from gwalert.skymap import SkyMap
from gwalert.skymap.healpix import uniq_to_level_ipix


def row_of(sm: SkyMap, ra: float, dec: float) -> int:
    """The map row holding (ra, dec), found with astropy-healpix at each of the map's levels."""
    import astropy.units as u
    from astropy_healpix import lonlat_to_healpix

    level, ipix = uniq_to_level_ipix(sm.uniq)
    for lv in np.unique(level):
        p = lonlat_to_healpix(ra * u.deg, dec * u.deg, 1 << int(lv), order="nested")
        hit = np.flatnonzero((level == lv) & (ipix == int(p)))
        if hit.size:
            return int(hit[0])
    raise AssertionError("no row")


def direct_density(sm: SkyMap, ra: float, dec: float, dist: float | None) -> float:
    i = row_of(sm, ra, dec)
    dens = float(sm.probdensity[i])
    if dist is None:
        return dens
    mu, sigma, norm = float(sm.distmu[i]), float(sm.distsigma[i]), float(sm.distnorm[i])
    if not (np.isfinite(mu) and sigma > 0 and norm > 0) or dist <= 0:
        return 0.0
    gauss = math.exp(-0.5 * ((dist - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    return dens * norm * gauss


def catalog_file(tmp_path, rows, with_dist=True, band="magb"):
    path = tmp_path / "cat.csv"
    head = "name,ra,dec" + (",distmpc" if with_dist else "") + (f",{band}" if band else "")
    lines = [head]
    for k, (ra, dec, d, m) in enumerate(rows):
        cells = [f"g{k}", repr(ra), repr(dec)]
        if with_dist:
            cells.append(repr(d))
        if band:
            cells.append(repr(m))
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def off_edges(ra: float, dec: float) -> tuple[float, float]:
    """Move a position by a micro-degree so that it does not sit exactly on a pixel edge or
    corner (Dec 0, RA 0...: which side a boundary point belongs to is a convention)."""
    return (ra + 1.2345e-6) % 360, float(np.clip(dec, -89.99, 89.99)) + 1.1e-6


galaxy = st.builds(
    lambda ra, dec, d, m: (*off_edges(ra, dec), d, m),
    st.floats(0, 360, exclude_max=True),
    st.floats(-90, 90),
    st.floats(1, 600),
    st.floats(8, 20),
)


@settings(max_examples=6, deadline=None)
@given(rows=st.lists(galaxy, min_size=1, max_size=20), near=st.integers(0, 8))
def test_ranking_is_density_times_weight_3d(tmp_path_factory, rows, near):
    sm = bayestar()
    # some galaxies where the map has probability, so scores are not all zero
    ra0, dec0 = sm.most_probable()
    rng = np.random.default_rng(near)
    rows = rows + [
        (float((ra0 + rng.normal(0, 3)) % 360), float(np.clip(dec0 + rng.normal(0, 3), -90, 90)),
         float(rng.uniform(50, 300)), float(rng.uniform(10, 18)))
        for _ in range(near)
    ]  # fmt: skip
    path = catalog_file(tmp_path_factory.mktemp("cat"), rows)
    cat = galaxies.read_catalog(path)
    r = galaxies.rank(sm, cat)
    assert r.uses_distance
    want = np.array(
        [
            direct_density(sm, ra, dec, d) * 10 ** (-0.4 * (m - 5 * math.log10(d * 1e5)))
            for ra, dec, d, m in rows
        ]
    )
    if want.sum() == 0:
        assert np.all(r.score == 0)
        return
    want = want / want.sum()
    assert np.allclose(r.score, want, rtol=1e-6, atol=1e-12)
    # best first; ties in any order
    assert np.all(np.diff(r.score[r.order]) <= 1e-15)


@settings(max_examples=15, deadline=None)
@given(rows=st.lists(galaxy, min_size=1, max_size=30), seed=st.integers(0, 2**31))
def test_ranking_on_a_2d_map_ignores_distances(tmp_path_factory, rows, seed):
    sm = random_map(seed, 2, 10)
    path = catalog_file(tmp_path_factory.mktemp("cat"), rows, band="magk")
    cat = galaxies.read_catalog(path)
    r = galaxies.rank(sm, cat)
    assert not r.uses_distance
    assert any("distances are not used" in n for n in r.notes)
    want = np.array(
        [
            direct_density(sm, ra, dec, None) * 10 ** (-0.4 * (m - 5 * math.log10(d * 1e5)))
            for ra, dec, d, m in rows
        ]
    )
    want = want / want.sum()
    assert np.allclose(r.score, want, rtol=1e-6, atol=1e-12)


_MAP: list[SkyMap] = []


def bayestar() -> SkyMap:
    if not _MAP:
        _MAP.append(SkyMap.read(shared_file("skymaps", "bayestar.multiorder.fits")))
    return _MAP[0]


@pytest.mark.slow
def test_fields_centred_on_galaxies_cover_the_best(tmp_path):
    sm = bayestar()
    ra0, dec0 = sm.most_probable()
    rng = np.random.default_rng(1)
    rows = [
        (float((ra0 + rng.normal(0, 2)) % 360), float(np.clip(dec0 + rng.normal(0, 2), -89, 89)),
         float(rng.uniform(100, 200)), float(rng.uniform(12, 16)))
        for _ in range(200)
    ]  # fmt: skip
    cat = galaxies.read_catalog(catalog_file(tmp_path, rows))
    r = galaxies.rank(sm, cat)
    from gwalert.plan import footprints

    centres, sel = galaxies.galaxy_fields(cat, r, footprints.circle(0.3), 5)
    assert 1 <= len(centres) <= 5
    assert int(r.order[0]) in set(centres.tolist()) or sel.probability >= r.score[r.order[0]]


def test_bad_catalogs(tmp_path):
    from gwalert.errors import GwalertError

    for text in ("", "ra,dec\n", "x,y\n1,2\n", "ra,dec\nfoo,bar\n"):
        p = tmp_path / "c.csv"
        p.write_text(text)
        with pytest.raises(GwalertError, match="--catalog"):
            galaxies.read_catalog(p)
