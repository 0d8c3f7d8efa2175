"""A small, bounded, streaming reader for the FITS binary tables that hold HEALPix sky maps.

astropy.io.fits reads these files too, but importing it costs a quarter of a second, more than
``gwalert parse`` may spend in all; and a sender-controlled header must be checked before
anything is allocated. This module reads what sky maps use (a primary HDU, then a BINTABLE of
fixed-width columns: ``L B I J K E D A``, repeat counts, ``TDIM``, and ``TSCAL``/``TZERO``/
``TNULL`` as the FITS standard defines them, unsigned-integer conventions included) and
refuses the rest with a clear reason.

Input is read sequentially from bytes, a file or a gzip stream inflated in chunks
(``fitsstream``), so that a
table is never held whole unless the caller asks for it: :class:`BinTable` hands out its rows in
bounded chunks. ``tests/test_skymap_io.py`` proves the values against astropy's ``fits.open`` and
``Table.read`` on every layout (hypothesis-generated formats, scalings and repeat counts).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import SkyMapError
from .fitsheader import find_bintable, int_card, read_header
from .fitsstream import Stream, open_source

__all__ = ["BinTable", "Column", "Stream", "Table", "open_source", "read_bintable", "read_header"]

# FITS TFORM letter -> (numpy big-endian type, bytes per element)
_TFORM = {
    "L": ("u1", 1),
    "B": ("u1", 1),
    "I": (">i2", 2),
    "J": (">i4", 4),
    "K": (">i8", 8),
    "E": (">f4", 4),
    "D": (">f8", 8),
    "A": ("S1", 1),
}
# Unsigned conventions (TSCAL = 1): the stored signed value plus TZERO, as an unsigned type.
_UNSIGNED = {"I": (1 << 15, np.uint16), "J": (1 << 31, np.uint32), "K": (1 << 63, np.uint64)}


@dataclass(frozen=True)
class Table:
    """Physical column values (scaling applied) and the table's header."""

    columns: dict[str, np.ndarray]
    header: dict[str, Any]
    #: Integer columns with a ``TNULL``: True where the stored value is the null value.
    nulls: dict[str, np.ndarray] = field(default_factory=dict)


# ----------------------------------------------------------------------------- columns
@dataclass(frozen=True)
class Column:
    """One column's layout and the standard's conversion from stored to physical values."""

    name: str
    code: str  # TFORM letter
    repeat: int
    offset: int  # byte offset in a row
    tscal: float | int = 1
    tzero: float | int = 0
    tnull: int | None = None
    dim: tuple[int, ...] | None = None  # numpy shape of one cell, from TDIM

    @property
    def unsigned(self) -> bool:
        conv = _UNSIGNED.get(self.code)
        return conv is not None and self.tscal == 1 and self.tzero == conv[0]

    @property
    def scaled(self) -> bool:
        return (self.tscal != 1 or self.tzero != 0) and self.code in "BIJKED"

    def physical(self, stored: np.ndarray) -> np.ndarray:
        """Stored values (big-endian, as in the file) -> the values the standard defines."""
        if self.code == "L":
            return np.equal(stored, ord("T"))
        if self.unsigned:
            unsigned = _UNSIGNED[self.code][1]
            flip = unsigned(self.tzero)
            return stored.astype(stored.dtype.newbyteorder("=")).view(unsigned) ^ flip
        if self.scaled:
            out = stored.astype(np.float64)
            if self.tscal != 1:
                np.multiply(out, float(self.tscal), out)
            if self.tzero != 0:
                out += float(self.tzero)
            return out
        return stored


def _tdim(text: Any, repeat: int, name: str) -> tuple[int, ...] | None:
    if not isinstance(text, str):
        return None
    match = re.fullmatch(r"\s*\(\s*(\d+(?:\s*,\s*\d+)*)\s*\)\s*", text)
    if not match:
        raise SkyMapError(f"column {name} has an invalid TDIM {text!r}")
    dims = tuple(int(d) for d in match.group(1).split(","))
    if int(np.prod(dims)) > repeat:
        return None  # astropy ignores a TDIM that does not fit the cell (with a warning)
    return dims[::-1]


