"""Credible-level ranking order (credible.rank_order): densities descending, ties by
descending NUNIQ as ligo.skymap orders them, on random densities with many ties (few distinct
values, +0.0 and -0.0, zeros), sorted and unsorted NUNIQ, against a stable sort."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwalert.skymap.credible import rank_order


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 3000),
    distinct=st.integers(1, 50),
    shuffled=st.booleans(),
)
def test_rank_order_is_the_stable_descending_order(seed, n, distinct, shuffled):
    rng = np.random.default_rng(seed)
    values = np.concatenate([rng.random(distinct), [0.0, -0.0]])
    dens = rng.choice(values, n)
    if rng.random() < 0.3:
        dens = rng.random(n)  # (almost surely) no ties
    uniq = np.sort(rng.choice(np.arange(4, 4 * n + 100), n, replace=False))
    if shuffled:
        uniq = rng.permutation(uniq)
    got = rank_order(dens, uniq)
    want = np.lexsort((uniq, dens))[::-1]  # by density, then NUNIQ, both descending
    np.testing.assert_array_equal(got, want)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 40000),
    ulps=st.integers(1, 1 << 20),
    exponent=st.integers(-300, 300),
)
def test_rank_order_with_near_ties(seed, n, ulps, exponent):
    """Densities a few ulp apart (below the bits the packed integer sort keeps, so it must
    notice and fall back), exact ties, zeros, subnormals and huge values, on a map sorted by
    NUNIQ (the packed sort's case) of up to 40,000 rows."""
    rng = np.random.default_rng(seed)
    base = rng.random(max(1, n // 50)) * 2.0**exponent
    dens = rng.choice(base, n) + rng.integers(0, 3, n) * (base.min() * 2.0**-52 * ulps)
    if rng.random() < 0.3:
        dens[rng.random(n) < 0.1] = rng.choice([0.0, 5e-324, 1e300, np.inf])
    uniq = np.sort(rng.choice(np.arange(4, 8 * n + 100), n, replace=False))
    np.testing.assert_array_equal(rank_order(dens, uniq), np.lexsort((uniq, dens))[::-1])


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    top=st.integers(0, 13),
    total=st.sampled_from([0.5, 0.97, 0.99, 1.0, 1.01, 1.03, 2.0]),
)
def test_probability_total_sorted_and_shuffled(seed, top, total):
    """The total checked on reading (summed per level run when the rows are sorted by UNIQ,
    in blocks otherwise): the direct sum of density times area either way, and the same
    verdict (accepted within 2% of 1)."""
    from gwalert.errors import SkyMapError
    from gwalert.skymap.healpix import pixel_area_sr, uniq_to_level_ipix
    from gwalert.skymap.map import _check_probability, _weighted_sum

    rng = np.random.default_rng(seed)
    level, ipix, parts = 0, np.arange(12), []
    while ipix.size:  # a random tiling down to ``top``
        split = rng.random(ipix.size) < (0.4 if level < top else 0.0)
        parts.append(ipix[~split] + (4 << (2 * level)))
        ipix = (ipix[split][:, None] * 4 + np.arange(4)).ravel()
        level += 1
    uniq = np.sort(np.concatenate(parts).astype(np.int64))
    area = pixel_area_sr(uniq_to_level_ipix(uniq)[0])
    dens = rng.exponential(1.0, uniq.size)
    dens *= total / np.sum(dens * area)
    order = rng.permutation(uniq.size)
    direct = float(np.sum(dens * area)) / (4 * np.pi / 12)
    for u, d in ((uniq, dens), (uniq[order], dens[order])):
        np.testing.assert_allclose(_weighted_sum(u, d), direct, rtol=1e-12)
        if 0.98 <= total <= 1.02:
            _check_probability(u, d)
        else:
            with pytest.raises(SkyMapError, match="sum to"):
                _check_probability(u, d)
