"""A small, bounded reader for the FITS binary tables that hold HEALPix sky maps.

astropy.io.fits reads these files too, but importing it costs a quarter of a second, more than
``gwalert parse`` may spend in all; and a sender-controlled header must be checked against the
bytes that really follow it before anything is allocated. This module reads exactly what sky
maps use (a primary HDU, then a BINTABLE with fixed-width numeric columns) and refuses the rest
with a clear reason. ``tests/test_fitsio.py`` proves it against astropy on every map we have.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SkyMapError
from ..limits import MAX_SKYMAP_BYTES, gunzip_bounded

BLOCK = 2880
CARD = 80

# FITS TFORM letter -> (numpy big-endian type, bytes per element)
_TFORM = {
    "L": ("i1", 1),
    "B": ("u1", 1),
    "I": (">i2", 2),
    "J": (">i4", 4),
    "K": (">i8", 8),
    "E": (">f4", 4),
    "D": (">f8", 8),
    "A": ("S1", 1),
}


@dataclass(frozen=True)
class Table:
    """Columns (numpy views into the file's bytes, big-endian) and the table's header."""

    columns: dict[str, np.ndarray]
    header: dict[str, Any]
    units: dict[str, str]


_STRING = re.compile(r"'((?:[^']|'')*)'")


def _parse_value(text: str) -> Any:
    text = text.strip()
    if not text:
        return None
    if text.startswith("'"):
        # A string: '' is an escaped quote; a comment may follow the closing quote.
        match = _STRING.match(text)
        body = match.group(1) if match else text[1:]
        return body.replace("''", "'").rstrip()
    value = text.split("/", 1)[0].strip()
    if value == "T":
        return True
    if value == "F":
        return False
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value.replace("D", "E"))
    except ValueError:
        return value


def _read_header(data: memoryview, offset: int) -> tuple[dict[str, Any], int]:
    """Parse one header starting at ``offset``; return its cards and the offset of its data."""
    header: dict[str, Any] = {}
    pos = offset
    end = len(data)
    while True:
        if pos + BLOCK > end:
            raise SkyMapError("truncated FITS header (no END card)")
        block = bytes(data[pos : pos + BLOCK])
        pos += BLOCK
        for i in range(0, BLOCK, CARD):
            card = block[i : i + CARD].decode("ascii", errors="replace")
            key = card[:8].strip()
            if key == "END":
                return header, pos
            if card[8:10] == "= " and key:
                header[key] = _parse_value(card[10:])
            elif key == "CONTINUE" and header:
                # Long-string convention: append to the previous string value.
                last = next(reversed(header))
                if isinstance(header[last], str):
                    more = _parse_value(card[8:])
                    if isinstance(more, str):
                        header[last] = header[last].rstrip("&") + more


def _int_card(header: dict[str, Any], key: str, default: int | None = None) -> int:
    value = header.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SkyMapError(f"FITS header card {key} is missing or not a non-negative integer")
    return value


def _data_size(header: dict[str, Any]) -> int:
    naxis = _int_card(header, "NAXIS", 0)
    if naxis == 0:
        return 0
    bitpix = header.get("BITPIX", 8)
    if not isinstance(bitpix, int) or bitpix not in (8, 16, 32, 64, -32, -64):
        raise SkyMapError(f"FITS header has an invalid BITPIX {bitpix!r}")
    size = abs(bitpix) // 8
    for n in range(1, naxis + 1):
        size *= _int_card(header, f"NAXIS{n}")
    size += _int_card(header, "PCOUNT", 0)
    return size * _int_card(header, "GCOUNT", 1)


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def decompress_if_needed(data: bytes) -> bytes | bytearray:
    if data[:2] == b"\x1f\x8b":
        return gunzip_bounded(data, MAX_SKYMAP_BYTES, "gzip-compressed sky map")
    return data


def read_bintable(data: bytes | bytearray) -> Table:
    """Read the first binary-table extension of a FITS file held in ``data``."""
    data = decompress_if_needed(data)
    if len(data) > MAX_SKYMAP_BYTES:
        raise SkyMapError(f"FITS file of {len(data)} bytes is larger than the bound")
    if not data.startswith(b"SIMPLE  ="):
        raise SkyMapError("not a FITS file (no SIMPLE card)")
    view = memoryview(data)
    header, pos = _read_header(view, 0)
    pos += _padded(_data_size(header))
    while pos < len(view):
        header, data_start = _read_header(view, pos)
        if header.get("XTENSION") == "BINTABLE":
            return _bintable(view, header, data_start)
        pos = data_start + _padded(_data_size(header))
    raise SkyMapError("FITS file has no binary-table extension")


def _bintable(view: memoryview, header: dict[str, Any], start: int) -> Table:
    row_bytes = _int_card(header, "NAXIS1")
    nrows = _int_card(header, "NAXIS2")
    nfields = _int_card(header, "TFIELDS")
    available = len(view) - start
    if row_bytes * nrows > available:
        raise SkyMapError(
            f"truncated FITS table: its header claims {nrows} rows of {row_bytes} bytes "
            f"({row_bytes * nrows} bytes) but only {available} bytes follow"
        )
    names, formats, offsets = [], [], []
    units: dict[str, str] = {}
    offset = 0
    scaled: dict[str, tuple[float, float]] = {}
    for n in range(1, nfields + 1):
        name = str(header.get(f"TTYPE{n}", f"COL{n}")).strip()
        tform = str(header.get(f"TFORM{n}", "")).strip().upper()
        code = tform.lstrip("0123456789")[:1]
        repeat_text = tform[: len(tform) - len(tform.lstrip("0123456789"))]
        repeat = int(repeat_text) if repeat_text else 1
        if code not in _TFORM:
            raise SkyMapError(f"unsupported FITS column format {tform!r} for column {name}")
        base, width = _TFORM[code]
        names.append(name.upper())
        formats.append((base, (repeat,)) if repeat != 1 else base)
        offsets.append(offset)
        offset += repeat * width
        if f"TUNIT{n}" in header:
            units[name.upper()] = str(header[f"TUNIT{n}"]).strip()
        tscal = header.get(f"TSCAL{n}", 1)
        tzero = header.get(f"TZERO{n}", 0)
        if (tscal, tzero) != (1, 0):
            scaled[name.upper()] = (float(tscal), float(tzero))
    if offset != row_bytes:
        raise SkyMapError(
            f"FITS table rows are {row_bytes} bytes but the columns add up to {offset}"
        )
    if len(set(names)) != len(names):
        raise SkyMapError("FITS table has duplicate column names")
    dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets,
                      "itemsize": row_bytes})
    rows = np.frombuffer(view, dtype=dtype, count=nrows, offset=start)
    columns: dict[str, np.ndarray] = {}
    for name in names:
        # Views into ``data``, in the file's byte order: no copy, no new memory to fault in.
        col = rows[name]
        if name in scaled:
            tscal, tzero = scaled[name]
            col = col * tscal + tzero
        columns[name] = col
    return Table(columns=columns, header=header, units=units)
