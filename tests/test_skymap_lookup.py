"""Position look-up (``SkyMap.rows_at``, lookup.py) on random multi-order maps: maps that tile
the sky (the dense index written level by level), maps with holes (uncovered positions give
-1) and maps with overlapping rows (the answer is one of the rows that hold the position),
against a brute-force search over every row's pixel range at the deepest order.

An overlapping map is not a valid sky map: where a coarse row overlaps finer ones, positions
in the coarse row outside the finer ones read -1 (the cell counts as split), as before."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gwalert.skymap import SkyMap
from gwalert.skymap.healpix import ang2pix_nested, uniq_to_level_ipix


def random_moc(rng: np.random.Generator, top: int) -> np.ndarray:
    """NUNIQ indices of a random tiling of the sky: pixels split at random down to ``top``,
    some regions split deep, in shuffled row order."""
    level, ipix = 0, np.arange(12)
    out = []
    while ipix.size:
        split = rng.random(ipix.size) < (0.45 if level < top else 0.0)
        out.append(ipix[~split] + (4 << (2 * level)))
        ipix = (ipix[split][:, None] * 4 + np.arange(4)).ravel()
        level += 1
    uniq = np.concatenate(out).astype(np.int64)
    return uniq[rng.permutation(uniq.size)] if rng.random() < 0.5 else np.sort(uniq)


def brute_force(uniq: np.ndarray, ra: np.ndarray, dec: np.ndarray) -> list[set[int]]:
    """For each position, the set of rows whose pixel holds it."""
    level, ipix = uniq_to_level_ipix(uniq)
    top = int(level.max())
    p = ang2pix_nested(top, ra, dec)
    lo = ipix << (2 * (top - level))
    hi = (ipix + 1) << (2 * (top - level))
    inside = (p[:, None] >= lo[None, :]) & (p[:, None] < hi[None, :])
    return [set(np.flatnonzero(row).tolist()) for row in inside]


def positions(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    # the poles, the cap boundaries and the RA wrap
    ra[:6] = [0.0, 359.9999999, 45.0, 90.0, 180.0, 270.0]
    dec[:6] = [90.0, -90.0, np.degrees(np.arcsin(2 / 3)), -np.degrees(np.arcsin(2 / 3)), 0, 0]
    return ra, dec


def as_map(uniq: np.ndarray) -> SkyMap:
    return SkyMap(uniq=uniq, probdensity=np.full(uniq.size, 1 / (4 * np.pi)))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), top=st.integers(0, 11), kind=st.sampled_from("tho"))
def test_rows_at_matches_brute_force(seed: int, top: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    uniq = random_moc(rng, top)
    if kind == "h" and uniq.size > 1:  # holes: drop some rows
        uniq = uniq[rng.random(uniq.size) > 0.2]
    elif kind == "o":  # overlaps: add a few parents or children of existing rows
        level, ipix = uniq_to_level_ipix(uniq)
        pick = rng.choice(uniq.size, size=min(5, uniq.size), replace=False)
        extra = []
        for i in pick.tolist():
            lv, ip = int(level[i]), int(ipix[i])
            if lv > 0 and rng.random() < 0.5:
                extra.append((ip >> 2) + (4 << (2 * (lv - 1))))
            else:
                extra.append(ip * 4 + int(rng.integers(4)) + (4 << (2 * (lv + 1))))
        uniq = np.concatenate([uniq, np.array(extra, np.int64)])
    ra, dec = positions(rng, 400)
    got = np.asarray(as_map(uniq).rows_at(ra, dec))
    for i, holders in enumerate(brute_force(uniq, ra, dec)):
        if kind == "o":
            assert int(got[i]) in holders | {-1}, (i, ra[i], dec[i], holders)
        elif not holders:
            assert got[i] == -1, (i, ra[i], dec[i])
        else:
            assert len(holders) == 1
            assert int(got[i]) in holders, (i, ra[i], dec[i], holders)


@given(
    n=st.integers(1, 50),
    where=st.integers(0, 49),
    bad=st.sampled_from(
        [("ra", np.nan), ("ra", np.inf), ("ra", -np.inf), ("dec", np.nan), ("dec", np.inf)]
        + [("dec", -np.inf), ("dec", 90.000001), ("dec", -90.5), ("dec", 1e300)]
    ),
)
def test_bad_coordinates_are_refused_anywhere_in_the_array(n, where, bad):
    import pytest

    from gwalert.errors import SkyMapError

    ra = np.linspace(0, 359, n)
    dec = np.linspace(-90, 90, n)  # the poles themselves are fine
    name, value = bad
    (ra if name == "ra" else dec)[where % n] = value
    sm = as_map(random_moc(np.random.default_rng(0), 2))
    with pytest.raises(SkyMapError, match="finite, with declinations"):
        sm.rows_at(ra, dec)
    (ra if name == "ra" else dec)[where % n] = 0.0
    assert np.all(np.asarray(sm.rows_at(ra, dec)) >= 0)
