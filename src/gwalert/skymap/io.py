"""FITS sky map in, multi-order rows out: what ligo.skymap's ``read_sky_map(path, moc=True)`` gives.

Multi-order (NUNIQ) maps are read as they are. Single-resolution ("flattened") maps are
derasterized as ligo.skymap does: a PROB column becomes PROBDENSITY (times npix / 4 pi, in the
column's own type), then every block of four sibling NESTED pixels whose values are all equal
(in every column; two records that each hold a NaN somewhere also count as equal) merges into
its parent, recursively, and the rows come out sorted by UNIQ.

The flat map is never held whole: the table is decompressed and read in chunks, cut into
aligned NESTED blocks of ``4**k`` pixels that are merged as soon as they are complete, and only
the merged rows (and one number per block) are kept. A RING map is reordered block by block: a
NESTED block of side ``s`` covers ``2s - 1`` rings, so a sliding window of about ``8 s nside``
ring pixels is enough to gather every block; blocks are processed in the order their last ring
pixel arrives. Peak memory follows the number of merged rows plus that window, not the flat map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SkyMapError
from ..limits import MAX_SKYMAP_ROWS
from . import fitsio
from .healpix import compact_bits

DISTANCE_COLUMNS = ("DISTMU", "DISTSIGMA", "DISTNORM")
#: Columns kept (as float64) in the multi-order rows.
KEPT = ("PROBDENSITY", *DISTANCE_COLUMNS)
_BLOCK_LEVELS = 6  # blocks of 4**6 = 4096 NESTED pixels (side 64)
_CHUNK_PIXELS = 1 << 18
_MAX_FLAT_COLUMNS = 8  # real flat maps have 1 to 4 (PROB, DISTMU, DISTSIGMA, DISTNORM)
_WHOLE_TABLE = 4 << 20  # multi-order tables up to this size are read in one piece


@dataclass(frozen=True)
class Rows:
    """Multi-order rows: NUNIQ indices and float64 columns (PROBDENSITY, distance if any)."""

    uniq: np.ndarray
    columns: dict[str, np.ndarray]
    header: dict[str, Any]


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


# ----------------------------------------------------------------------------- reading
def read(source: Any) -> Rows:
    """Read a multi-order, flattened or gzip-compressed FITS sky map into multi-order rows."""
    with fitsio.open_source(source) as stream:
        table = fitsio.BinTable(stream)
        names = [c.name for c in table.columns]
        if "UNIQ" in names:
            return _read_multiorder(table)
        return _read_flat(table)


def _bound_rows(n: int) -> None:
    if n > MAX_SKYMAP_ROWS:
        raise SkyMapError(
            f"sky map has more than {MAX_SKYMAP_ROWS} multi-order rows; refused "
            "(set GWALERT_MAX_SKYMAP_ROWS to raise the bound)"
        )


def _read_multiorder(table: fitsio.BinTable) -> Rows:
    _bound_rows(table.nrows)
    columns = {c.name: c for c in table.columns}
    ucol = columns["UNIQ"]
    if ucol.code not in "BIJK" or ucol.scaled and not ucol.unsigned or ucol.repeat != 1:
        raise SkyMapError("column UNIQ is not an integer column")
    kept = [columns[name] for name in KEPT if name in columns]
    if table.data_bytes <= _WHOLE_TABLE:
        # a notice's map: one read, UNIQ converted, the float columns left as views
        rows = table.read_all()
        uniq = _uniq(ucol, rows["UNIQ"])
        out = {col.name: _float64(table, rows, col) for col in kept}
        return Rows(uniq=uniq, columns=out, header=table.header)
    # only the columns used are kept (as native arrays), a chunk of rows at a time: a wide
    # hostile table costs its chunk, not its size
    uniq = np.empty(table.nrows, dtype=np.int64)
    out = {c.name: np.empty(table.nrows, dtype=np.float64) for c in kept}
    at = 0
    for rows in table.iter_rows(_WHOLE_TABLE):
        n = len(rows)
        uniq[at : at + n] = _uniq(ucol, rows["UNIQ"])
        for col in kept:
            out[col.name][at : at + n] = _float64(table, rows, col)
        at += n
    return Rows(uniq=uniq, columns=out, header=table.header)


def _uniq(col: fitsio.Column, stored: np.ndarray) -> np.ndarray:
    if col.tnull is not None and np.any(stored == col.tnull):
        raise SkyMapError("column UNIQ has null (TNULL) values")
    # unsigned UNIQ (ligo.skymap < 0.1.8) becomes int64, as ligo.skymap casts it
    return col.physical(stored).astype(np.int64)


def _float64(table: fitsio.BinTable, rows: np.ndarray, col: fitsio.Column) -> np.ndarray:
    """The column as float64 values: a view of the file's bytes when they already are."""
    if col.code in "LA":
        raise SkyMapError(f"column {col.name} is not numeric")
    values = col.physical(rows[col.name])
    if col.tnull is not None and not col.scaled:
        null = rows[col.name] == col.tnull
        values = np.where(null, np.nan, values.astype(np.float64))
    if values.ndim != 1:
        raise SkyMapError(f"column {col.name} has {col.repeat} values per row")
    if values.dtype.kind != "f" or values.dtype.itemsize != 8:
        values = values.astype(np.float64)
    return values


