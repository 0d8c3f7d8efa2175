"""Derasterizing: a flattened (single-resolution) map's pixels, fed in file order a chunk
at a time, merged into multi-order rows as ligo.skymap's ``read_sky_map(path, moc=True)``
does (see ``io`` for the rules and the memory bound), and the NESTED/RING index arithmetic it
needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SkyMapError
from .ahead import Ahead
from .healpix import compact_bits
from .maprows import DISTANCE_COLUMNS, Rows, bound_rows

_BLOCK_LEVELS = 6  # blocks of 4**6 = 4096 NESTED pixels (side 64)
# RING: blocks of 4**4 = 256 pixels (side 16), most of them found uniform from the ends of
# their 31 ring segments (4 ends per 16 pixels), the others gathered pixel by pixel
_RING_BLOCK_LEVELS = 4
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

    NESTED maps are compared in place, a block at a time. RING maps are not reordered
    record by record: each record is compared with the one before it in file order (one
    sequential pass), which cuts the rings into runs of equal bytes; each run's record gets
    a value id (``ValueTable``: equal ids are equal bytes), each pixel its run number (4
    bytes, in a window that slides with the blocks). A block of ``4**4`` pixels whose ring
    segments each lie in one run, all runs of one value id, is uniform (found from the
    segments' two ends: 31 lookups, not 256); only the other blocks are gathered pixel by
    pixel, as value ids, their byte changes checked on the records themselves. On a
    BAYESTAR map flattened to NSIDE 512-1024, 94-97 % of the blocks are uniform. The next
    part's comparison (and the segment ends of the blocks it completes) run in a second
    thread while the part before is processed.
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
        self.k = min(level, _RING_BLOCK_LEVELS if self.ring else _BLOCK_LEVELS)
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
            self.end_lo, self.end_hi, self.end_span = _segment_ends(d, e)
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
        # RING: every fed pixel's run number (a run: consecutive pixels in file order with the
        # same bytes) and every run's value id, from the first pixel still needed on
        self.runs = _Window()
        self.run_values = _Window()
        self.nruns = 0
        self.table: ValueTable | None = None
        self._previous: np.ndarray | None = None  # the last pixel's record, as words

    def feed(self, chunk: np.ndarray) -> None:
        """One chunk of pixels in file order: a structured array of their stored values, one
        field per column (in the order of ``names``), one record per pixel. The chunk is
        used in place (not copied) and may be any size; the caller keeps it unchanged."""
        if self.fed + chunk.size > self.npix:
            raise SkyMapError("flat sky map holds more pixels than its size says")
        if self.ring:
            self._feed_ring(chunk)
            return
        if self.window is not None:
            # NESTED: every complete block was processed; what is left of the window is the
            # start of one block, completed from the chunk's head in the buffer
            kept = self.window[self._keep_from() - self.lo :]
            if kept.size:
                need = min(self.C - kept.size, chunk.size)
                self.lo = self.fed - kept.size
                self.window = self._joined(kept, chunk[:need])
                self.fed += need
                self._process()
                chunk = chunk[need:]
                if not chunk.size:
                    return
        self.window = chunk
        self.lo = self.fed
        self.fed += chunk.size
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

    def _feed_ring(self, chunk: np.ndarray) -> None:
        """``chunk`` (file order) a part at a time, each part's byte comparison (the larger
        stage, one pass over every byte) done in a second thread while the part before is
        processed."""
        parts = [
            chunk[at : at + self.chunk_pixels] for at in range(0, chunk.size, self.chunk_pixels)
        ]
        ahead = None
        for i, part in enumerate(parts):
            if ahead is None:
                runs, ends = part_runs(part, self._previous), None
            else:
                runs, ends = ahead.result()
            ahead = None
            if i + 1 < len(parts):
                fed = self.fed + part.size
                after = self.order[self._ready(fed) : self._ready(fed + parts[i + 1].size)]
                ahead = Ahead(self._ahead, parts[i + 1], _words(part[-1:])[0], after)
            try:
                self._add_runs(part, runs, ends)
            except BaseException:
                if ahead is not None:
                    ahead.thread.join()
                raise

    def _ahead(
        self, part: np.ndarray, previous: np.ndarray, ids: np.ndarray
    ) -> tuple[PartRuns, np.ndarray]:
        """What the second thread finds for the next part: its runs, and the segment starts
        of the blocks that part completes."""
        return part_runs(part, previous), self.segment_starts(ids)

    def _add_runs(self, chunk: np.ndarray, runs: PartRuns, ends: np.ndarray | None) -> None:
        """The runs of ``chunk`` (file order): each run's first record gets its value id,
        the pixels their run numbers; then the blocks now complete are processed."""
        self._previous = _words(chunk[-1:])[0].copy()
        if self.table is None:
            self.table = ValueTable(chunk.dtype, self._decode_all)
        values = self.table.ids(runs, chunk.dtype)
        starts = runs.starts
        # forget what no block left needs (never past what was fed)
        self.runs.drop_to(min(self._keep_from(), self.fed))
        self.lo = self.runs.lo
        self.run_values.drop_to(int(self.runs.view[0]) if self.runs.size else self.nruns - 1)
        lead = int(starts[0]) if starts.size else chunk.size  # pixels of the run before
        numbers = np.arange(self.nruns - (lead > 0), self.nruns + starts.size, dtype=np.int32)
        lengths = np.diff(starts, append=chunk.size)
        if lead:
            lengths = np.concatenate([[lead], lengths])
        self.runs.append(np.repeat(numbers, lengths))
        self.run_values.append(values)
        self.nruns += starts.size
        self.fed += chunk.size
        self._process(ends)

    def _decode_all(self, records: np.ndarray) -> list[np.ndarray]:
        stored = [records[name] for name in records.dtype.names or ()]
        return self._records(stored, slice(None), list(range(len(stored))))

    def _keep_from(self) -> int:
        if self.done >= self.nblocks:
            return self.fed
        return int(self.suffix_min[self.done])

    def _ready(self, fed: int) -> int:
        """How many blocks (a prefix of ``order``) are complete once ``fed`` pixels are."""
        return int(np.searchsorted(self.sorted_rmax, fed, side="left"))

    def _process(self, ends: np.ndarray | None = None) -> None:
        """Process the blocks now complete; RING: ``ends``, their segments' first pixels
        (``segment_starts``) when already found."""
        ready = self._ready(self.fed)
        if ready <= self.done:
            return
        # in batches that keep the temporaries bounded
        per = max(1, CHUNK_PIXELS // self.C)
        for start in range(self.done, ready, per):
            stop = min(ready, start + per)
            ids = self.order[start:stop]
            if not self.ring:
                self._blocks(ids)
                continue
            if ends is None:
                a = self.segment_starts(ids)
            else:
                a = ends[start - self.done : stop - self.done]
            self._ring_blocks(ids, a - self.lo)
        self.done = ready

    def segment_starts(self, ids: np.ndarray) -> np.ndarray:
        """RING index of the first pixel of each ring segment of the blocks ``ids``, shape
        (len(ids), 2s - 1): data-independent, so found ahead in the second thread."""
        return self.ring_indices(ids, 0, self.end_lo)

    def _gather(self, ids: np.ndarray) -> np.ndarray:
        """The records of the blocks ``ids`` in NESTED order, shape (len(ids), C)."""
        assert self.window is not None  # NESTED: consecutive blocks, a view
        a = int(ids[0]) * self.C - self.lo
        return self.window[a : a + ids.size * self.C].reshape(ids.size, self.C)

    def ring_indices(
        self, ids: np.ndarray, less: int = 0, local: np.ndarray | None = None
    ) -> np.ndarray:
        """RING index (minus ``less``) of every pixel of the NESTED blocks ``ids`` (or of
        their pixels ``local``, NESTED indices inside a block), shape (len(ids), C or
        len(local)).

        HEALPix's xyf2ring, with the per-ring quantities (start, length, shift) computed once
        per ring a block crosses (2s - 1 of them) instead of once per pixel (s**2).
        """
        nside, nl4 = self.nside, 4 * self.nside
        x0, y0, face = nest_to_xyf(ids * self.C, self.level)
        side = 1 << self.k
        j0 = _JRLL[face] * nside - x0 - y0 - 1  # the block's southernmost ring
        top = j0 - 2 * side + 2  # and its northernmost
        out = np.empty((ids.size, self.C if local is None else local.size), dtype=np.int64)
        # blocks in the equatorial belt (every ring 4 nside long) off face 4 (no wrapping):
        # the block's first index plus one of four templates, by two parities
        belt = (face != 4) & (j0 <= 3 * nside) & (top >= nside)
        north = j0 < nside  # wholly in a polar cap: ring lengths grow by 4 a ring
        south = top > 3 * nside
        rest = ~(belt | north | south)
        if belt.any():
            jp0 = _JPLL[face] * nside + x0 - y0 + 1
            variant = 2 * (jp0 & 1) + ((j0 - nside) & 1)
            base = 2 * nside * (nside - 1) + (j0 - nside) * nl4 - 1 + (jp0 >> 1) - less
            for v in np.unique(variant[belt]):
                template = self.belt_templates[v]
                template = template if local is None else template[local]
                sel = belt & (variant == v)
                if sel.all():
                    np.add(base[:, None], template, out=out)
                else:
                    out[sel] = base[sel, None] + template
        d, e = self.d_template, self.e_template
        if local is not None:
            d, e = d[local], e[local]
        for cap, sel in ((1, north), (-1, south)):
            if not sel.any():
                continue
            # xyf2ring in a cap: nr = the ring's number from its pole, no shift, no wrap
            f = face[sel, None]
            nr = j0[sel, None] - d if cap > 0 else d + (nl4 - j0[sel, None])
            jp = (_JPLL[f] * nr + (x0[sel] - y0[sel] + 1)[:, None] + e) >> 1
            first = 2 * nr * (nr - 1) if cap > 0 else self.npix - 2 * nr * (nr + 1)
            out[sel] = first + jp - (1 + less)
        if rest.any():
            out[rest] = self._ring_indices(x0[rest], y0[rest], face[rest], local) - less
        return out

    def _ring_indices(
        self, x0: np.ndarray, y0: np.ndarray, face: np.ndarray, local: np.ndarray | None = None
    ) -> np.ndarray:
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
        d_template, e_template = self.d_template, self.e_template
        if local is not None:
            d_template, e_template = d_template[local], e_template[local]
        jp = (np.take(a, d_template, axis=1) + e_template) >> 1
        wrap = np.flatnonzero(face == 4)  # only face 4 straddles the rings' first pixel
        if wrap.size:
            part = jp[wrap]
            part[part < 1] += nl4
            jp[wrap] = part
        return np.take(start - 1, d_template, axis=1) + jp

    def _records(self, stored: list[np.ndarray], at: np.ndarray | slice, cols: list[int]) -> list:
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
        changed = _rows_differ(words[:, 1:], words[:, :-1])
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

    def _ring_blocks(self, ids: np.ndarray, a: np.ndarray) -> None:
        """The blocks ``ids`` of a RING map, from the run numbers and value ids of their
        pixels. A block is uniform when each of its ring segments lies in one run (same run
        number at both ends; a segment that wraps round its ring never counts) and the
        segments' runs share one value id; only the other blocks are gathered pixel by
        pixel, and their byte changes found where consecutive value ids differ (4 bytes a
        pixel, not a record). ``a``: the first pixel of each segment, as window positions."""
        assert self.table is not None
        C, table = self.C, self.table
        runs, rv, run_lo = self.runs.view, self.run_values.view, self.run_values.lo
        # a segment's last pixel is end_span after its first, unless it wraps round its ring
        # (only face 4 holds a ring's first pixel); there it is computed
        b = a + self.end_span
        # (clipped: past a wrapping segment's end may be past what was fed)
        lo_end, hi_end = np.take(runs, a), np.take(runs, b, mode="clip")
        seg_values = np.take(rv, lo_end - run_lo)
        same = lo_end == hi_end
        same &= seg_values == seg_values[:, :1]
        wrap = np.flatnonzero(ids // (self.npix // 12 // self.C) == 4)
        if wrap.size:
            same[wrap] &= self.ring_indices(ids[wrap], self.lo, self.end_hi) == b[wrap]
        uniform = same.all(axis=1)
        first = seg_values[:, 0].copy()
        last = first.copy()
        rest = np.flatnonzero(~uniform)
        pos = np.empty(0, dtype=np.int64)
        new = old = np.empty(0, dtype=np.int32)
        if rest.size:
            where = self.ring_indices(ids[rest], self.lo)
            got = np.take(rv, np.take(runs, where) - run_lo)
            first[rest] = got[:, 0]
            last[rest] = got[:, -1]
            nz = np.flatnonzero(got[:, 1:] != got[:, :-1])
            row, col = np.divmod(nz, C - 1)
            new, old = got[row, col + 1], got[row, col]
            # equal ids are equal bytes; different ids almost always differing bytes
            real = _rows_differ(table.words[new], table.words[old])
            pos = ids[rest[row[real]]] * C + col[real] + 1
            new, old = new[real], old[real]
        values = table.values
        self.block_ids.append(ids)
        self.block_first.append([v[first] for v in values])
        self.block_last.append([v[last] for v in values])
        self._add_changes(ids * C, [values[i][first] for i in self.kept_indices], None)
        if pos.size:
            brk = _differ([v[old] for v in values], [v[new] for v in values])
            self._add_changes(pos, [values[i][new] for i in self.kept_indices], brk)

    def _add_changes(self, pos: np.ndarray, vals: list[np.ndarray], brk: np.ndarray | None) -> None:
        if brk is not None:
            self.nchanges += pos.size
            # every run is at least one row: more byte changes than the bound on rows is
            # refused (a map whose bytes change but not its values is refused at that count)
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


# ---------------------------------------------------------------- RING: runs and values
_HASH = np.uint64(0x9E3779B97F4A7C15)  # odd: multiplying by it is a bijection of 64-bit words


@dataclass(frozen=True)
class PartRuns:
    """The runs of one part of a RING map (file order), found from the part alone (so in a
    second thread, while the part before is processed): where each starts, its record (as
    words), and the runs grouped by a 64-bit key (the record's word if it has one, else a
    hash of its words)."""

    starts: np.ndarray  # positions in the part
    words: np.ndarray  # (runs, words per record)
    keys: np.ndarray  # the distinct keys, sorted
    group: np.ndarray  # each run's index in ``keys``
    first: np.ndarray  # the first run of each key
    lone: np.ndarray  # runs whose bytes are not those of their key's first run


def part_runs(part: np.ndarray, previous: np.ndarray | None) -> PartRuns:
    """The runs of ``part`` (records in file order); ``previous``: the record before it, as
    words (None: none)."""
    starts = _run_starts(part, previous)
    words = np.take(_words(part), starts, axis=0)
    key = _keys(words)
    order = np.argsort(key)
    sorted_key = key[order]
    new = np.ones(key.size, dtype=bool)
    np.not_equal(sorted_key[1:], sorted_key[:-1], out=new[1:])
    group = np.empty(key.size, dtype=np.intp)
    group[order] = np.cumsum(new) - 1
    first = order[new]
    if words.shape[1] == 1:  # the key is the record: no two records share one
        lone = np.empty(0, dtype=np.intp)
    else:
        lone = np.flatnonzero(_rows_differ(words, np.take(words, np.take(first, group), axis=0)))
    return PartRuns(starts, words, sorted_key[new], group, first, lone)


class ValueTable:
    """The distinct stored records seen so far (byte for byte), each with a small integer id.

    A record's id is found by a 64-bit key (the record itself when it fits in 8 bytes, else
    a hash of its words); a key shared by records whose bytes differ (a hash collision) gives
    every such record a fresh id of its own, so that equal ids always mean equal bytes (the
    converse may fail there, and the callers check byte changes on the records themselves).
    """

    def __init__(self, dtype: np.dtype, decode: Callable[[np.ndarray], list[np.ndarray]]) -> None:
        """``decode``: records (of ``dtype``) -> their values, a column at a time."""
        self.decode = decode
        self.keys = np.empty(0, dtype=np.uint64)  # sorted
        self.key_ids = np.empty(0, dtype=np.int32)
        empty = _words(np.empty(0, dtype=dtype))
        self.words = np.empty((16, empty.shape[1]), dtype=empty.dtype)  # by id, grown
        self.values: list[np.ndarray] = []  # decoded columns, by id, grown
        self.n = 0

    def ids(self, runs: PartRuns, dtype: np.dtype) -> np.ndarray:
        """The ids (int32) of a part's runs' records (of ``dtype``); new values added."""
        at = np.searchsorted(self.keys, runs.keys)
        hit = at < self.keys.size
        hit[hit] = self.keys[at[hit]] == runs.keys[hit]
        ids = np.empty(runs.keys.size, dtype=np.int32)
        ids[hit] = self.key_ids[at[hit]]
        known = np.flatnonzero(hit)
        # a known key, other bytes (a collision): the group gets a fresh id of its own
        first = np.take(runs.words, runs.first, axis=0)
        clash = known[
            _rows_differ(np.take(first, known, axis=0), np.take(self.words, ids[known], axis=0))
        ]
        new = np.flatnonzero(~hit)
        ids[new] = self._add(np.take(first, new, axis=0), dtype)
        self.keys = np.insert(self.keys, at[new], runs.keys[new])
        self.key_ids = np.insert(self.key_ids, at[new], ids[new])
        if clash.size:
            ids[clash] = self._add(np.take(first, clash, axis=0), dtype)
        out = np.take(ids, runs.group)
        if runs.lone.size:  # bytes not those of the first run of their key: fresh ids
            out[runs.lone] = self._add(np.take(runs.words, runs.lone, axis=0), dtype)
        return out

    def _add(self, words: np.ndarray, dtype: np.dtype) -> np.ndarray:
        start, n = self.n, words.shape[0]
        if start + n > self.words.shape[0]:
            grown = np.empty(
                (max(2 * self.words.shape[0], start + n), self.words.shape[1]),
                dtype=self.words.dtype,
            )
            grown[:start] = self.words[:start]
            self.words = grown
        self.words[start : start + n] = words
        decoded = self.decode(np.ascontiguousarray(words).view(dtype).reshape(-1))
        self.values = (
            decoded
            if not self.values
            else [np.concatenate([a, b]) for a, b in zip(self.values, decoded, strict=True)]
        )
        self.n += n
        bound_rows(self.n - 1)
        return np.arange(start, start + n, dtype=np.int32)


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


class _Window:
    """An int32 array over positions ``[lo, lo + size)`` that grows at its end and forgets
    its front, in one reused buffer."""

    def __init__(self) -> None:
        self.buffer = np.empty(0, dtype=np.int32)
        self.start = 0  # where position ``lo`` is in the buffer
        self.size = 0
        self.lo = 0

    @property
    def view(self) -> np.ndarray:
        return self.buffer[self.start : self.start + self.size]

    def drop_to(self, position: int) -> None:
        """Forget the positions before ``position`` (at most up to the end)."""
        drop = min(max(position - self.lo, 0), self.size)
        self.start += drop
        self.size -= drop
        self.lo += drop

    def append(self, values: np.ndarray) -> None:
        n = values.size
        if self.start + self.size + n > self.buffer.size:
            kept = self.view
            if self.size + n > self.buffer.size:
                buffer = np.empty(2 * (self.size + n), dtype=np.int32)
                buffer[: self.size] = kept
                self.buffer = buffer
            else:
                self.buffer[: self.size] = kept.copy()
            self.start = 0
        self.buffer[self.start + self.size : self.start + self.size + n] = values
        self.size += n


def _segment_ends(d: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each ring a block crosses (``d`` = dx + dy of its pixels), the local NESTED index
    of its first and last pixel along the ring (least and greatest ``e`` = dx - dy), and the
    RING distance between them when the segment does not wrap ((e_max - e_min) / 2)."""
    rings = int(d.max()) + 1
    order = np.lexsort((e, d))  # by ring, then along it
    counts = np.bincount(d, minlength=rings)
    ends = np.cumsum(counts)
    lo, hi = order[ends - counts], order[ends - 1]
    return lo, hi, (e[hi] - e[lo]) >> 1


def _run_starts(chunk: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
    """Where a run starts in ``chunk``: the records whose bytes differ from the record
    before (``previous``, as words, before the first; None: the first starts one)."""
    words = _words(chunk)
    change = np.empty(chunk.size, dtype=bool)
    change[0] = previous is None or bool(np.any(words[0] != previous))
    change[1:] = _rows_differ(words[1:], words[:-1])
    return np.flatnonzero(change)


def _rows_differ(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether rows of machine words (last axis) differ anywhere: the flags of a row's words
    read as one word where they fit."""
    differ = a != b
    nwords = differ.shape[-1]
    if nwords == 1:
        return differ[..., 0]
    if nwords in (2, 4, 8):
        return differ.view(f"u{nwords}")[..., 0] != 0
    return differ.any(axis=-1)


def _keys(words: np.ndarray) -> np.ndarray:
    """A 64-bit key per row of words: the word itself if there is one, else a hash."""
    key = words[:, 0].astype(np.uint64)
    for j in range(1, words.shape[1]):
        key *= _HASH
        key ^= words[:, j].astype(np.uint64)
    return key


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
