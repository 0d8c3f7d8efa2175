"""Size bounds applied before decoding anything a sender controls.

LVK notices are at most a few MiB (sky maps up to 2 MiB); the bounds below leave a wide margin
while keeping a hostile input from taking the machine's memory. Each can be raised through the
environment variable named beside it.
"""

from __future__ import annotations

import os
import zlib

from .errors import GwalertError


def _env_bytes(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        return default


#: Largest notice (Avro container, bare datum or JSON) accepted, in bytes.
MAX_NOTICE_BYTES = _env_bytes("GWALERT_MAX_NOTICE_BYTES", 64 << 20)
#: Most bytes of sky-map FITS read (after decompression) before giving up: a bound on work,
#: not on memory (tables are read and derasterized in chunks). GW170817's GWTC-1 map is 402 MB.
MAX_SKYMAP_BYTES = _env_bytes("GWALERT_MAX_SKYMAP_BYTES", 4 << 30)
#: Most multi-order rows a sky map may have (as stored, or after merging a flat map's equal
#: sibling pixels): what is held in memory and analysed (``parse --json`` peaks at 740 MB on
#: this many). Real maps have 10^4 to 10^6; any nside-512 map fits, whatever its structure.
MAX_SKYMAP_ROWS = _env_bytes("GWALERT_MAX_SKYMAP_ROWS", 12 * 512**2)

_CHUNK = 1 << 20


def gunzip_bounded(data: bytes, limit: int, what: str = "gzip data") -> bytearray:
    """Inflate gzip ``data`` (all members) but never past ``limit`` bytes.

    Raises :class:`GwalertError` when the output would be larger, when the stream is corrupt,
    or when it ends early.
    """
    out = bytearray()
    pending = data
    while pending:
        inflater = zlib.decompressobj(wbits=31)
        chunk_input = pending
        while True:
            room = limit - len(out)
            try:
                piece = inflater.decompress(chunk_input, min(_CHUNK, room + 1))
            except zlib.error as exc:
                raise GwalertError(f"corrupt {what}: {exc}") from None
            out += piece
            if len(out) > limit:
                raise GwalertError(
                    f"{what} inflates to more than {limit} bytes; refused "
                    "(set GWALERT_MAX_SKYMAP_BYTES to raise the bound)"
                )
            chunk_input = inflater.unconsumed_tail
            if inflater.eof:
                break
            if not chunk_input and not piece:
                raise GwalertError(f"truncated {what}: stream ends before its end marker")
        pending = inflater.unused_data
        # Trailing zero padding after the last member is allowed by gzip(1).
        if pending and not pending.startswith(b"\x1f\x8b"):
            if pending.strip(b"\x00"):
                raise GwalertError(f"corrupt {what}: trailing garbage after gzip member")
            break
    return out  # no final copy: at most ``limit`` bytes are ever held
