"""Derasterizing: a flattened (single-resolution) map's pixels, fed in file order a chunk
at a time, merged into multi-order rows as ligo.skymap's ``read_sky_map(path, moc=True)``
does (see ``io`` for the rules and the memory bound). The RING index arithmetic is in
``ringblocks``, the runs of a RING map (and their value ids) in ``runs``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import SkyMapError
from .ahead import Ahead
from .maprows import DISTANCE_COLUMNS, Rows, bound_rows
from .ringblocks import RingBlocks, nest_to_ring, nest_to_xyf, xyf_to_ring
from .runs import (
    PartRuns,
    ValueTable,
    Window,
    part_runs,
    record_words,
    rows_differ,
    values_differ,
)

__all__ = ["Derasterizer", "dyadic_blocks", "nest_to_ring", "nest_to_xyf", "xyf_to_ring"]

_BLOCK_LEVELS = 6  # blocks of 4**6 = 4096 NESTED pixels (side 64)
# RING: blocks of 4**4 = 256 pixels (side 16), most of them found uniform from the ends of
# their 31 ring segments (4 ends per 16 pixels), the others gathered pixel by pixel
_RING_BLOCK_LEVELS = 4
# ... looked at first as units of 4**(level - 5) pixels (as the coarsest rows of a BAYESTAR
# map), at most 4**6, when those are larger: only a unit found not uniform is looked at a block
# of 256 pixels at a time
_UNIT_DEPTH = 5
CHUNK_PIXELS = 1 << 18


class Derasterizer(RingBlocks):
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
    BAYESTAR map flattened to NSIDE 512-1024, 94-97 % of the blocks are uniform. From NSIDE
    1024 on, units of ``4**(level - 5)`` pixels (at most ``4**6``) are tested first, and only
    a unit found not uniform is tested block by block. The next part's comparison (and the
    segment ends of the units it completes) run in a second thread while the part before
    is processed.
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
        self.ring = ordering == "RING"
        super().__init__(level, min(level, _RING_BLOCK_LEVELS if self.ring else _BLOCK_LEVELS))
        self.names = names
        self.value_index = names.index(value_name)
        self.scale = scale
        self.decode = decode
        self.kept = {name: i for i, name in enumerate(names) if name in DISTANCE_COLUMNS}
        self.kept_indices = [self.value_index, *self.kept.values()]
        # the units blocks are processed by (and a RING map's window follows)
        ku = min(max(self.k, level - _UNIT_DEPTH), _BLOCK_LEVELS) if self.ring else self.k
        self.unit = self if ku == self.k else RingBlocks(level, ku)
        first = np.arange(self.unit.nblocks, dtype=np.int64) * self.unit.C
        if self.ring:
            self.rmax = nest_to_ring(first, level)  # local (0, 0): the southernmost pixel
            self.rmin = nest_to_ring(first + self.unit.C - 1, level)  # the northernmost
            self.order = np.argsort(self.rmax, kind="stable")
            sorted_min = self.rmin[self.order]
            self.suffix_min = np.minimum.accumulate(sorted_min[::-1])[::-1]
        else:
            self.order = np.arange(self.nblocks)
            self.rmax = first + self.C - 1
            self.suffix_min = first
        self.sorted_rmax = self.rmax[self.order]
        # RING: chunks twice the window (what is left of it is copied once per chunk)
        self.chunk_pixels = max(CHUNK_PIXELS, 16 << (ku + level)) if self.ring else CHUNK_PIXELS
        self.done = 0  # units processed (a prefix of ``order``)
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
        self.runs = Window()
        self.run_values = Window()
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
                ahead = Ahead(self._ahead, parts[i + 1], record_words(part[-1:])[0], after)
            try:
                self._add_runs(part, runs, ends)
            except BaseException:
                if ahead is not None:
                    ahead.wait()
                raise

    def _ahead(
        self, part: np.ndarray, previous: np.ndarray, ids: np.ndarray
    ) -> tuple[PartRuns, np.ndarray]:
        """What the second thread finds for the next part: its runs, and the segment starts
        of the blocks that part completes."""
        return part_runs(part, previous), self.unit.segment_starts(ids)

    def _add_runs(self, chunk: np.ndarray, runs: PartRuns, ends: np.ndarray | None) -> None:
        """The runs of ``chunk`` (file order): each run's first record gets its value id,
        the pixels their run numbers; then the blocks now complete are processed."""
        self._previous = record_words(chunk[-1:])[0].copy()
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
        if self.done >= self.order.size:
            return self.fed
        return int(self.suffix_min[self.done])

    def _ready(self, fed: int) -> int:
        """How many units (a prefix of ``order``) are complete once ``fed`` pixels are."""
        return int(np.searchsorted(self.sorted_rmax, fed, side="left"))

    def _process(self, ends: np.ndarray | None = None) -> None:
        """Process the units now complete; RING: ``ends``, their segments' first pixels
        (``segment_starts``) when already found."""
        ready = self._ready(self.fed)
        if ready <= self.done:
            return
        # in batches that keep the temporaries bounded
        per = max(1, CHUNK_PIXELS // self.unit.C)
        for start in range(self.done, ready, per):
            stop = min(ready, start + per)
            ids = self.order[start:stop]
            if not self.ring:
                self._blocks(ids)
                continue
            if ends is None:
                a = self.unit.segment_starts(ids)
            else:
                a = ends[start - self.done : stop - self.done]
            self._ring_units(ids, a - self.lo)
        self.done = ready

    def _gather(self, ids: np.ndarray) -> np.ndarray:
        """The records of the blocks ``ids`` in NESTED order, shape (len(ids), C)."""
        assert self.window is not None  # NESTED: consecutive blocks, a view
        a = int(ids[0]) * self.C - self.lo
        return self.window[a : a + ids.size * self.C].reshape(ids.size, self.C)

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
        words = record_words(records.reshape(-1)).reshape(ids.size, C, -1)
        changed = rows_differ(words[:, 1:], words[:, :-1])
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
        brk = values_differ(self._records(stored, after - 1, every), new)
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
        uniform, first = self._uniform(self, ids, a)
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
            real = rows_differ(table.words[new], table.words[old])
            pos = ids[rest[row[real]]] * C + col[real] + 1
            new, old = new[real], old[real]
        self._record(ids, first, last, pos, old, new)

    def _ring_units(self, ids: np.ndarray, a: np.ndarray) -> None:
        """The units ``ids`` of a RING map (``a``: their segments' first pixels, as window
        positions): a uniform unit's blocks are uniform; the others' blocks are looked at."""
        if self.unit is self:
            self._ring_blocks(ids, a)
            return
        uniform, value = self._uniform(self.unit, ids, a)
        m = self.unit.C // self.C  # blocks per unit
        if uniform.any():
            kids = (ids[uniform, None] * m + np.arange(m)).reshape(-1)
            first = np.repeat(value[uniform], m)
            self._record(kids, first, first, np.empty(0, dtype=np.int64), first[:0], first[:0])
        if not uniform.all():
            kids = (ids[~uniform, None] * m + np.arange(m)).reshape(-1)
            self._ring_blocks(kids, self.segment_starts(kids) - self.lo)

    def _uniform(
        self, geometry: RingBlocks, ids: np.ndarray, a: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Which of the blocks ``ids`` of ``geometry`` are uniform (every ring segment in one
        run, all of one value id), and the value id of each one's first segment."""
        runs, rv, run_lo = self.runs.view, self.run_values.view, self.run_values.lo
        # a segment's last pixel is end_span after its first, unless it wraps round its ring
        # (only face 4 holds a ring's first pixel); there it is computed
        b = a + geometry.end_span
        # (clipped: past a wrapping segment's end may be past what was fed)
        lo_end, hi_end = np.take(runs, a), np.take(runs, b, mode="clip")
        seg_values = np.take(rv, lo_end - run_lo)
        same = lo_end == hi_end
        same &= seg_values == seg_values[:, :1]
        wrap = np.flatnonzero(ids // (geometry.nblocks // 12) == 4)
        if wrap.size:
            same[wrap] &= geometry.ring_indices(ids[wrap], self.lo, geometry.end_hi) == b[wrap]
        return same.all(axis=1), seg_values[:, 0].copy()

    def _record(
        self,
        ids: np.ndarray,
        first: np.ndarray,
        last: np.ndarray,
        pos: np.ndarray,
        old: np.ndarray,
        new: np.ndarray,
    ) -> None:
        """Blocks ``ids`` done: the value ids of their first and last pixels, and their byte
        changes (pixel ``pos``: value id ``old`` to ``new``)."""
        assert self.table is not None
        C, values = self.C, self.table.values
        self.block_ids.append(ids)
        self.block_first.append([v[first] for v in values])
        self.block_last.append([v[last] for v in values])
        self._add_changes(ids * C, [values[i][first] for i in self.kept_indices], None)
        if pos.size:
            brk = values_differ([v[old] for v in values], [v[new] for v in values])
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
        if self.fed != self.npix or self.done != self.order.size:
            raise SkyMapError("truncated flat sky map")
        # does each block's first record differ from the last record of the block before?
        ids = np.concatenate(self.block_ids)
        rank = np.empty(self.nblocks, dtype=np.int64)
        rank[ids] = np.arange(self.nblocks)
        ncols = len(self.names)
        first = [np.concatenate([b[j] for b in self.block_first])[rank] for j in range(ncols)]
        last = [np.concatenate([b[j] for b in self.block_last])[rank] for j in range(ncols)]
        block_break = np.ones(self.nblocks, dtype=bool)
        block_break[1:] = values_differ([c[:-1] for c in last], [c[1:] for c in first])
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
