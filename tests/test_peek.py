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
from hypothesis import HealthCheck, given, settings
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


@st.composite
def tables(draw):
    """A multi-order FITS table as bytes, with whether it is the plain layout LVK sends."""
    level = st.integers(0, 29)
    n = draw(st.integers(1, 60))
    levels = draw(st.lists(level, min_size=n, max_size=n))
    uniq = np.array(
        [
            4 * 4**lv + draw(st.integers(0, 12 * 4**lv - 1))
            for lv in levels  # duplicates allowed: SkyMap reads them as they are
        ],
        dtype=np.int64,
    )
    dens = np.array(draw(st.lists(st.floats(0, 1e6), min_size=n, max_size=n)), dtype=np.float64)
    if draw(st.booleans()):  # ties for the maximum
        dens[draw(st.integers(0, n - 1))] = dens.max()
    area = 4 * math.pi / (12 * 4.0 ** np.array(levels))
    total = float(np.sum(dens * area))
    # normalised to a total at, near or beyond the bounds (0.98, 1.02) on the sum
    target = draw(
        st.sampled_from([1.0, 0.98, 1.02, 0.98 - 1e-9, 1.02 + 1e-9, 0.97, 1.03])
        | st.floats(0.95, 1.05)
    )
    if total > 0:
        dens *= target / total
    spoil = draw(st.sampled_from([None, None, None, "nan", "inf", "neg"]))
    if spoil:
        dens[draw(st.integers(0, n - 1))] = {"nan": np.nan, "inf": np.inf, "neg": -1e-3}[spoil]
    uniq_form = draw(st.sampled_from(["K", "K", "J"]))
    dens_form = draw(st.sampled_from(["D", "D", "E"]))
    scaled = draw(st.booleans()) and draw(st.booleans())
    columns = {
        "UNIQ": fits.Column(
            "UNIQ", uniq_form, array=uniq if uniq_form == "K" else uniq.astype(np.int32)
        ),
        "PROBDENSITY": fits.Column(
            "PROBDENSITY", dens_form, array=dens, bscale=2.0 if scaled else None
        ),
    }
    for name in draw(st.lists(st.sampled_from(["DISTMU", "DISTSIGMA", "DISTNORM", "X"]))):
        columns[name] = fits.Column(name, draw(st.sampled_from(["D", "K", "E"])), array=dens)
    order = draw(st.permutations(list(columns)))
    hdu = fits.BinTableHDU.from_columns([columns[c] for c in order])
    for key in ("DISTMEAN", "DISTSTD"):
        value = draw(st.none() | st.floats(0, 1e4) | st.integers(0, 10**4) | st.just("x"))
        if value is not None:
            hdu.header[key] = value
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
    data = buf.getvalue()
    if draw(st.booleans()) and draw(st.booleans()):
        data = gzip.compress(data, mtime=0)
    plain = (
        not spoil
        and 0.99 <= target <= 1.01
        and total > 0
        and uniq_form == "K"
        and dens_form == "D"
        and not scaled
        and all(c.format in ("D", "K") for c in columns.values())
        and data[:2] != b"\x1f\x8b"
    )
    return data, plain


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_same_numbers_as_skymap_or_none(table):
    data, plain = table
    got = guide_numbers(data)
    want = _reference(data)
    if got is not None:
        assert want is not None, "peek read a map SkyMap refuses"
        assert _same(got, want)
    if plain:
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
