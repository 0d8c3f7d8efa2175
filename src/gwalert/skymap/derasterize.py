"""Derasterizing: a flattened (single-resolution) map's pixels, fed in file order a chunk
at a time, merged into multi-order rows as ligo.skymap's ``read_sky_map(path, moc=True)``
does (see ``io`` for the rules and the memory bound), and the NESTED/RING index arithmetic it
needs."""

from __future__ import annotations

from collections.abc import Callable
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
    """Merge a flat map's pixels, fed in file order a chunk at a time, into multi-order rows.

    The merging works on changes, not on the tree: the pixels are visited in NESTED order (a
    block of ``C = 4**k`` pixels at a time), the stored bytes of consecutive pixels compared
    (no decoding: any column whose bytes differ is a candidate change), and only the
    candidates decoded and checked with ligo.skymap's rule (every column equal, or both
    records holding a NaN). A record that differs from the one before it by that rule starts
    a run; the multi-order rows are the largest aligned NESTED blocks inside each run (an
    aligned block merges exactly when none of its pixels differs from the one before it:
    the rule is an equivalence), and each row takes its first pixel's record, kept at every
    byte change. Work is one comparison per pixel and column plus the changes.
    """

    def __init__(
        self,
        level: int,
        ordering: str,
        names: list[str],
        value_name: str,
        scale: float | None,
        decode: Callable[[int, np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self.level = level
        self.nside = 1 << level
        self.npix = 12 << (2 * level)
        self.ring = ordering == "RING"
        self.names = names
        self.value_index = names.index(value_name)
        self.scale = scale
        self.decode = decode
        self.kept = {name: i for i, name in enumerate(names) if name in DISTANCE_COLUMNS}
        self.kept_indices = [self.value_index, *self.kept.values()]
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
            # in the equatorial belt: offsets from the block's first index, by the parities
            # of its first position along the ring (r) and of its ring (p)
            d, e = self.d_template, self.e_template
            self.belt_templates = [
                -d * (4 * self.nside) + ((v >> 1) + ((v & 1) ^ (d & 1)) + e >> 1) for v in range(4)
            ]
        else:
            self.order = np.arange(self.nblocks)
            self.rmax = first + self.C - 1
            self.suffix_min = first
        self.sorted_rmax = self.rmax[self.order]
        # RING: chunks twice the window (what is left of it is copied once per chunk)
        self.chunk_pixels = max(CHUNK_PIXELS, 16 << (self.k + level)) if self.ring else CHUNK_PIXELS
        self.done = 0  # blocks processed (a prefix of ``order``)
        self.lo = 0  # file pixel index of window[.][0]
        self._buffer: np.ndarray | None = None  # what the window lives in, once joined
        self._kept = 0  # records kept at the front of the buffer by ``space``
        self.window: np.ndarray | None = None  # records (one field per column) in file order
        self.fed = 0
        # byte changes inside blocks: position of the new record, its kept values, and
        # whether it starts a run; and per block its first and last records (all columns)
        self.change_pos: list[np.ndarray] = []
        self.change_vals: list[list[np.ndarray]] = []
        self.change_break: list[np.ndarray] = []
        self.nchanges = 0
        self.block_ids: list[np.ndarray] = []
        self.block_first: list[list[np.ndarray]] = []
        self.block_last: list[list[np.ndarray]] = []

    def feed(self, chunk: np.ndarray) -> None:
        """One chunk of pixels in file order: a structured array of their stored values, one
        field per column (in the order of ``names``), one record per pixel."""
        if self.fed + chunk.size > self.npix:
            raise SkyMapError("flat sky map holds more pixels than its size says")
        if self.window is None:
            self.window = chunk
        else:
            drop = self._keep_from() - self.lo
            if drop >= self.window.size:
                self.window = chunk
            else:
                self.window = self._joined(self.window[drop:], chunk)
            self.lo += drop
        self.fed += chunk.size
        self._process()

    def space(self, n: int, dtype: np.dtype) -> np.ndarray:
        """Room for the next ``n`` records in file order (after what the window still needs),
        for the caller to fill before ``commit(n)``: ``feed`` without a copy of the chunk."""
        if self.fed + n > self.npix:
            raise SkyMapError("flat sky map holds more pixels than its size says")
        kept = np.empty(0, dtype=dtype)
        if self.window is not None:
            drop = self._keep_from() - self.lo
            kept = self.window[drop:]
            self.lo += drop
            if drop < kept.size:  # kept overlaps where it goes
                kept = kept.copy()
        buf = self._buffer
        if buf is None or buf.size < kept.size + n or buf.dtype != dtype:
            buf = np.empty(max(kept.size + n, 2 * n), dtype=dtype)
        buf[: kept.size] = kept
        self._buffer = buf
        self._kept = kept.size
        return buf[kept.size : kept.size + n]

    def commit(self, n: int) -> None:
        """The ``n`` records of ``space(n)`` are there: process them."""
        assert self._buffer is not None
        self.window = self._buffer[: self._kept + n]
        self.fed += n
        self._process()

    def _joined(self, kept: np.ndarray, chunk: np.ndarray) -> np.ndarray:
        """``kept`` then ``chunk`` in one reused buffer (fresh memory each time would cost a
        page fault per page)."""
        n = kept.size + chunk.size
        buf = self._buffer
        if buf is None or buf.size < n or buf.dtype != chunk.dtype:
            buf = np.empty(max(n, 2 * chunk.size), dtype=chunk.dtype)
            buf[: kept.size] = kept
        else:
            # kept is the tail of the window, which lives in this buffer: move it to the front
            buf[: kept.size] = kept.copy() if np.shares_memory(kept, buf) else kept
        buf[kept.size : n] = chunk
        self._buffer = buf
        return buf[:n]

    def _keep_from(self) -> int:
        if self.done >= self.nblocks:
            return self.fed
        return int(self.suffix_min[self.done])

    def _process(self) -> None:
        ready = int(np.searchsorted(self.sorted_rmax, self.fed, side="left"))
        if ready <= self.done:
            return
        # in batches that keep the temporaries bounded
        per = max(1, CHUNK_PIXELS // self.C)
        for start in range(self.done, ready, per):
            self._blocks(self.order[start : min(ready, start + per)])
        self.done = ready

    def _gather(self, ids: np.ndarray) -> np.ndarray:
        """The records of the blocks ``ids`` in NESTED order, shape (len(ids), C)."""
        assert self.window is not None
        if not self.ring:  # consecutive blocks: a view
            a = int(ids[0]) * self.C - self.lo
            return self.window[a : a + ids.size * self.C].reshape(ids.size, self.C)
        # one gather of whole records, as rows of machine words (numpy's fast path)
        words = _words(self.window)
        where = self.ring_indices(ids, self.lo).reshape(-1)
        if words.shape[1] == 1:  # one word per record (a 2-D map): a 1-D gather
            got = np.take(words.reshape(-1), where)
        else:
            got = np.take(words, where, axis=0)
        return got.view(self.window.dtype).reshape(ids.size, self.C)

    def ring_indices(self, ids: np.ndarray, less: int = 0) -> np.ndarray:
        """RING index (minus ``less``) of every pixel of the NESTED blocks ``ids``, shape
        (len(ids), C).

        HEALPix's xyf2ring, with the per-ring quantities (start, length, shift) computed once
        per ring a block crosses (2s - 1 of them) instead of once per pixel (s**2).
        """
        nside, nl4 = self.nside, 4 * self.nside
        x0, y0, face = nest_to_xyf(ids * self.C, self.level)
        side = 1 << self.k
        j0 = _JRLL[face] * nside - x0 - y0 - 1  # the block's southernmost ring
        # blocks in the equatorial belt (every ring 4 nside long) off face 4 (no wrapping):
        # the block's first index plus one of four templates, by two parities
        belt = (face != 4) & (j0 <= 3 * nside) & (j0 - 2 * side + 2 >= nside)
        if not belt.any():
            return self._ring_indices(x0, y0, face) - less
        jp0 = _JPLL[face] * nside + x0 - y0 + 1
        variant = 2 * (jp0 & 1) + ((j0 - nside) & 1)
        base = 2 * nside * (nside - 1) + (j0 - nside) * nl4 - 1 + (jp0 >> 1) - less
        out = np.empty((ids.size, self.C), dtype=np.int64)
        for v in np.unique(variant[belt]):
            sel = belt & (variant == v)
            if sel.all():
                np.add(base[:, None], self.belt_templates[v], out=out)
            else:
                out[sel] = base[sel, None] + self.belt_templates[v]
        if not belt.all():
            rest = ~belt
            out[rest] = self._ring_indices(x0[rest], y0[rest], face[rest]) - less
        return out

    def _ring_indices(self, x0: np.ndarray, y0: np.ndarray, face: np.ndarray) -> np.ndarray:
        nside, nl4 = self.nside, 4 * self.nside
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

    def _records(self, stored: list[np.ndarray], at: np.ndarray, cols: list[int]) -> list:
        """Physical values (the probability scaled) of the records ``at`` of ``stored``."""
        out = []
        for i in cols:
            v = stored[i].reshape(-1)[at]
            if self.decode is not None:
                v = self.decode(i, v)
            if i == self.value_index and self.scale is not None:
                # as ligo.skymap's in-place ``PROB *= npix / (4 pi)``: in the column's own
                # float type (a PROB column holding NaN differs there, but such a map is refused)
                if v.dtype.kind != "f":
                    v = v.astype(np.float64)
                v = v * v.dtype.type(self.scale)
            out.append(v)
        return out

    def _blocks(self, ids: np.ndarray) -> None:
        records = self._gather(ids)
        C = self.C
        # a pixel whose record's bytes differ from the one before it: one comparison of
        # machine words per pair of records, the flags of a record's words read as one word
        words = _words(records.reshape(-1)).reshape(ids.size, C, -1)
        differ = words[:, 1:] != words[:, :-1]
        nwords = differ.shape[2]
        if nwords == 1:
            changed = differ[..., 0]
        elif nwords in (2, 4, 8):
            changed = differ.view(f"u{nwords}")[..., 0] != 0
        else:
            changed = differ.any(axis=2)
        stored = [records[name] for name in records.dtype.names or ()]
        every = list(range(len(stored)))
        starts = np.arange(ids.size, dtype=np.int64) * C
        self.block_ids.append(ids)
        self.block_first.append(self._records(stored, starts, every))
        self.block_last.append(self._records(stored, starts + (C - 1), every))
        self._add_changes(ids * C, self._records(stored, starts, self.kept_indices), None)
        nz = np.flatnonzero(changed)
        if not nz.size:
            return
        row, col = np.divmod(nz, C - 1)
        after = row * C + col + 1
        new = self._records(stored, after, every)
        brk = _differ(self._records(stored, after - 1, every), new)
        self._add_changes(ids[row] * C + col + 1, [new[i] for i in self.kept_indices], brk)

    def _add_changes(self, pos: np.ndarray, vals: list[np.ndarray], brk: np.ndarray | None) -> None:
        self.nchanges += pos.size
        # every run is at least one row: more changes than the bound on rows is refused
        # (a map whose bytes change but not its values is refused at that count too)
        bound_rows(self.nchanges)
        self.change_pos.append(pos)
        self.change_vals.append(vals)
        # block starts (brk None) are decided in ``finish``, once the block before is known
        self.change_break.append(np.zeros(pos.size, bool) if brk is None else brk)

    def finish(self, header: dict[str, Any]) -> Rows:
        if self.fed != self.npix or self.done != self.nblocks:
            raise SkyMapError("truncated flat sky map")
        # does each block's first record differ from the last record of the block before?
        ids = np.concatenate(self.block_ids)
        rank = np.empty(self.nblocks, dtype=np.int64)
        rank[ids] = np.arange(self.nblocks)
        ncols = len(self.names)
        first = [np.concatenate([b[j] for b in self.block_first])[rank] for j in range(ncols)]
        last = [np.concatenate([b[j] for b in self.block_last])[rank] for j in range(ncols)]
        block_break = np.ones(self.nblocks, dtype=bool)
        block_break[1:] = _differ([c[:-1] for c in last], [c[1:] for c in first])
        pos = np.concatenate(self.change_pos)
        brk = np.concatenate(self.change_break)
        is_block = pos % self.C == 0
        # a block start also entered as a change inside no block: only block starts have it
        brk[is_block] = block_break[pos[is_block] // self.C]
        nkept = len(self.kept_indices)
        vals = [np.concatenate([v[j] for v in self.change_vals]) for j in range(nkept)]
        order = np.argsort(pos, kind="stable")
        pos, brk = pos[order], brk[order]
        run_start = pos[brk]
        run_end = np.append(run_start[1:], self.npix)
        cur, t = dyadic_blocks(run_start, run_end, self.level)
        bound_rows(cur.size)
        at = order[np.searchsorted(pos, cur, side="right") - 1]
        uniq = (np.int64(4) << (2 * (self.level - t))) + (cur >> (2 * t))
        rows = np.argsort(uniq)
        names = ["PROBDENSITY", *self.kept]
        columns = {
            name: np.ascontiguousarray(v[at[rows]], dtype=np.float64)
            for name, v in zip(names, vals, strict=True)
        }
        return Rows(uniq=uniq[rows], columns=columns, header=header)


def dyadic_blocks(start: np.ndarray, end: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray]:
    """The largest aligned NESTED blocks (first pixel, ``t`` with 4**t pixels, t <= level)
    that tile each run ``[start, end)`` of pixels at ``level``."""
    cur = np.asarray(start, dtype=np.int64).copy()
    end = np.asarray(end, dtype=np.int64)
    out_cur, out_t = [], []
    while cur.size:
        low = cur & -cur  # the lowest set bit (0 at pixel 0, aligned to everything)
        aligned = np.where(cur == 0, level, (np.frexp(low.astype(np.float64))[1] - 1) >> 1)
        fits = (np.frexp((end - cur).astype(np.float64))[1] - 1) >> 1
        t = np.minimum(np.minimum(aligned, fits), level).astype(np.int64)
        out_cur.append(cur)
        out_t.append(t)
        cur = cur + (np.int64(1) << (2 * t))
        more = cur < end
        cur, end = cur[more], end[more]
    return np.concatenate(out_cur), np.concatenate(out_t)


def _words(records: np.ndarray) -> np.ndarray:
    """Contiguous records (1-D) as rows of unsigned machine words, shape (n, words)."""
    size = records.dtype.itemsize
    unit = next(u for u in (8, 4, 2, 1) if size % u == 0)
    return np.ascontiguousarray(records).view(f"u{unit}").reshape(records.size, size // unit)


def _differ(a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
    """ligo.skymap's test for two records: not (every column equal, or both hold a NaN)."""
    equal = np.ones(a[0].size, dtype=bool)
    nan_a = np.zeros(a[0].size, dtype=bool)
    nan_b = np.zeros(a[0].size, dtype=bool)
    for x, y in zip(a, b, strict=True):
        equal &= x == y
        if x.dtype.kind in "fc":
            nan_a |= np.isnan(x)
        if y.dtype.kind in "fc":
            nan_b |= np.isnan(y)
    return ~(equal | (nan_a & nan_b))
