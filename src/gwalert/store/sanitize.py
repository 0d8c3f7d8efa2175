"""Values made acceptable to every store and every JSON reader, whatever a sender wrote.

A decoded notice may hold text with NUL characters or lone surrogates (JSON ``\\u0000``,
``\\ud800``), NaN or infinite numbers, integers beyond 64 bits and strings longer than a
column. SQLite refuses to encode lone surrogates, PostgreSQL refuses NUL in text, NaN in JSON
and over-long ``VARCHAR(n)`` values. These functions turn any such value into one both accept;
none of them raises. The raw notice is always stored as sent, so nothing is lost.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..util import iso

#: NUL and UTF-16 surrogate code points: not storable as text in SQLite/PostgreSQL.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: Nesting beyond this in a JSON value is replaced by a marker (summaries are shallow).
MAX_DEPTH = 32


def text(value: str, limit: int | None = None) -> str:
    """``value`` without NUL or lone surrogates (each becomes U+FFFD), cut to ``limit``
    characters (the last one an ellipsis) when it is longer."""
    value = _UNSTORABLE.sub(REPLACEMENT, value)
    if limit is not None and len(value) > limit:
        value = value[: max(limit - 1, 0)] + "\u2026"[:limit]
    return value


def number(value: Any) -> float | None:
    """A finite float, or None for anything else (NaN, infinities, out of range, not a
    number, booleans)."""
    if isinstance(value, bool):
        return None
    try:
        result = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return result if math.isfinite(result) else None


def integer(value: Any, bits: int = 64) -> int | None:
    """A signed integer of at most ``bits`` bits (a column's range), or None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if -(2 ** (bits - 1)) <= value < 2 ** (bits - 1) else None


def json_value(value: Any, _depth: int = 0) -> Any:
    """``value`` as plain JSON every store and strict JSON parser accepts: non-finite floats
    become None, integers beyond 64 bits their decimal text, bytes ``{"bytes": size}``,
    datetimes ISO text, strings and keys :func:`text`, numpy scalars and arrays Python ones."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return text(value)
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else _int_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if _depth >= MAX_DEPTH:
        return "\u2026"
    if isinstance(value, Mapping):  # a dict, or a typed summary read as one
        return {text(str(k)): json_value(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v, _depth + 1) for v in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return {"bytes": len(value)}
    if isinstance(value, datetime):
        return iso(value)
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:  # numpy scalars
        try:
            return json_value(value.item(), _depth + 1)
        except Exception:  # noqa: BLE001 - never raise: fall back to the text
            pass
    elif hasattr(value, "tolist"):  # numpy arrays
        try:
            return json_value(value.tolist(), _depth + 1)
        except Exception:  # noqa: BLE001
            pass
    try:
        return text(str(value))
    except Exception:  # noqa: BLE001
        return text(type(value).__name__)


def _int_text(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # beyond Python's int-to-text digit limit
        return f"<integer of about {int(value.bit_length() * 0.30103)} digits>"
