"""Runs of a RING map in file order: consecutive records with the same bytes, found with one
sequential comparison per record; each run's record given a small integer id by a table of
the distinct records (equal ids are equal bytes); and the int32 windows that hold a run
number per pixel and a value id per run while the blocks that need them are processed. Also
the byte comparison of records (``rows_differ``) and ligo.skymap's rule for their values
(``values_differ``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .maprows import bound_rows

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
    first: np.ndarray  # one run of each key (the one the others are checked against)
    lone: np.ndarray  # runs whose bytes are not that run's


def part_runs(part: np.ndarray, previous: np.ndarray | None) -> PartRuns:
    """The runs of ``part`` (records in file order); ``previous``: the record before it, as
    words (None: none)."""
    starts = run_starts(part, previous)
    words = np.take(record_words(part), starts, axis=0)
    key = record_keys(words)
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
        lone = np.flatnonzero(rows_differ(words, np.take(words, np.take(first, group), axis=0)))
    return PartRuns(starts, words, sorted_key[new], group, first, lone)


class ValueTable:
    """The distinct stored records seen so far (byte for byte), each with a small integer id.

    A record's id is found by a 64-bit key (the record itself when it is one machine word,
    else a hash of its words); a key shared by records whose bytes differ (a hash collision)
    gives every such record a fresh id of its own, so that equal ids always mean equal bytes
    (the converse may fail there, and the callers check byte changes on the records
    themselves). Distinct records are no more than the NESTED byte changes plus one, so the
    table is held to the bound on rows as the changes are (collisions aside).
    """

    def __init__(self, dtype: np.dtype, decode: Callable[[np.ndarray], list[np.ndarray]]) -> None:
        """``decode``: records (of ``dtype``) -> their values, a column at a time."""
        self.decode = decode
        self.keys = np.empty(0, dtype=np.uint64)  # sorted
        self.key_ids = np.empty(0, dtype=np.int32)
        empty = record_words(np.empty(0, dtype=dtype))
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
            rows_differ(np.take(first, known, axis=0), np.take(self.words, ids[known], axis=0))
        ]
        new = np.flatnonzero(~hit)
        ids[new] = self._add(np.take(first, new, axis=0), dtype)
        self.keys = np.insert(self.keys, at[new], runs.keys[new])
        self.key_ids = np.insert(self.key_ids, at[new], ids[new])
        if clash.size:
            ids[clash] = self._add(np.take(first, clash, axis=0), dtype)
        out = np.take(ids, runs.group)
        if runs.lone.size:  # bytes not those of their key's checked run: fresh ids
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


class Window:
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


def run_starts(chunk: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
    """Where a run starts in ``chunk``: the records whose bytes differ from the record
    before (``previous``, as words, before the first; None: the first starts one)."""
    words = record_words(chunk)
    change = np.empty(chunk.size, dtype=bool)
    change[0] = previous is None or bool(np.any(words[0] != previous))
    change[1:] = rows_differ(words[1:], words[:-1])
    return np.flatnonzero(change)


def rows_differ(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether rows of machine words (last axis) differ anywhere: the flags of a row's words
    read as one word where they fit."""
    differ = a != b
    nwords = differ.shape[-1]
    if nwords == 1:
        return differ[..., 0]
    if nwords in (2, 4, 8):
        return differ.view(f"u{nwords}")[..., 0] != 0
    return differ.any(axis=-1)


def record_keys(words: np.ndarray) -> np.ndarray:
    """A 64-bit key per row of words: the word itself if there is one, else a hash."""
    key = words[:, 0].astype(np.uint64)
    for j in range(1, words.shape[1]):
        key *= _HASH
        key ^= words[:, j].astype(np.uint64)
    return key


def record_words(records: np.ndarray) -> np.ndarray:
    """Contiguous records (1-D) as rows of unsigned machine words, shape (n, words)."""
    size = records.dtype.itemsize
    unit = next(u for u in (8, 4, 2, 1) if size % u == 0)
    return np.ascontiguousarray(records).view(f"u{unit}").reshape(records.size, size // unit)


def values_differ(a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
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
