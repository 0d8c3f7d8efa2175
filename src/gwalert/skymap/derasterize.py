"""Derasterizing: a flattened (single-resolution) map's pixels, fed in file order a chunk
at a time, merged into multi-order rows as ligo.skymap's ``read_sky_map(path, moc=True)``
does (see ``io`` for the rules and the memory bound), and the NESTED/RING index arithmetic it
needs."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import SkyMapError
from .healpix import compact_bits
from .maprows import DISTANCE_COLUMNS, Rows, bound_rows

_BLOCK_LEVELS = 6  # blocks of 4**6 = 4096 NESTED pixels (side 64)
CHUNK_PIXELS = 1 << 18


# ------------------------------------------------------------------------ HEALPix indices
_JRLL = np.array([2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4], dtype=np.int64)
_JPLL = np.array([1, 3, 5, 7, 0, 2, 4, 6, 1, 3, 5, 7], dtype=np.int64)


def nest_to_xyf(ipix: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, face) of NESTED pixels at ``level``."""
    ipix = np.asarray(ipix, dtype=np.int64)
    face = ipix >> (2 * level)
    local = ipix & ((1 << (2 * level)) - 1)
    return compact_bits(local), compact_bits(local >> 1), face


def xyf_to_ring(x: np.ndarray, y: np.ndarray, face: np.ndarray, level: int) -> np.ndarray:
    """RING index of the pixel (x, y) of ``face`` (HEALPix's xyf2ring, vectorised)."""
    nside = 1 << level
    nl4 = 4 * nside
    npix = 12 * nside * nside
    ncap = 2 * nside * (nside - 1)
    jr = _JRLL[face] * nside - x - y - 1  # ring number, 1 .. 4 nside - 1
    north = jr < nside
    south = jr > 3 * nside
    nr = np.where(north, jr, np.where(south, nl4 - jr, nside))
    start = np.where(
        north,
        2 * jr * (jr - 1),
        np.where(south, npix - 2 * nr * (nr + 1), ncap + (jr - nside) * nl4),
    )
    kshift = np.where(north | south, 0, (jr - nside) & 1)
    jp = (_JPLL[face] * nr + x - y + 1 + kshift) >> 1
    jp = np.where(jp > nl4, jp - nl4, np.where(jp < 1, jp + nl4, jp))
    return start + jp - 1


def nest_to_ring(ipix: np.ndarray, level: int) -> np.ndarray:
    x, y, face = nest_to_xyf(ipix, level)
    return xyf_to_ring(x, y, face, level)


