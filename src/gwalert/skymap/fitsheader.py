"""FITS headers: cards to a dict, and the walk to a file's first binary table.

Pure Python on purpose (no numpy): ``gwalert parse`` reads a notice's sky-map header with it
before deciding whether numpy is needed at all (``peek``); the table reader (``fitsio``) uses
the same functions, so both see the same header.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import SkyMapError
from .fitsstream import Stream

BLOCK = 2880
CARD = 80
#: Header blocks accepted per HDU (36 cards each): real sky-map headers use one to three.
MAX_HEADER_BLOCKS = 256

_STRING = re.compile(r"'((?:[^']|'')*)'")


def parse_value(text: str) -> Any:
    """A card's value: string, logical, integer or float (a comment after ``/`` dropped)."""
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


def read_header(stream: Stream, first: bool = False) -> dict[str, Any] | None:
    """Parse the next header; None at a clean end of file."""
    header: dict[str, Any] = {}
    for n in range(MAX_HEADER_BLOCKS):
        block = bytes(stream.read(BLOCK))
        if first and n == 0 and not block.startswith(b"SIMPLE  ="):
            raise SkyMapError("not a FITS file (no SIMPLE card)")
        if not block and n == 0:
            return None
        if len(block) < BLOCK:
            raise SkyMapError("truncated FITS header (no END card)")
        text = block.decode("ascii", errors="replace")
        for i in range(0, BLOCK, CARD):
            card = text[i : i + CARD]
            key = card[:8].strip()
            if key == "END":
                return header
            if card[8:10] == "= " and key:
                header[key] = parse_value(card[10:])
            elif key == "CONTINUE" and header:
                # Long-string convention: append to the previous string value.
                last = next(reversed(header))
                if isinstance(header[last], str):
                    more = parse_value(card[8:])
                    if isinstance(more, str):
                        header[last] = header[last].rstrip("&") + more
    raise SkyMapError(f"FITS header longer than {MAX_HEADER_BLOCKS} blocks")


def int_card(header: dict[str, Any], key: str, default: int | None = None) -> int:
    value = header.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SkyMapError(f"FITS header card {key} is missing or not a non-negative integer")
    return value


def data_size(header: dict[str, Any]) -> int:
    """Bytes of data the HDU of ``header`` holds (before padding)."""
    naxis = int_card(header, "NAXIS", 0)
    if naxis == 0:
        return 0
    bitpix = header.get("BITPIX", 8)
    if not isinstance(bitpix, int) or bitpix not in (8, 16, 32, 64, -32, -64):
        raise SkyMapError(f"FITS header has an invalid BITPIX {bitpix!r}")
    size = abs(bitpix) // 8
    for n in range(1, naxis + 1):
        size *= int_card(header, f"NAXIS{n}")
    size += int_card(header, "PCOUNT", 0)
    return size * int_card(header, "GCOUNT", 1)


def padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def find_bintable(stream: Stream) -> dict[str, Any]:
    """The header of the stream's first BINTABLE extension, the stream left at its data
    (every HDU before it skipped within the stream's bound)."""
    header = read_header(stream, first=True)
    assert header is not None
    while True:
        size = padded(data_size(header))
        if stream.position + size > stream.limit:
            raise SkyMapError(
                f"FITS HDU claims {size} bytes of data, more than the bound of {stream.limit} bytes"
            )
        if stream.skip(size) < size:
            raise SkyMapError("truncated FITS file: an HDU's data ends early")
        header = read_header(stream)
        if header is None:
            raise SkyMapError("FITS file has no binary-table extension")
        if header.get("XTENSION") == "BINTABLE":
            return header
