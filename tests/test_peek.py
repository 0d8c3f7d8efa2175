"""``skymap.peek`` (the numpy-free reading ``gwalert parse`` uses) gives exactly what ``SkyMap``
gives, or steps aside (None) so that ``SkyMap`` reads the map: never a number SkyMap would not
print, never a number for a map SkyMap refuses.

Maps are written by astropy (the reference writer) in every layout the reader takes: column
order, extra columns, integer and float widths, scaling, nulls, gzip, NaN / infinite / negative
densities, totals at and near the bounds on the probability sum, tied maxima, every order.
"""

from __future__ import annotations

import functools
import gzip
import io
import math

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import SKYMAPS
from gwalert.skymap import SkyMap
from gwalert.skymap.peek import guide_numbers


def _reference(data: bytes) -> tuple[float, float, object, object] | None:
    """What ``SkyMap`` reports for the map (None when it refuses it)."""
    try:
        skymap = SkyMap.read(data)
        return (*skymap.most_probable(), skymap.distmean, skymap.diststd)
    except Exception:  # noqa: BLE001 - any refusal, whatever its type
        return None


def _same(got, want) -> bool:
    return repr(got) == repr(want)  # bit for bit, and the same types (int stays int)


#: One way a map may stray from the plain layout LVK sends (None: it does not).
DEVIATIONS = [
    "nan",  # a NaN density
    "inf",  # an infinite density
    "neg",  # a negative density
    "bound",  # a probability sum at, near or beyond SkyMap's bounds (0.98, 1.02)
    "uniq32",  # UNIQ as 32-bit integers
    "dens32",  # PROBDENSITY as 32-bit floats
    "scaled",  # PROBDENSITY with TSCAL
    "extra32",  # another column of 32-bit floats
    "gzip",  # the map gzip-compressed
    "range",  # a UNIQ index outside the HEALPix range
]


@st.composite
def tables(draw):
    """A multi-order FITS table as bytes, and how it strays from the plain layout LVK sends
    (None for half of them)."""
    deviation = draw(st.sampled_from([None] * len(DEVIATIONS) + DEVIATIONS))
    n = draw(st.integers(1, 80))
    levels = draw(st.lists(st.integers(0, 29) | st.integers(3, 9), min_size=n, max_size=n))
    uniq = np.array(
        [
            4 * 4**lv + draw(st.integers(0, 12 * 4**lv - 1))
            for lv in levels  # duplicates allowed: SkyMap reads them as they are
        ],
        dtype=np.int64,
    )
    order = draw(st.sampled_from(["sorted", "sorted", "shuffled", "swapped"]))
    if order != "shuffled":  # as LVK writes maps (summed a level at a time)
        perm = np.argsort(uniq, kind="stable")
        if order == "swapped" and n > 1:  # sorted but for two rows
            i, j = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
            perm[[i, j]] = perm[[j, i]]
        uniq, levels = uniq[perm], [levels[i] for i in perm]
    dens = np.array(draw(st.lists(st.floats(0, 1e6), min_size=n, max_size=n)), dtype=np.float64)
    if draw(st.booleans()):  # ties for the maximum
        dens[draw(st.integers(0, n - 1))] = dens.max()
    area = 4 * math.pi / (12 * 4.0 ** np.array(levels))
    total = float(np.sum(dens * area))
    assume(total > 0)
    if deviation == "bound":
        target = draw(
            st.sampled_from([0.98, 1.02, 0.98 - 1e-9, 1.02 + 1e-9, 0.98 + 2e-6, 0.97, 1.03])
            | st.floats(0.95, 1.05)
        )
    else:
        target = draw(st.just(1.0) | st.floats(0.99, 1.01))
    dens *= target / total
    if deviation in ("nan", "inf", "neg"):
        dens[draw(st.integers(0, n - 1))] = {"nan": np.nan, "inf": np.inf, "neg": -1e-3}[deviation]
    if deviation == "range":
        uniq[draw(st.integers(0, n - 1))] = draw(st.sampled_from([0, 3, -1, 2**62, 2**63 - 1]))
    columns = {
        "UNIQ": fits.Column("UNIQ", "J", array=uniq.astype(np.int32))
        if deviation == "uniq32"
        else fits.Column("UNIQ", "K", array=uniq),
        "PROBDENSITY": fits.Column(
            "PROBDENSITY",
            "E" if deviation == "dens32" else "D",
            array=dens,
            bscale=2.0 if deviation == "scaled" else None,
        ),
    }
    for name in draw(st.lists(st.sampled_from(["DISTMU", "DISTSIGMA", "DISTNORM", "X"]))):
        columns[name] = fits.Column(name, draw(st.sampled_from(["D", "K"])), array=dens)
    if deviation == "extra32":
        columns["Y"] = fits.Column("Y", "E", array=dens)
    names = draw(st.permutations(list(columns)))
    hdu = fits.BinTableHDU.from_columns([columns[c] for c in names])
    for key in ("DISTMEAN", "DISTSTD"):
        value = draw(st.none() | st.floats(0, 1e4) | st.integers(0, 10**4) | st.just("x"))
        if value is not None:
            hdu.header[key] = value
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
    data = buf.getvalue()
    if deviation == "gzip":
        data = gzip.compress(data, mtime=0)
    return data, deviation


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_same_numbers_as_skymap_or_none(table):
    data, deviation = table
    got = guide_numbers(data)
    want = _reference(data)
    if got is not None:
        assert want is not None, "peek read a map SkyMap refuses"
        assert _same(got, want)
    if deviation is None:
        assert got is not None, "the plain LVK layout must be read without numpy"


