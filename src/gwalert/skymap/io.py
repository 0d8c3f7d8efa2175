"""FITS sky map in, multi-order rows out: what ligo.skymap's ``read_sky_map(path, moc=True)`` gives.

Multi-order (NUNIQ) maps are read as they are. Single-resolution ("flattened") maps are
derasterized as ligo.skymap does: a PROB column becomes PROBDENSITY (times npix / 4 pi, in the
column's own type), then every block of four sibling NESTED pixels whose values are all equal
(in every column; two records that each hold a NaN somewhere also count as equal) merges into
its parent, recursively, and the rows come out sorted by UNIQ.

A gzip-compressed flat map is never held whole: the table is inflated in pieces (the next one
in a second thread while the current one is derasterized), used as they come (no copy), cut
into aligned NESTED blocks of ``4**k`` pixels that are compared as soon as they are complete,
and only the byte changes (and a few records per block) are kept. A RING map is cut into runs
of equal bytes in file order and only each pixel's run number (4 bytes) is kept, in a sliding
window: a NESTED block of side ``s`` covers ``2s - 1`` rings, so about ``8 s nside`` ring
pixels are enough to look every block up; blocks are processed in the order their last ring
pixel arrives. Peak memory follows the number of changes (and of distinct records, no more
than the rows) plus that window and two pieces, not the flat map. An uncompressed map (a
file, mapped read-only, or bytes in memory) is compared in place, without a copy.

The merging itself is in ``derasterize``, the rows type in ``maprows``.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np

from ..errors import SkyMapError
from . import fitsio
from .maprows import DISTANCE_COLUMNS, KEPT, Rows, bound_rows

__all__ = [
    "DISTANCE_COLUMNS",
    "KEPT",
    "Rows",
    "flat_level",
    "from_flat_columns",
    "read",
]

# Flat maps only: the derasterizer is imported when one is read (``gwalert parse`` of a
# notice's multi-order map never loads it).
_LAZY = {"Derasterizer", "nest_to_ring", "nest_to_xyf", "xyf_to_ring"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import derasterize

        return getattr(derasterize, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_MAX_FLAT_COLUMNS = 8  # real flat maps have 1 to 4 (PROB, DISTMU, DISTSIGMA, DISTNORM)
_WHOLE_TABLE = 4 << 20  # multi-order tables up to this size are read in one piece


# ----------------------------------------------------------------------------- reading
def read(source: Any) -> Rows:
    """Read a multi-order, flattened or gzip-compressed FITS sky map into multi-order rows."""
    with fitsio.open_source(source) as stream:
        table = fitsio.BinTable(stream)
        names = [c.name for c in table.columns]
        if "UNIQ" in names:
            return _read_multiorder(table)
        return _read_flat(table)


def _read_multiorder(table: fitsio.BinTable) -> Rows:
    bound_rows(table.nrows)
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
    from .derasterize import Derasterizer

    der = Derasterizer(
        level, ordering, names, value_name, scale, lambda i, v: _physical(cols[i], v)
    )
    rows_per_chunk = max(1, der.chunk_pixels // max(repeat, 1))
    whole = table.rows_view() if repeat == 1 else None
    if whole is not None:  # an uncompressed file (mapped) or bytes in memory: no copy
        der.feed(whole)
        return der.finish(header)
    if repeat == 1:  # a row is a pixel: the inflated pieces used as they are
        # closed on the way out, error or not: the piece inflating ahead is waited for
        # before the stream is closed
        with contextlib.closing(table.iter_row_pieces(rows_per_chunk * table.row_bytes)) as it:
            for rows in it:
                der.feed(rows)
        return der.finish(header)
    packed = np.dtype([(c.name, table.dtype[c.name].base) for c in cols])
    for rows in table.iter_rows(rows_per_chunk * max(table.row_bytes, 1)):
        # the stored values as they are (only the pixels where they change are decoded),
        # packed one record per pixel
        chunk = np.empty(len(rows) * repeat, dtype=packed)
        for c in cols:
            chunk[c.name] = rows[c.name].reshape(-1)
        der.feed(chunk)
    return der.finish(header)


def _physical(col: fitsio.Column, stored: np.ndarray) -> np.ndarray:
    values = col.physical(stored)
    if col.tnull is not None and not col.scaled:
        null = stored == col.tnull
        values = np.where(null, np.nan, values.astype(np.float64))
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
    from .derasterize import Derasterizer

    der = Derasterizer(
        level, _ordering(header), names, value_name, npix / (4 * np.pi) if is_prob else None
    )
    records = np.empty(npix, dtype=[(name, a.dtype) for name, a in zip(names, arrays, strict=True)])
    for name, a in zip(names, arrays, strict=True):
        records[name] = a
    der.feed(records)
    return der.finish(header)