# ------------------------------------------------------------------- flattened sky maps
def flat_level(npix: int, header: dict[str, Any]) -> int:
    nside = math.isqrt(npix // 12) if npix >= 12 else 0
    if npix == 0 or 12 * nside * nside != npix or nside & (nside - 1):
        raise SkyMapError(f"{npix} pixels is not a HEALPix map with a power-of-two NSIDE")
    nside_card = header.get("NSIDE")
    if isinstance(nside_card, int) and not isinstance(nside_card, bool) and nside_card != nside:
        raise SkyMapError(f"header NSIDE {nside_card} disagrees with {npix} pixels")
    return nside.bit_length() - 1


def _ordering(header: dict[str, Any]) -> str:
    ordering = str(header.get("ORDERING", "")).strip().upper()
    if ordering not in ("NESTED", "RING"):
        raise SkyMapError(f"unknown pixel ordering {ordering or '(none)'} in a flat sky map")
    return ordering


def _value_column(names: list[str]) -> tuple[str, bool]:
    """The probability column's name, and whether it holds probability per pixel."""
    for name in ("PROB", "PROBABILITY"):
        if name in names:
            return name, True
    if "PROBDENSITY" in names:
        return "PROBDENSITY", False
    return names[0], True  # healpy's unnamed first column (e.g. T): probability per pixel


def _read_flat(table: fitsio.BinTable) -> Rows:
    header = table.header
    cols = table.columns
    if not cols:
        raise SkyMapError("FITS table has no columns")
    if len(cols) > _MAX_FLAT_COLUMNS:
        # every column takes part in merging and in the RING window: bound the width
        raise SkyMapError(f"flat sky map has {len(cols)} columns, more than {_MAX_FLAT_COLUMNS}")
    for col in cols:
        if col.code == "A":
            raise SkyMapError(f"column {col.name} of a flat sky map is not numeric")
    repeat = cols[0].repeat
    if any(c.repeat != repeat for c in cols):
        raise SkyMapError("columns of a flat sky map hold different numbers of pixels")
    npix = table.nrows * repeat
    if npix * 8 > table.stream.limit:
        # work follows pixels: count each as 8 bytes, whatever its type
        raise SkyMapError(
            f"flat sky map of {npix} pixels is more work than the bound of "
            f"{table.stream.limit} bytes (set GWALERT_MAX_SKYMAP_BYTES to raise it)"
        )
    level = flat_level(npix, header)
    ordering = _ordering(header)
    names = [c.name for c in cols]
    value_name, is_prob = _value_column(names)
    scale = npix / (4 * np.pi) if is_prob else None
    der = Derasterizer(level, ordering, names, value_name, scale)
    rows_per_chunk = max(1, der.chunk_pixels // max(repeat, 1))
    for rows in table.iter_rows(rows_per_chunk * max(table.row_bytes, 1)):
        der.feed([_pixels(c, rows) for c in cols])
    return der.finish(header)


def _pixels(col: fitsio.Column, rows: np.ndarray) -> np.ndarray:
    values = col.physical(rows[col.name])
    if col.tnull is not None and not col.scaled:
        null = (rows[col.name] == col.tnull).reshape(-1)
        values = np.where(null, np.nan, values.reshape(-1).astype(np.float64))
    values = values.reshape(-1)
    if values.dtype.kind == "f" and not values.dtype.isnative:
        values = values.astype(values.dtype.newbyteorder("="))
    return values


def from_flat_columns(columns: dict[str, np.ndarray], header: dict[str, Any]) -> Rows:
    """Derasterize a flat map already in memory (columns of equal pixel count)."""
    names = [k.upper() for k in columns]
    arrays = [np.asarray(v).reshape(-1) for v in columns.values()]
    npix = arrays[0].size
    if any(a.size != npix for a in arrays):
        raise SkyMapError("columns of a flat sky map hold different numbers of pixels")
    level = flat_level(npix, header)
    value_name, is_prob = _value_column(names)
    der = Derasterizer(
        level, _ordering(header), names, value_name, npix / (4 * np.pi) if is_prob else None
    )
    der.feed(arrays)
    return der.finish(header)


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
        self.chunk_pixels = (
            max(_CHUNK_PIXELS, 8 << (self.k + level)) if self.ring else _CHUNK_PIXELS
        )
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
        per = max(1, _CHUNK_PIXELS // self.C)
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
        _bound_rows(self.nout)
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
