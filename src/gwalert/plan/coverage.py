"""Probability inside telescope fields, on the multi-order map itself (never flattened).

A field's footprint is pixelised into a multi-order set of HEALPix cells: cells wholly inside
are kept whole at whatever level they are found, cells on the boundary are split down to a
detail level fine beside the field (its circumradius / 32 by default), where the cell's centre
decides. Every cell is a range of indices at HEALPix level 29 (NESTED), as are the map's rows;
the probability of a set of ranges is then an exact integral of the map's piecewise-constant
density over them (``MapIntegral``): rows finer than a cell and cells finer than a row both
count exactly. The union of several fields is the union of their ranges, so overlaps count once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..skymap.arrays import rows_dot
from ..skymap.healpix import pixel_area_sr, uniq_to_level_ipix
from ..skymap.vectors import pixel_vectors, unit_vectors
from .footprints import Footprint

if TYPE_CHECKING:
    from ..skymap import SkyMap

DEEP = 29  # HEALPix level whose NESTED indices carry every range
_AREA29 = 4 * math.pi / (12 * 4.0**DEEP)
#: A bound on the centre-to-edge angle (rad) of any pixel, times NSIDE, per level: the maximum
#: over all pixels' corners and edge midpoints (levels 0-8, every pixel; level 9, 300,000
#: random ones), plus 10% for the bulge of HEALPix edges between those points (as
#: gwalert.skymap.fields does), plus 2%. It grows towards 1.069 * 1.1 = 1.176 from below;
#: deeper levels use 1.2.
_RADIUS_NSIDE = (0.944, 1.081, 1.142, 1.171, 1.186, 1.193, 1.196, 1.198, 1.199, 1.199)
_CHUNK = 200_000  # cells classified at once (bounds the temporaries)


@dataclass(frozen=True)
class Cells:
    """Pixelised fields: ranges [start, stop) of level-29 NESTED indices, each tagged with its
    field's index; sorted by (field, start), disjoint within a field."""

    field: np.ndarray  # int64
    start: np.ndarray  # int64
    stop: np.ndarray  # int64
    n_fields: int
    level: int  # the detail level

    def of(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = np.searchsorted(self.field, [i, i + 1])
        return self.start[lo:hi], self.stop[lo:hi]

    def area(self) -> np.ndarray:
        """Area (deg²) of each field's pixelised footprint."""
        sizes = (self.stop - self.start).astype(np.float64) * _AREA29
        return np.bincount(self.field, sizes, minlength=self.n_fields) * (180 / math.pi) ** 2

    def select(self, fields: np.ndarray) -> Cells:
        """The cells of the given fields, renumbered 0..len(fields)-1 in that order."""
        parts = [self.of(int(i)) for i in fields]
        n = [len(s) for s, _ in parts]
        if not parts:
            e = np.zeros(0, np.int64)
            return Cells(e, e, e, 0, self.level)
        return Cells(
            np.repeat(np.arange(len(parts), dtype=np.int64), n),
            np.concatenate([s for s, _ in parts]),
            np.concatenate([t for _, t in parts]),
            len(parts),
            self.level,
        )


def _radius_bound(level: int) -> float:
    k = _RADIUS_NSIDE[level] if level < len(_RADIUS_NSIDE) else 1.2
    return k / (1 << level)


def detail_level(footprint: Footprint, divisions: float = 16.0, finest: int = 16) -> int:
    """The level whose pixels are at most the footprint's circumradius / ``divisions``
    across (NSIDE 256 for a ZTF-size field, as planners use)."""
    size = math.radians(footprint.circumradius) / divisions
    level = 0
    while level < finest and math.sqrt(float(pixel_area_sr(level))) > size:
        level += 1
    return level


def field_frames(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """(n, 3, 3): per field, the unit vectors east, north and the pointing (rows)."""
    a, d = np.radians(ra), np.radians(dec)
    ca, sa, cd, sd = np.cos(a), np.sin(a), np.cos(d), np.sin(d)
    east = np.stack([-sa, ca, np.zeros_like(a)], axis=-1)
    north = np.stack([-sd * ca, -sd * sa, cd], axis=-1)
    point = unit_vectors(ra, dec)
    return np.stack([east, north, point], axis=1)


def edge_normals(footprint: Footprint) -> list[np.ndarray]:
    out = []
    for v in footprint.local_vertices():
        n = np.cross(v, np.roll(v, -1, axis=0))
        out.append(n / np.linalg.norm(n, axis=1, keepdims=True))
    return out


def classify_cells(fp: Footprint, normals: list[np.ndarray], w: np.ndarray, r: float) -> np.ndarray:
    """+1 for cells (local centre vectors ``w``, radius ``r``) wholly inside, -1 wholly outside,
    0 undecided; with ``r`` = 0 the centre decides (on the edge counts inside)."""
    if fp.radius is not None:
        ang = np.arccos(np.clip(w[:, 2], -1.0, 1.0))
        big = math.radians(fp.radius)
        return np.where(ang + r <= big, 1, np.where(ang - r > big, -1, 0)).astype(np.int8)
    sin_r = math.sin(r)
    inside = np.zeros(len(w), bool)
    outside = np.ones(len(w), bool)
    for nrm in normals:
        s = rows_dot(w, nrm)  # sine of the signed distance to each edge's great circle
        low = s.min(axis=1)
        inside |= low >= sin_r
        outside &= low < -sin_r if r > 0 else low < 0
    return np.where(inside, 1, np.where(outside, -1, 0)).astype(np.int8)


def footprint_cells(
    footprint: Footprint, ra: np.ndarray, dec: np.ndarray, level: int | None = None
) -> Cells:
    """Pixelise the footprint pointed at each (RA, Dec) (degrees)."""
    ra = np.atleast_1d(np.asarray(ra, np.float64))
    dec = np.atleast_1d(np.asarray(dec, np.float64))
    level = detail_level(footprint) if level is None else int(level)
    frames = field_frames(ra, dec)
    normals = edge_normals(footprint)
    n = ra.size
    fid = np.repeat(np.arange(n, dtype=np.int64), 12)
    ipix = np.tile(np.arange(12, dtype=np.int64), n)
    keep_f: list[np.ndarray] = []
    keep_lo: list[np.ndarray] = []
    keep_hi: list[np.ndarray] = []
    for lv in range(level + 1):
        final = lv == level
        r = 0.0 if final else _radius_bound(lv)
        cls = np.empty(fid.size, np.int8)
        for s in range(0, fid.size, _CHUNK):
            f, p = fid[s : s + _CHUNK], ipix[s : s + _CHUNK]
            v = pixel_vectors(lv, p)
            fr = frames[f]
            w = np.einsum("mj,mkj->mk", v, fr)
            cls[s : s + _CHUNK] = classify_cells(footprint, normals, w, r)
        inside = cls > 0
        shift = 2 * (DEEP - lv)
        keep_f.append(fid[inside])
        keep_lo.append(ipix[inside] << shift)
        keep_hi.append((ipix[inside] + 1) << shift)
        if final:
            break
        split = cls == 0
        fid = np.repeat(fid[split], 4)
        ipix = ((ipix[split] << 2)[:, None] + np.arange(4, dtype=np.int64)).reshape(-1)
        if fid.size == 0:
            break
    f = np.concatenate(keep_f)
    lo = np.concatenate(keep_lo)
    hi = np.concatenate(keep_hi)
    order = np.lexsort((lo, f))
    f, lo, hi = f[order], lo[order], hi[order]
    # merge touching ranges of the same field
    if f.size:
        join = (f[1:] == f[:-1]) & (lo[1:] == hi[:-1])
        head = np.concatenate([[True], ~join])
        idx = np.flatnonzero(head)
        tail = np.concatenate([idx[1:] - 1, [f.size - 1]])
        f, lo, hi = f[idx], lo[idx], hi[tail]
    return Cells(f, lo, hi, n, level)


class MapIntegral:
    """Exact integrals of a multi-order map's density over ranges of level-29 indices."""

    def __init__(self, sm: SkyMap) -> None:
        level, ipix = uniq_to_level_ipix(sm.uniq)
        shift = 2 * (DEEP - level)
        start = ipix << shift
        order = np.argsort(start, kind="stable")
        self.start = start[order]
        self.stop = (ipix[order] + 1) << shift[order]
        self.rate = sm.probdensity[order] * _AREA29  # probability per level-29 index
        prob = sm.probdensity[order] * pixel_area_sr(level[order])
        self.before = np.concatenate([[0.0], np.cumsum(prob)])
        self.total = float(self.before[-1])

    def cumulative(self, x: np.ndarray) -> np.ndarray:
        """Probability of all indices below ``x``."""
        x = np.asarray(x, np.int64)
        k = np.searchsorted(self.start, x, side="right") - 1
        kk = np.maximum(k, 0)
        inside = np.minimum(x, self.stop[kk]) - self.start[kk]
        part = np.where(k >= 0, self.rate[kk] * np.maximum(inside, 0).astype(np.float64), 0.0)
        return np.where(k >= 0, self.before[kk], 0.0) + part

    def ranges(self, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        return self.cumulative(stop) - self.cumulative(start)


def field_probabilities(integral: MapIntegral, cells: Cells) -> np.ndarray:
    """Probability inside each field (its own, overlaps with others irrelevant)."""
    p = integral.ranges(cells.start, cells.stop)
    return np.bincount(cells.field, p, minlength=cells.n_fields)


def union_probability(
    integral: MapIntegral, cells: Cells, fields: np.ndarray | None = None
) -> float:
    """Probability inside the union of the given fields (all by default): overlaps once."""
    if fields is not None:
        cells = cells.select(np.asarray(fields, np.int64))
    lo, hi = merge(cells.start, cells.stop)
    return float(np.sum(integral.ranges(lo, hi)))


def merge(start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of ranges as disjoint sorted ranges."""
    if start.size == 0:
        return start, stop
    order = np.argsort(start, kind="stable")
    s, t = start[order], stop[order]
    reach = np.maximum.accumulate(t)
    head = np.concatenate([[True], s[1:] > reach[:-1]])
    idx = np.flatnonzero(head)
    ends = np.concatenate([idx[1:] - 1, [s.size - 1]])
    return s[idx], reach[ends]
