"""Credible-level ranking order (credible.rank_order): densities descending, ties by
descending NUNIQ as ligo.skymap orders them, on random densities with many ties (few distinct
values, +0.0 and -0.0, zeros), sorted and unsorted NUNIQ, against a stable sort."""

from __future__ import annotations

import numpy as np
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
