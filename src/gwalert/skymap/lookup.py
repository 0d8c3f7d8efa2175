"""Position look-up: which row of a multi-order map holds each (RA, Dec).

A dense index at order 8 (786,432 cells, 3 MB) answers for every row at order 8 or coarser;
positions in cells split finer are found by a sorted search over the deeper rows' first pixels
at the map's deepest order. All of it on 1-D arrays (see ``arrays``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .arrays import TARGET_BLOCK, flat_positions
from .healpix import ang2pix_nested, uniq_to_level_ipix

if TYPE_CHECKING:
    from .map import SkyMap

_COARSE_LEVEL = 8


@dataclass(frozen=True)
class Lookup:
    level: int  # deepest level of the map
    starts: np.ndarray  # first nested index at ``level`` of each row, sorted
    ends: np.ndarray  # one past the last, same order
    rows: np.ndarray  # row index of each entry
    coarse: int  # level of the dense index
    index: np.ndarray  # per cell at ``coarse``: its row, -2 if split finer, -1 if uncovered


def build_lookup(sm: SkyMap) -> Lookup:
    level, ipix = uniq_to_level_ipix(sm.uniq)
    top = int(level.max())
    coarse = min(top, _COARSE_LEVEL)
    ncells = 12 << (2 * coarse)
    shallow = np.flatnonzero(level <= coarse)
    deep = np.flatnonzero(level > coarse)
    first = ipix[shallow] << (2 * (coarse - level[shallow]))
    count = np.left_shift(1, 2 * (coarse - level[shallow]))
    deep_cells = np.unique(ipix[deep] >> (2 * (level[deep] - coarse)))
    # Shallow rows and split cells, in sky order; when they tile the sky exactly (as every
    # valid map does) the dense index is one np.repeat.
    cell_first = np.concatenate([first, deep_cells])
    cell_count = np.concatenate([count, np.ones(deep_cells.size, np.int64)])
    cell_row = np.concatenate([shallow, np.full(deep_cells.size, -2)]).astype(np.int32)
    order = np.argsort(cell_first, kind="stable")  # fast on the nearly sorted starts
    cell_first, cell_count, cell_row = cell_first[order], cell_count[order], cell_row[order]
    ends_c = cell_first + cell_count
    if (
        cell_first.size
        and cell_first[0] == 0
        and ends_c[-1] == ncells
        and np.all(cell_first[1:] == ends_c[:-1])
    ):
        index = np.repeat(cell_row, cell_count)
    else:  # gaps or overlaps: fill cell by cell (overlaps resolve to the later row)
        index = np.full(ncells, -1, dtype=np.int32)
        total = int(count.sum())
        offsets = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
        index[np.repeat(first, count) + offsets] = np.repeat(shallow, count)
        index[deep_cells] = -2
    # Rows finer than the dense index, sorted by their first pixel at the deepest level.
    shift = 2 * (top - level[deep])
    starts = ipix[deep] << shift
    by_start = np.argsort(starts, kind="stable")
    return Lookup(
        top, starts[by_start], ((ipix[deep] + 1) << shift)[by_start], deep[by_start], coarse, index
    )


def rows_at(sm: SkyMap, ra_deg: Any, dec_deg: Any) -> np.ndarray:
    """Row index holding each position (-1 where the map does not cover it), in the
    positions' broadcast shape (a 0-d array for scalars)."""
    shape, ra, dec, _ = flat_positions(ra_deg, dec_deg)
    return rows_flat(sm, ra, dec).reshape(shape)


def rows_flat(sm: SkyMap, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """``rows_at`` for checked 1-D arrays of RA and Dec in degrees."""
    lk = sm.lookup
    out = np.empty(ra.size, np.int64)
    for lo in range(0, ra.size, TARGET_BLOCK):  # small temporaries (see arrays)
        sl = slice(lo, lo + TARGET_BLOCK)
        out[sl] = rows_of_pixels(lk, ang2pix_nested(lk.level, ra[sl], dec[sl]))
    return out


def rows_of_pixels(lk: Lookup, pix: np.ndarray) -> np.ndarray:
    """Row of each nested pixel index (1-D) at the map's deepest level (-1 if not covered)."""
    pix = np.asarray(pix, np.int64).reshape(-1)
    out = lk.index[pix >> (2 * (lk.level - lk.coarse))].astype(np.int64)
    fine = np.flatnonzero(out == -2)
    if fine.size:
        p = pix[fine]
        j = np.searchsorted(lk.starts, p, side="right") - 1
        jc = np.clip(j, 0, None)
        ok = (j >= 0) & (p < lk.ends[jc])
        out[fine] = np.where(ok, lk.rows[jc], -1)
    return out