def _columns(header: dict[str, Any]) -> tuple[list[Column], int]:
    row_bytes = int_card(header, "NAXIS1")
    nfields = int_card(header, "TFIELDS")
    if nfields > 999:
        raise SkyMapError("FITS table has more than 999 columns")
    cols: list[Column] = []
    offset = 0
    for n in range(1, nfields + 1):
        name = str(header.get(f"TTYPE{n}", f"COL{n}")).strip().upper()
        tform = str(header.get(f"TFORM{n}", "")).strip().upper()
        match = re.fullmatch(r"(\d*)([A-Z])(.*)", tform)
        if not match or match.group(2) not in _TFORM:
            raise SkyMapError(f"unsupported FITS column format {tform!r} for column {name}")
        repeat = int(match.group(1)) if match.group(1) else 1
        code = match.group(2)
        scal = header.get(f"TSCAL{n}", 1)
        zero = header.get(f"TZERO{n}", 0)
        for key, value in ((f"TSCAL{n}", scal), (f"TZERO{n}", zero)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SkyMapError(f"FITS header card {key} is not a number")
        null = header.get(f"TNULL{n}")
        cols.append(
            Column(
                name=name,
                code=code,
                repeat=repeat,
                offset=offset,
                tscal=scal,
                tzero=zero,
                tnull=null
                if isinstance(null, int) and not isinstance(null, bool) and code in "BIJK"
                else None,
                dim=_tdim(header.get(f"TDIM{n}"), repeat, name) if code != "A" else None,
            )
        )
        offset += repeat * _TFORM[code][1]
    if offset != row_bytes:
        raise SkyMapError(
            f"FITS table rows are {row_bytes} bytes but the columns add up to {offset}"
        )
    if len({c.name for c in cols}) != len(cols):
        raise SkyMapError("FITS table has duplicate column names")
    return cols, row_bytes


class BinTable:
    """The first BINTABLE of a FITS stream: its header and columns, rows read on demand."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        header = find_bintable(stream)
        self.header = header
        self.columns, self.row_bytes = _columns(header)
        self.nrows = int_card(header, "NAXIS2")
        self.data_bytes = self.row_bytes * self.nrows
        if stream.position + self.data_bytes > stream.limit:
            raise SkyMapError(
                f"FITS table header claims {self.nrows} rows of {self.row_bytes} bytes, more "
                f"than the bound of {stream.limit} bytes (set GWALERT_MAX_SKYMAP_BYTES to "
                "raise it)"
            )
        self.dtype = np.dtype(
            {
                "names": [c.name for c in self.columns],
                "formats": [
                    (_TFORM[c.code][0] if c.code != "A" else f"S{c.repeat}", (c.repeat,))
                    if c.repeat != 1 and c.code != "A"
                    else (_TFORM[c.code][0] if c.code != "A" else f"S{c.repeat}")
                    for c in self.columns
                ],
                "offsets": [c.offset for c in self.columns],
                "itemsize": max(self.row_bytes, 1),
            }
        )
        self._rows_read = 0

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def iter_rows(self, chunk_bytes: int = 4 << 20) -> Iterator[np.ndarray]:
        """The table's rows as structured arrays (stored values), a bounded chunk at a time."""
        per = max(1, chunk_bytes // max(self.row_bytes, 1))
        while self._rows_read < self.nrows:
            n = min(per, self.nrows - self._rows_read)
            data = self.stream.read(n * self.row_bytes)
            if len(data) < n * self.row_bytes:
                raise SkyMapError(
                    f"truncated FITS table: its header claims {self.nrows} rows of "
                    f"{self.row_bytes} bytes ({self.data_bytes} bytes) but only "
                    f"{self._rows_read * self.row_bytes + len(data)} bytes follow"
                )
            self._rows_read += n
            if self.row_bytes == 0:
                yield np.zeros(n, dtype=self.dtype)
            else:
                yield np.frombuffer(data, dtype=self.dtype, count=n)

    def iter_row_pieces(self, chunk_bytes: int = 4 << 20) -> Generator[np.ndarray, None, None]:
        """The table's rows (stored values) in pieces of at most about ``chunk_bytes``, each
        a view of the bytes as the stream hands them out (no copy; a row cut between two
        pieces is joined and given alone)."""
        want = left = self.data_bytes - self._rows_read * self.row_bytes
        partial = b""
        # closed with this generator: a piece inflating ahead is waited for
        with contextlib.closing(self.stream.pieces(want, max(chunk_bytes, self.row_bytes))) as it:
            for data in it:
                left -= len(data)
                view = memoryview(data).cast("B")
                if partial:
                    need = self.row_bytes - len(partial)
                    partial += bytes(view[:need])
                    view = view[need:]
                    if len(partial) < self.row_bytes:
                        continue
                    self._rows_read += 1
                    yield np.frombuffer(partial, dtype=self.dtype)
                    partial = b""
                whole = len(view) - len(view) % self.row_bytes
                partial = bytes(view[whole:])
                if whole:
                    self._rows_read += whole // self.row_bytes
                    yield np.frombuffer(view[:whole], dtype=self.dtype)
        if left:
            raise SkyMapError(
                f"truncated FITS table: its header claims {self.nrows} rows of "
                f"{self.row_bytes} bytes ({self.data_bytes} bytes) but only "
                f"{self.data_bytes - left} bytes follow"
            )

    def rows_view(self) -> np.ndarray | None:
        """Every row, without copying (see ``Stream.view``), if none was read yet and the
        source allows it; else None (then read with ``iter_rows``)."""
        if self._rows_read or self.row_bytes == 0:
            return None
        data = self.stream.view(self.data_bytes)
        if data is None:
            return None
        self._rows_read = self.nrows
        return np.frombuffer(data, dtype=self.dtype, count=self.nrows)

    def read_all(self) -> np.ndarray:
        parts = list(self.iter_rows(max(self.data_bytes, 1)))
        if not parts:
            return np.zeros(0, dtype=self.dtype)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def physical(self, rows: np.ndarray, col: Column) -> np.ndarray:
        """Physical values of ``col`` in ``rows``, shaped as astropy shapes them."""
        values = col.physical(rows[col.name])
        if col.dim is not None:
            values = values.reshape((len(rows), *col.dim)) if col.dim != (col.repeat,) else values
        return values


def read_bintable(data: Any) -> Table:
    """Read the whole first binary-table extension of a FITS file (bytes, path or file)."""
    with open_source(data) as stream:
        table = BinTable(stream)
        rows = table.read_all()
    columns: dict[str, np.ndarray] = {}
    nulls: dict[str, np.ndarray] = {}
    for col in table.columns:
        columns[col.name] = table.physical(rows, col)
        if col.tnull is not None and not col.scaled:
            nulls[col.name] = (rows[col.name] == col.tnull).reshape(columns[col.name].shape)
    return Table(columns=columns, header=table.header, nulls=nulls)