class Derasterizer:
    """Merge a flat map's pixels, fed in file order a chunk at a time, into multi-order rows."""

    def __init__(
        self, level: int, ordering: str, names: list[str], value_name: str, scale: float | None
    ) -> None:
        self.level = level
        self.nside = 1 << level
        self.npix = 12 << (2 * level)
        self.ring = ordering == "RING"
        self.names = names
        self.value_index = names.index(value_name)
        self.scale = scale
        self.kept = {name: i for i, name in enumerate(names) if name in DISTANCE_COLUMNS}
        self.k = min(level, _BLOCK_LEVELS)
        self.C = 1 << (2 * self.k)
        self.nblocks = self.npix // self.C
        first = np.arange(self.nblocks, dtype=np.int64) * self.C
        if self.ring:
            self.rmax = nest_to_ring(first, level)  # local (0, 0): the southernmost pixel
            self.rmin = nest_to_ring(first + self.C - 1, level)  # the northernmost
            self.order = np.argsort(self.rmax, kind="stable")
            sorted_min = self.rmin[self.order]
            self.suffix_min = np.minimum.accumulate(sorted_min[::-1])[::-1]
            dx, dy, _ = nest_to_xyf(np.arange(self.C), self.k)
            self.d_template = dx + dy  # ring offset (southwards) from the block's corner
            self.e_template = dx - dy  # position offset along the ring
        else:
            self.order = np.arange(self.nblocks)
            self.rmax = first + self.C - 1
            self.suffix_min = first
        self.sorted_rmax = self.rmax[self.order]
        # RING: chunks about as large as the window (the window is copied once per chunk)
        self.chunk_pixels = max(CHUNK_PIXELS, 8 << (self.k + level)) if self.ring else CHUNK_PIXELS
        self.done = 0  # blocks processed (a prefix of ``order``)
        self.lo = 0  # file pixel index of window[.][0]
        self.window: list[np.ndarray] | None = None
        self.fed = 0
        self.out_uniq: list[np.ndarray] = []
        self.out_cols: list[list[np.ndarray]] = []
        self.nout = 0
        # per-block summary: uniform flag, representative record, has-NaN flag
        self.blk_uniform = np.zeros(self.nblocks, dtype=bool)
        self.blk_nan = np.zeros(self.nblocks, dtype=bool)
        self.blk_rep: list[np.ndarray] | None = None

    # one chunk of pixels in file order, one array per column
    def feed(self, chunk: list[np.ndarray]) -> None:
        if self.fed + chunk[0].size > self.npix:
            raise SkyMapError("flat sky map holds more pixels than its size says")
        chunk = list(chunk)
        v = chunk[self.value_index]
        if self.scale is not None:
            # as ligo.skymap's in-place ``PROB *= npix / (4 pi)``: in the column's own float
            # type (a PROB column holding NaN differs there, but such a map is refused)
            if v.dtype.kind != "f":
                v = v.astype(np.float64)
            chunk[self.value_index] = v * v.dtype.type(self.scale)
        if self.window is None:
            self.window = chunk
            self.blk_rep = [np.zeros(self.nblocks, dtype=c.dtype) for c in chunk]
        else:
            drop = self._keep_from() - self.lo
            self.window = [
                np.concatenate((w[drop:], c)) for w, c in zip(self.window, chunk, strict=True)
            ]
            self.lo += drop
        self.fed += chunk[0].size
        self._process()

    def _keep_from(self) -> int:
        if self.done >= self.nblocks:
            return self.fed
        return int(self.suffix_min[self.done])

    def _process(self) -> None:
        hi = self.fed
        ready = int(np.searchsorted(self.sorted_rmax, hi, side="left"))
        if ready <= self.done:
            return
        # in batches that keep the temporaries bounded
        per = max(1, CHUNK_PIXELS // self.C)
        for start in range(self.done, ready, per):
            ids = self.order[start : min(ready, start + per)]
            self._merge_blocks(ids)
        self.done = ready

    def _gather(self, ids: np.ndarray) -> list[np.ndarray]:
        assert self.window is not None
        if not self.ring:
            a = int(ids[0]) * self.C - self.lo
            b = (int(ids[-1]) + 1) * self.C - self.lo
            return [w[a:b] for w in self.window]
        where = (self.ring_indices(ids) - self.lo).ravel()
        return [w[where] for w in self.window]

    def ring_indices(self, ids: np.ndarray) -> np.ndarray:
        """RING index of every pixel of the NESTED blocks ``ids``, shape (len(ids), C).

        HEALPix's xyf2ring, with the per-ring quantities (start, length, shift) computed once
        per ring a block crosses (2s - 1 of them) instead of once per pixel (s**2).
        """
        nside, nl4 = self.nside, 4 * self.nside
        x0, y0, face = nest_to_xyf(ids * self.C, self.level)
        side = 1 << self.k
        jr = (_JRLL[face] * nside - x0 - y0 - 1)[:, None] - np.arange(2 * side - 1)[None, :]
        north = jr < nside
        south = jr > 3 * nside
        nr = np.where(north, jr, np.where(south, nl4 - jr, nside))
        start = np.where(
            north,
            2 * jr * (jr - 1),
            np.where(
                south, self.npix - 2 * nr * (nr + 1), 2 * nside * (nside - 1) + (jr - nside) * nl4
            ),
        )
        kshift = np.where(north | south, 0, (jr - nside) & 1)
        a = _JPLL[face][:, None] * nr + (x0 - y0 + 1)[:, None] + kshift
        jp = (np.take(a, self.d_template, axis=1) + self.e_template) >> 1
        wrap = np.flatnonzero(face == 4)  # only face 4 straddles the rings' first pixel
        if wrap.size:
            part = jp[wrap]
            part[part < 1] += nl4
            jp[wrap] = part
        return np.take(start - 1, self.d_template, axis=1) + jp

    def _merge_blocks(self, ids: np.ndarray) -> None:
        values = self._gather(ids)
        nan = _has_nan(values)
        uniform: np.ndarray | None = None  # every pixel is a uniform node
        for t in range(self.k):
            step = 1 << (2 * t)
            uniform = self._merge_level(
                values,
                nan,
                uniform,
                step,
                self.level - t,
                lambda local, per: ids[local // per] * per + local % per,
                self.C // step,
            )
        # one node per block remains: hand it to the coarse stage
        self.blk_uniform[ids] = True if uniform is None else uniform
        self.blk_nan[ids] = nan[:: self.C]
        assert self.blk_rep is not None
        for rep, v in zip(self.blk_rep, values, strict=True):
            rep[ids] = v[:: self.C]

    def _merge_level(
        self,
        values: list[np.ndarray],
        nan: np.ndarray,
        uniform: np.ndarray | None,
        step: int,
        level: int,
        to_global: Any,
        per: int,
    ) -> np.ndarray:
        """Merge nodes (every ``step``-th record) four by four; emit the children that stay."""
        # the four children of parent i are nodes 4i .. 4i+3 (strided views, no reductions
        # over a short axis, which numpy does slowly)
        n = nan[::step]
        n0, n1, n2, n3 = n[0::4], n[1::4], n[2::4], n[3::4]
        all_nan = n0 & n1 & n2 & n3
        equal = ~(n0 | n1 | n2 | n3)
        for v in values:
            r = v[::step]
            r0 = r[0::4]
            equal &= (r[1::4] == r0) & (r[2::4] == r0) & (r[3::4] == r0)
        parent = all_nan | equal
        if uniform is not None:
            parent &= uniform[0::4] & uniform[1::4] & uniform[2::4] & uniform[3::4]
        else:
            uniform = np.ones(n.size, dtype=bool)
        emit = np.flatnonzero(uniform & ~np.repeat(parent, 4))
        if emit.size:
            self._emit(values, emit, step, level, to_global(emit, per))
        return parent

    def _emit(
        self, values: list[np.ndarray], local: np.ndarray, step: int, level: int, ipix: np.ndarray
    ) -> None:
        self.nout += local.size
        bound_rows(self.nout)
        at = local * step
        self.out_uniq.append((np.int64(4) << (2 * level)) + ipix)
        self.out_cols.append([values[i][at] for i in self._kept_indices()])

    def _kept_indices(self) -> list[int]:
        return [self.value_index, *self.kept.values()]

    def finish(self, header: dict[str, Any]) -> Rows:
        if self.fed != self.npix or self.done != self.nblocks:
            raise SkyMapError("truncated flat sky map")
        assert self.blk_rep is not None
        values = self.blk_rep
        nan = self.blk_nan
        uniform = self.blk_uniform
        level = self.level - self.k
        for t in range(level):
            uniform = self._merge_level(
                values, nan, uniform, 1 << (2 * t), level - t, lambda local, per: local, 0
            )
            # the coarser nodes' representatives are every 4th of these
        # the 12 base pixels (or the block level itself when level == 0)
        top = np.flatnonzero(uniform)
        if top.size:
            self._emit(values, top, 1 << (2 * level), 0, top)
        uniq = np.concatenate(self.out_uniq)
        order = np.argsort(uniq, kind="stable")
        names = ["PROBDENSITY", *self.kept]
        cols = [np.concatenate([c[j] for c in self.out_cols]) for j in range(len(names))]
        columns = {
            name: np.ascontiguousarray(c[order], dtype=np.float64)
            for name, c in zip(names, cols, strict=True)
        }
        return Rows(uniq=uniq[order], columns=columns, header=header)


def _has_nan(values: list[np.ndarray]) -> np.ndarray:
    nan = np.zeros(values[0].size, dtype=bool)
    for v in values:
        if v.dtype.kind == "f":
            nan |= np.isnan(v)
    return nan