@settings(deadline=None)
@given(st.binary(max_size=4000), st.integers(0, 3000))
def test_garbage_and_truncated_maps_step_aside(junk, cut):
    """Arbitrary bytes and cut maps: None or SkyMap's numbers, never an exception."""
    for data in (junk, b"SIMPLE  =" + junk, _plain_map()[:cut]):
        got = guide_numbers(data)
        if got is not None:
            assert _same(got, _reference(data))


@functools.cache
def _plain_map() -> bytes:
    from gwalert.samples import gaussian_skymap

    return gaussian_skymap(max_level=4)


@pytest.mark.parametrize(
    "name",
    [
        "bayestar.multiorder.fits",
        "G1028259_rrt_small_area_cwb.multiorder.fits",
        "MS181101ab_userguide_bayestar.slim.nside512.fits.gz",
    ],
)
def test_real_maps(name):
    path = SKYMAPS / name
    if not path.exists():
        pytest.skip(f"{path} not available (../shared is absent)")
    data = path.read_bytes()
    got = guide_numbers(data)
    if name.endswith(".gz"):
        assert got is None  # flattened and compressed: SkyMap's reader
    else:
        assert got is not None and _same(got, _reference(data))


def test_sample_notices_maps(shared_notices):
    from gwalert.alerts import read_notice

    for path in sorted(shared_notices.iterdir()):
        notice = read_notice(path)
        if notice.event is None or not notice.event.skymap_bytes:
            continue
        got = guide_numbers(notice.event.skymap_bytes)
        assert got is not None and _same(got, _reference(notice.event.skymap_bytes)), path


def test_more_rows_than_worth_it_are_left_to_numpy():
    from gwalert.skymap.peek import MAX_PEEK_ROWS

    level = 9
    n = MAX_PEEK_ROWS + 1
    uniq = 4 * 4**level + np.arange(n, dtype=np.int64)
    dens = np.full(n, 1.0 / (n * 4 * math.pi / (12 * 4**level)))
    hdu = fits.BinTableHDU.from_columns(
        [fits.Column("UNIQ", "K", array=uniq), fits.Column("PROBDENSITY", "D", array=dens)]
    )
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
    assert guide_numbers(buf.getvalue()) is None
