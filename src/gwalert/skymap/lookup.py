"""Position look-up: which row of a multi-order map holds each (RA, Dec).

A dense index over the cells of one coarse order answers for every row at that order or
coarser; the coarse order is the lowest one at which rows finer than it cover under 5% of the
sky (at most order 8), so most positions are found by one gather. The index is kept in the
order of HEALPix's edge-line coordinates (a, b) (``healpix.ang2ab``: the two integers ang2pix
finds before it reads the base pixel and x, y off them), 5 NSIDE by 5 NSIDE cells (at order
8, 1.6 million: 6.5 MB), so that a position's key is ``a * 5 NSIDE + b``. Positions are placed
at the map's deepest order once (``healpix.ang2ab_scaled``: the pair times a power of two);
the coarse cell is that pair shifted right, in one shift. Positions in cells split finer are
found by a sorted search over the deeper rows' first pixels at the deepest order, all at once
after the blocks. All of it on 1-D arrays (see ``arrays``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from .arrays import TARGET_BLOCK, flat_positions, wrap_ra
from .healpix import ab_to_nested, ang2ab_scaled, in_range, nested_to_ab, positions

if TYPE_CHECKING:
    from .map import SkyMap

_MAX_COARSE = 8
_DEEP_AREA = 0.05  # rows finer than the dense index cover at most this share of the sky


@dataclass(frozen=True)
class Lookup:
    level: int  # deepest level of the map
    starts: np.ndarray  # first nested index at ``level`` of each row finer than ``coarse``
    ends: np.ndarray  # one past the last, same order
    rows: np.ndarray  # row index of each entry
    coarse: int  # level of the dense index
    #: per coarse cell, at ``a * 5 NSIDE + b`` (see ``healpix.ang2ab``; cells of no pixel,
    #: which no position reaches, read -1): its row, -2 if split finer, -1 uncovered
    index: np.ndarray
    gaps: bool  # some coarse cell is uncovered (-1)


def _level_runs(level: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(rows per level 0..top, and the first row of each level and one past the last when
    the levels ascend, as in a map sorted by UNIQ, else None)."""
    if level.size < 2 or np.all(level[1:] >= level[:-1]):
        bounds = np.searchsorted(level, np.arange(top + 2))
        return np.diff(bounds), bounds
    return np.bincount(level, minlength=top + 1), None


def _coarse_level(counts: np.ndarray) -> int:
    top = counts.size - 1
    # sky share of the rows at each level or coarser
    area = np.cumsum(counts * np.ldexp(1.0, -2 * np.arange(top + 1))) / 12
    coarse = int(np.argmax(area >= 1 - _DEEP_AREA)) if area[-1] >= 1 - _DEEP_AREA else top
    return min(coarse, top, _MAX_COARSE)


_CHUNK = 1 << 16  # cells per step of the (a, b) tables: bounded temporaries at order 8


@lru_cache(maxsize=4)
def _nested_to_key(level: int) -> np.ndarray:
    """``a * 5 NSIDE + b`` of every nested pixel at ``level`` (see ``healpix.nested_to_ab``),
    as int32 (read-only, shared by every map)."""
    npix = 12 << (2 * level)
    out = np.empty(npix, np.int32)
    for lo in range(0, npix, _CHUNK):
        a, b = nested_to_ab(level, np.arange(lo, min(lo + _CHUNK, npix), dtype=np.int64))
        a *= 5 << level
        a += b
        out[lo : lo + a.size] = a
    out.flags.writeable = False
    return out


def _ab_index(index: np.ndarray, coarse: int) -> np.ndarray:
    """The dense index (nested order) rewritten in (a, b) order: one scatter. The cells of
    no pixel read -1 (no position reaches them); quadrants (4, 4) repeat base pixel 4, as
    HEALPix wraps the pair of a position just below RA 360 deg."""
    nside = 1 << coarse
    width = 5 * nside
    out = np.full(width * width, -1, index.dtype)
    out[_nested_to_key(coarse)] = index
    square = out.reshape(width, width)
    square[4 * nside :, 4 * nside :] = square[:nside, :nside]
    return out


def build_lookup(sm: SkyMap) -> Lookup:
    level, ipix = sm.level_ipix
    top = int(level.max())
    counts, bounds = _level_runs(level, top)
    coarse = _coarse_level(counts)
    if bounds is None:
        deep = np.flatnonzero(level > coarse)
        deep_level, deep_ipix = level[deep], ipix[deep]
    else:  # the last rows: views, no gathers
        first = int(bounds[coarse + 1])
        deep = np.arange(first, level.size)
        deep_level, deep_ipix = level[first:], ipix[first:]
    deep_cells = deep_ipix >> (2 * (deep_level - coarse))
    index = _tiled_index(level, ipix, coarse, deep_cells, counts, bounds)
    gaps = False  # a tiled index has no uncovered cell
    if index is None:
        index = _overlapping_index(level, ipix, coarse, deep_cells)
        gaps = bool(np.count_nonzero(index == -1))
    # Rows finer than the dense index, sorted by their first pixel at the deepest level
    # (the stable sort: it merges the sorted runs of a map sorted by UNIQ, 7x the quick one).
    shift = 2 * (top - deep_level)
    starts = deep_ipix << shift
    by_start = np.argsort(starts, kind="stable")
    return Lookup(
        top,
        starts[by_start],
        ((deep_ipix + 1) << shift)[by_start],
        deep[by_start],
        coarse,
        _ab_index(index, coarse),
        gaps,
    )


