"""A plan's rows as files take them: the distinct fields of a schedule, CSV text."""

from __future__ import annotations

import csv
import io
from typing import Any

#: The columns of an empty table (what a plan without fields writes).
TILE_KEYS = ("id", "ra", "dec", "probability", "cumulative")


def tiles_of(exposures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The distinct fields of a schedule in the order of their first exposure (with its
    start)."""
    seen: dict[str, dict[str, Any]] = {}
    for e in exposures:
        if e["id"] not in seen:
            seen[e["id"]] = {**{k: e[k] for k in TILE_KEYS}, "start": e["start"]}
    return list(seen.values())


def csv_text(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV (a header from the first row's keys; :data:`TILE_KEYS` when empty)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, list(rows[0]) if rows else list(TILE_KEYS))
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()
