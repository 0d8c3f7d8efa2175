"""2-D credible regions: the ranking of rows, credible areas, and each position's credible
level (searched probability and area), exactly as ``ligo.skymap.postprocess.crossmatch``.

ligo.skymap sorts the table with ``np.sort(table, order='PROBDENSITY')`` and reverses it: rows
by descending probability density, ties broken by the following columns in table order, i.e.
by descending NUNIQ (unique in a valid map). gwalert ranks the rows the same way. The credible
area for probability ``p`` interpolates linearly in the cumulative (probability, area) curve
starting from (0, 0), as ligo.skymap's ``contour_areas``; a position's ``searched_prob`` /
``searched_area`` are the cumulative probability / area up to and including its row.
Probabilities are not renormalised (the reader refuses totals beyond 2% of 1; ligo.skymap does
not renormalise either).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .arrays import flat_positions, levels, shaped
from .healpix import SQDEG_PER_SR, pixel_center
from .lookup import rows_flat

if TYPE_CHECKING:
    from .map import SkyMap


@dataclass(frozen=True)
class Ranking:
    """The rows in ligo.skymap's order, with cumulative sums (a map's derived table)."""

    order: np.ndarray  #: row indices, most probable first
    cum_prob: np.ndarray  #: cumulative probability along ``order``
    cum_area: np.ndarray  #: cumulative area (sr) along ``order``
    searched_prob: np.ndarray  #: per row (map order): credible level
    searched_area_deg: np.ndarray  #: per row (map order): credible area in deg²


def rank_order(dens: np.ndarray, uniq: np.ndarray) -> np.ndarray:
    """Row indices by descending density, ties by descending NUNIQ (ligo.skymap's order)."""
    return _ascending(dens, uniq)[0][::-1]


def _ascending(dens: np.ndarray, uniq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row indices by ascending density, ties by ascending NUNIQ; the densities in that
    order)."""
    if uniq.size < 2 or np.all(uniq[1:] > uniq[:-1]):
        # Ties keep ascending-UNIQ (= row) order ascending, so reversed, descending.
        packed = _packed_order(dens)
        if packed is not None:
            return packed
        # Without ties any sort gives that order: the quick one, then a stable one only if
        # needed. Ties: sort each run of equal densities by row, as the stable sort would
        # (sorting run * n + row, a quick integer sort, costs a third of numpy's stable
        # argsort).
        n = dens.size
        order = np.argsort(dens)
        ranked = dens[order]
        same = ranked[1:] == ranked[:-1]
        if np.any(same):
            run = np.zeros(n, np.int64)
            np.cumsum(~same, out=run[1:])
            run *= n
            order += run
            order.sort()
            order -= run
            ranked = dens[order]
        return order, ranked
    order = np.lexsort((uniq, dens))
    return order, dens[order]


def _packed_order(dens: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``_ascending`` of a map sorted by UNIQ, by one sort of integers: a non-negative
    float64's bits order as the float does, so each density's bits with the low ones replaced
    by its row index sort by (density, row) wherever the densities differ in the bits kept;
    if they do not somewhere (two densities within 2**-37 of each other, relatively, on a
    19,200-row map), the sorted densities are not monotone and None is returned. numpy sorts
    integers with SIMD; arg-sorting the floats costs twice as much. None also for densities
    that are not native float64, negative (-0.0 included) or NaN."""
    n = dens.size
    if dens.dtype != np.dtype(np.float64) or not dens.flags.c_contiguous or n >= 1 << 31:
        return None
    bits = dens.view(np.int64)
    if bits.min() < 0 or bits.max() > 0x7FF0000000000000:  # sign bit set, or NaN
        return None
    shift = max(1, (n - 1).bit_length())
    packed = bits >> shift
    packed <<= shift
    packed |= np.arange(n, dtype=np.int64)
    packed.sort()
    packed &= (1 << shift) - 1
    ranked = dens[packed]
    if not np.all(ranked[1:] >= ranked[:-1]):
        return None
    return packed, ranked


def build_ranking(sm: SkyMap) -> Ranking:
    ascending, ranked = _ascending(sm.probdensity, sm.uniq)
    order = ascending[::-1]
    area = sm.pixel_area[order]
    cum_prob = np.cumsum(ranked[::-1] * area)
    cum_area = np.cumsum(area)
    searched_prob = np.empty_like(cum_prob)
    searched_prob[order] = cum_prob
    searched_area_deg = np.empty_like(cum_area)
    searched_area_deg[order] = cum_area * SQDEG_PER_SR
    return Ranking(order, cum_prob, cum_area, searched_prob, searched_area_deg)


def credible_area(sm: SkyMap, p: Any) -> Any:
    """Area in deg² of the smallest region holding probability ``p`` (ligo.skymap's
    ``contour_areas``); ``p`` of any shape."""
    lv = levels(p)
    rk = sm.ranking
    out = (
        np.interp(
            lv.reshape(-1),
            np.pad(rk.cum_prob, (1, 0)),
            np.pad(rk.cum_area, (1, 0)),
            right=4 * math.pi,
        )
        * SQDEG_PER_SR
    )
    return shaped(out, lv.shape)


def _per_row(
    sm: SkyMap, ra_deg: Any, dec_deg: Any, table: np.ndarray, outside: float, scale: float = 1.0
) -> Any:
    shape, ra, dec, _ = flat_positions(ra_deg, dec_deg)
    rows = rows_flat(sm, ra, dec)
    out = np.where(rows >= 0, table[rows] * scale, outside)
    return shaped(out, shape)


def searched_prob(sm: SkyMap, ra_deg: Any, dec_deg: Any) -> Any:
    """Credible level of each position: the probability of the smallest region containing it
    (1 where the map has no row)."""
    return _per_row(sm, ra_deg, dec_deg, sm.ranking.searched_prob, 1.0)


def searched_area(sm: SkyMap, ra_deg: Any, dec_deg: Any) -> Any:
    """Area (deg²) of the smallest region containing each position (the full sky where the
    map has no row)."""
    return _per_row(sm, ra_deg, dec_deg, sm.ranking.searched_area_deg, 4 * 180**2 / math.pi)


def probdensity_at(sm: SkyMap, ra_deg: Any, dec_deg: Any) -> Any:
    """Probability per steradian at each position (0 where the map has no row)."""
    return _per_row(sm, ra_deg, dec_deg, sm.probdensity, 0.0)


def contains(sm: SkyMap, ra_deg: Any, dec_deg: Any, p: Any = 0.9) -> Any:
    """True where the position lies in the ``p`` credible region (its credible level <= p),
    the membership test of the LVK user guide (``credible_levels <= 0.9``) and of ligo.skymap.

    A row's credible level is the cumulative probability up to and including it, so the row
    that crosses ``p`` is outside: on a map whose probability sits in one pixel, that pixel has
    level 1 and is inside only the 100% region. ``p`` broadcasts with the positions."""
    lv = levels(p)
    shape, ra, dec, (lv_flat,) = flat_positions(ra_deg, dec_deg, lv)
    rows = rows_flat(sm, ra, dec)
    level = np.where(rows >= 0, sm.ranking.searched_prob[rows], 1.0)
    return shaped(level <= lv_flat, shape)


def mode(sm: SkyMap) -> tuple[float, float]:
    """Centre (RA, Dec) of the first row in ligo.skymap's ranking (highest density; among
    equal densities, the highest NUNIQ)."""
    uniq = int(sm.uniq[int(sm.ranking.order[0])])
    level = (uniq.bit_length() - 3) // 2  # NUNIQ = 4**(level + 1) + ipix (as uniq_to_level_ipix)
    return pixel_center(level, uniq - (4 << (2 * level)))
