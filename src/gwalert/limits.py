"""Size bounds applied before decoding anything a sender controls.

LVK notices are at most a few MiB (sky maps up to 2 MiB); the bounds below leave a wide margin
while keeping a hostile input from taking the machine's memory. Each can be raised through the
environment variable named beside it.
"""

from __future__ import annotations

import os


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
#: not on memory (tables are read and derasterized in chunks). The largest real map in
#: circulation (GW170817's GWTC-1 map) inflates to 402 MB; 1 GiB leaves a 2.5x margin and keeps
#: a hostile "map bomb" to a quarter of the work the former 4 GiB allowed (the analysis time
#: budget, :mod:`gwalert.budget`, bounds the rest).
MAX_SKYMAP_BYTES = _env_bytes("GWALERT_MAX_SKYMAP_BYTES", 1 << 30)
#: Most multi-order rows a sky map may have (as stored, or after merging a flat map's equal
#: sibling pixels): what is held in memory and analysed (``parse --json`` peaks at 740 MB on
#: this many). Real maps have 10^4 to 10^6; any nside-512 map fits, whatever its structure.
MAX_SKYMAP_ROWS = _env_bytes("GWALERT_MAX_SKYMAP_ROWS", 12 * 512**2)
