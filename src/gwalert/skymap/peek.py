"""The sky-map numbers of the LVK user guide's report, read without numpy when that is safe.

``gwalert parse`` prints a notice's most probable position and the header's distance. For the
maps LVK sends (an uncompressed multi-order table of 8-byte ``K``/``D`` columns, unscaled, up
to a few hundred thousand rows) they are read here in pure Python: numpy's import alone costs
more than the rest of the command. :func:`guide_numbers` answers only when
:class:`~gwalert.skymap.SkyMap` would read the same map without error and give the same numbers
(it checks what ``SkyMap.read`` checks, and leaves any case near a bound to it); for every
other map it returns None and the caller reads the map with ``SkyMap``, which also gives the
reasons for refusing one. ``tests/test_peek.py`` checks both agree on generated maps of every
kind.
"""

from __future__ import annotations

import math
import operator
import sys
from array import array
from bisect import bisect_left
from typing import Any

from ..limits import MAX_SKYMAP_ROWS
from .fitsheader import find_bintable, int_card
from .fitsstream import open_source
from .pixcenter import MAX_LEVEL, pixel_center

#: Beyond this many rows numpy's vectorised reading pays for its import (they break even
#: near 900,000 rows, whole processes measured on the development machine).
MAX_PEEK_ROWS = 1 << 19
#: Totals this close to SkyMap's bounds on the probability sum (0.98, 1.02) are left to it:
#: its blocked float sum and the plain one here differ by at most ~rows * 2**-53 relative.
_MARGIN = 1e-6
_SIMPLE_FORMS = {"K": "q", "1K": "q", "D": "d", "1D": "d"}
_PER_COLUMN_CARDS = ("TSCAL", "TZERO", "TNULL", "TDIM")
#: 4**-level by the bit length of a UNIQ index at that level (2 * level + 3 or 2 * level + 4).
_WEIGHT_BY_BITS = [math.ldexp(1.0, -2 * ((bits - 3) >> 1)) for bits in range(2 * MAX_LEVEL + 5)]


def guide_numbers(data: bytes) -> tuple[float, float, Any, Any] | None:
    """(RA, Dec) of the most probable pixel's centre in degrees, and the header's DISTMEAN and
    DISTSTD as ``SkyMap`` gives them (None when absent or not numbers); None when this map
    must be read by ``SkyMap`` instead."""
    try:
        return _numbers(data)
    except Exception:  # noqa: BLE001 - any doubt: SkyMap reads it and says what is wrong
        return None


def _numbers(data: bytes) -> tuple[float, float, Any, Any] | None:
    if data[:2] == b"\x1f\x8b":
        return None
    with open_source(data) as stream:
        header = find_bintable(stream)
        layout = _layout(header)
        if layout is None:
            return None
        nrows, nfields, uniq_at, dens_at = layout
        if not 0 < nrows <= min(MAX_PEEK_ROWS, MAX_SKYMAP_ROWS):
            return None
        size = nrows * nfields * 8
        if stream.position + size > stream.limit:
            return None
        table = stream.read(size)
        if len(table) != size:
            return None
    uniq = _column(table, "q", uniq_at, nfields)
    dens = _column(table, "d", dens_at, nfields)
    total = _weighted_sum(uniq, dens)  # None: a UNIQ index outside the HEALPix range
    # NaN or infinite densities make the total so, and leave it to SkyMap with the rest
    if total is None or not 0.98 + _MARGIN <= total * (4 * math.pi / 12) <= 1.02 - _MARGIN:
        return None
    if min(dens) < 0:
        return None
    best = uniq[dens.index(max(dens))]  # the first of equal maxima, as numpy's argmax
    level = (best.bit_length() - 3) >> 1
    ra, dec = pixel_center(level, best - (1 << (2 * (level + 1))))
    return ra, dec, _number(header.get("DISTMEAN")), _number(header.get("DISTSTD"))


def _layout(header: dict[str, Any]) -> tuple[int, int, int, int] | None:
    """(rows, columns, UNIQ's column, PROBDENSITY's column) of a table made only of unscaled
    8-byte integer and float columns, with UNIQ an integer and PROBDENSITY a float column;
    None for any other table."""
    nfields = int_card(header, "TFIELDS")
    if not 0 < nfields <= 999 or int_card(header, "NAXIS1") != 8 * nfields:
        return None
    names: list[str] = []
    kinds: list[str] = []
    for n in range(1, nfields + 1):
        if any(f"{card}{n}" in header for card in _PER_COLUMN_CARDS):
            return None
        kind = _SIMPLE_FORMS.get(str(header.get(f"TFORM{n}", "")).strip().upper())
        if kind is None:
            return None
        names.append(str(header.get(f"TTYPE{n}", f"COL{n}")).strip().upper())
        kinds.append(kind)
    if len(set(names)) != nfields or "UNIQ" not in names or "PROBDENSITY" not in names:
        return None
    uniq_at, dens_at = names.index("UNIQ"), names.index("PROBDENSITY")
    if kinds[uniq_at] != "q" or kinds[dens_at] != "d":
        return None
    return int_card(header, "NAXIS2"), nfields, uniq_at, dens_at


def _weighted_sum(uniq: Any, dens: Any) -> float | None:
    """The sum of density * 4**-level over the rows (SkyMap's probability sum, but for the
    factor 4 pi / 12); None when a UNIQ index is outside the HEALPix range. Rows sorted by
    UNIQ (as LVK writes them) are summed a level at a time (each level's rows checked to be
    of that level, so any order gives the right sum), others row by row."""
    total = 0.0
    start = 0
    for level in range(MAX_LEVEL + 1):
        if start == len(uniq):
            return total
        low, high = 4 << (2 * level), 16 << (2 * level)
        end = bisect_left(uniq, high, start)
        if end > start:
            part = uniq[start:end]
            if min(part) < low or max(part) >= high:  # not sorted, or out of range
                return _weighted_sum_unsorted(uniq, dens)
            total += sum(dens[start:end]) * _WEIGHT_BY_BITS[2 * level + 3]
        start = end
    return total if start == len(uniq) else _weighted_sum_unsorted(uniq, dens)


def _weighted_sum_unsorted(uniq: Any, dens: Any) -> float | None:
    if not 4 <= min(uniq) <= max(uniq) < 16 << (2 * MAX_LEVEL):
        return None
    weights = map(_WEIGHT_BY_BITS.__getitem__, map(int.bit_length, uniq))
    return sum(map(operator.mul, dens, weights))


def _column(table: Any, code: str, at: int, nfields: int) -> Any:
    """Column ``at`` of a table of 8-byte big-endian cells, as a native array (only that
    column's bytes are copied)."""
    values = array(code)
    values.frombytes(memoryview(table).cast("B").cast("Q")[at::nfields].tobytes())
    if sys.byteorder == "little":
        values.byteswap()
    return values


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value
