"""Multi-order rows: what the sky-map readers (``io``) give, and the bound on their number."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SkyMapError
from ..limits import MAX_SKYMAP_ROWS

DISTANCE_COLUMNS = ("DISTMU", "DISTSIGMA", "DISTNORM")
#: Columns kept (as float64) in the multi-order rows.
KEPT = ("PROBDENSITY", *DISTANCE_COLUMNS)


@dataclass(frozen=True)
class Rows:
    """Multi-order rows: NUNIQ indices and float64 columns (PROBDENSITY, distance if any)."""

    uniq: np.ndarray
    columns: dict[str, np.ndarray]
    header: dict[str, Any]


def bound_rows(n: int) -> None:
    if n > MAX_SKYMAP_ROWS:
        raise SkyMapError(
            f"sky map has more than {MAX_SKYMAP_ROWS} multi-order rows; refused "
            "(set GWALERT_MAX_SKYMAP_ROWS to raise the bound)"
        )