def _tiled_index(
    level: np.ndarray,
    ipix: np.ndarray,
    coarse: int,
    deep_cells: np.ndarray,
    counts: np.ndarray,
    bounds: np.ndarray | None,
) -> np.ndarray | None:
    """The dense index (nested order) of a map whose rows tile the sky exactly, each level's
    rows written as blocks of cells (no sort); None if rows overlap or leave gaps. ``counts``
    and ``bounds`` as ``_level_runs`` gives them."""
    ncells = 12 << (2 * coarse)
    index = np.full(ncells, -1, dtype=np.int32)
    covered = 0  # cells written by the shallow rows, with multiplicity
    for lv in np.flatnonzero(counts[: coarse + 1]).tolist():
        if bounds is None:
            rows = np.flatnonzero(level == lv)
        else:
            rows = np.arange(bounds[lv], bounds[lv + 1])
        width = 1 << (2 * (coarse - lv))
        index.reshape(-1, width)[ipix[rows]] = rows.astype(np.int32)[:, None]
        covered += rows.size * width
    index[deep_cells] = -2
    n_split = int(np.count_nonzero(index == -2))
    # exact tiling: no cell left out, and the writes add up to the cells (no overlaps)
    if covered + n_split != ncells or np.count_nonzero(index == -1):
        return None
    return index


def _overlapping_index(
    level: np.ndarray, ipix: np.ndarray, coarse: int, deep_cells: np.ndarray
) -> np.ndarray:
    """The dense index of a map with gaps or overlaps: filled row by row (an overlap resolves
    to the later row, a cell split finer wins over both)."""
    ncells = 12 << (2 * coarse)
    shallow = np.flatnonzero(level <= coarse)
    first = ipix[shallow] << (2 * (coarse - level[shallow]))
    count = np.left_shift(1, 2 * (coarse - level[shallow]))
    index = np.full(ncells, -1, dtype=np.int32)
    total = int(count.sum())
    offsets = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
    index[np.repeat(first, count) + offsets] = np.repeat(shallow, count)
    index[deep_cells] = -2
    return index


def rows_at(sm: SkyMap, ra_deg: Any, dec_deg: Any) -> np.ndarray:
    """Row index holding each position (-1 where the map does not cover it), in the
    positions' broadcast shape (a 0-d array for scalars)."""
    shape, ra, dec, _ = flat_positions(ra_deg, dec_deg)
    return rows_flat(sm, ra, dec).reshape(shape)


def rows_flat(sm: SkyMap, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """``rows_at`` for checked 1-D arrays of RA and Dec in degrees."""
    lk = sm.lookup
    ra = wrap_ra(ra)
    out = np.empty(ra.size, np.int64)
    reduced = in_range(float(ra.max())) if ra.size else True
    fine: list[Fine] = []
    for lo in range(0, ra.size, TARGET_BLOCK):  # small temporaries (see arrays)
        sl = slice(lo, lo + TARGET_BLOCK)
        h, z, cd = positions(ra[sl], dec[sl])
        out[sl] = block_rows(lk, h, z, cd, dec[sl], lo, fine, reduced)
    resolve_fine(lk, out, fine)
    return out


#: positions in cells split finer: (indices, their a and b at the deepest level)
Fine = tuple[np.ndarray, np.ndarray, np.ndarray]


def block_rows(
    lk: Lookup,
    h: np.ndarray,
    z: np.ndarray,
    cos_dec: np.ndarray,
    dec_deg: np.ndarray,
    lo: int,
    fine: list[Fine],
    reduced: bool = False,
) -> np.ndarray:
    """Row of each position (arguments as ``healpix.ang2ab``, a block starting at index
    ``lo``), as int32: -1 if not covered, -2 in cells split finer; for those, (index, a, b
    at the deepest level) is appended to ``fine`` for ``resolve_fine``."""
    a, b, sub = ang2ab_scaled(lk.level, h, z, cos_dec, dec_deg, reduced=reduced)
    shift = sub + lk.level - lk.coarse  # to the dense index's level in one shift
    width = 5 << lk.coarse
    key = a >> shift
    key *= width
    key += b >> shift
    rows = lk.index.take(key)
    if lk.level > lk.coarse:
        split = (rows == -2).nonzero()[0]
        if split.size:  # at the deepest level: shifted by sub only
            fine.append((split + lo, a.take(split) >> sub, b.take(split) >> sub))
    return rows


def resolve_fine(lk: Lookup, rows: np.ndarray, fine: list[Fine]) -> bool:
    """Replace the -2 of ``block_rows`` in ``rows`` by the row found among the rows finer
    than the dense index, or -1; all such positions at once (their nested pixels in one
    pass, then one sorted search: a search of sorted keys walks the table once, a quarter of
    the time of the same keys unsorted). True if some position is in no row (-1)."""
    if not fine:
        return False
    parts = zip(*fine, strict=True)
    where, a, b = (np.concatenate(p) if len(fine) > 1 else p[0] for p in parts)
    pixel = ab_to_nested(lk.level, a, b)
    order = np.argsort(pixel)
    pixel = pixel[order]
    j = np.searchsorted(lk.starts, pixel, side="right")
    j -= 1
    jc = np.maximum(j, 0)
    ok = (j >= 0) & (pixel < lk.ends[jc])
    rows[where[order]] = np.where(ok, lk.rows[jc], -1)
    return not bool(ok.all())
