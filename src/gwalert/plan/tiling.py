"""Where fields may point: gwalert's own grid for a footprint, or a survey's fixed field grid
read from a CSV file (id, ra, dec); either limited to the fields that touch a credible region."""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import GwalertError
from .footprints import Footprint

if TYPE_CHECKING:
    from ..skymap import SkyMap


@dataclass(frozen=True)
class Grid:
    """Candidate pointings: ids (text), RA and Dec in degrees."""

    ids: np.ndarray  # object array of str
    ra: np.ndarray
    dec: np.ndarray

    def __len__(self) -> int:
        return int(self.ra.size)

    def take(self, index: np.ndarray) -> Grid:
        return Grid(self.ids[index], self.ra[index], self.dec[index])


def own_grid(footprint: Footprint, overlap: float = 0.02, phase: float = 0.0) -> Grid:
    """Rows of constant Dec stepped by the footprint's height; in each row, RA stepped so that
    neighbours touch at the row's poleward edge (a little overlap elsewhere), with a whole
    number of fields around the sky. Circles are laid on a hexagonal pattern. ``phase``
    (0..1) shifts the rows by that fraction of a step."""
    width, height = footprint.extent
    if footprint.is_circle:
        r = footprint.radius or 0.0
        height, width = 1.5 * r, math.sqrt(3) * r
    step_dec = height * (1 - overlap)
    n_rows = max(1, math.ceil(180.0 / step_dec))
    step_dec = 180.0 / n_rows
    ras: list[np.ndarray] = []
    decs: list[np.ndarray] = []
    for k in range(n_rows + 1):
        dec = -90.0 + (k + phase) * step_dec
        if dec > 90.0:
            break
        edge = min(abs(dec) + step_dec / 2, 90.0)
        cos_edge = math.cos(math.radians(edge))
        step_ra = width * (1 - overlap) / max(cos_edge, 1e-9)
        n_ra = 1 if step_ra >= 360 or edge >= 89.999 else math.ceil(360.0 / step_ra)
        shift = 0.5 if footprint.is_circle and k % 2 else 0.0
        ra = (np.arange(n_ra) + shift + phase) * (360.0 / n_ra) % 360.0
        ras.append(ra)
        decs.append(np.full(n_ra, dec))
    ra_all = np.concatenate(ras)
    dec_all = np.clip(np.concatenate(decs), -90.0, 90.0)
    ids = np.array([str(i) for i in range(1, ra_all.size + 1)], dtype=object)
    return Grid(ids, ra_all, dec_all)


def read_fields(path: str | os.PathLike, option: str = "--fields") -> Grid:
    """A survey's field grid: a CSV file with columns id (or field), ra and dec (degrees); a
    file without a header takes the columns in that order."""
    name = os.fspath(path)
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            text = fh.read(50_000_001)
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or "not a text file"
        raise GwalertError(f"{option} {name}: {why}") from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise GwalertError(f"{option} {name}: empty (expected CSV rows of id, ra, dec)")
    rows = list(csv.reader(lines))
    head = [c.strip().lower() for c in rows[0]]

    def find(names: tuple[str, ...]) -> int:
        return next((i for i, c in enumerate(head) if c in names), -1)

    c_id = find(("id", "field", "field_id", "fieldid", "name"))
    c_ra = find(("ra", "ra_deg", "raj2000"))
    c_dec = find(("dec", "dec_deg", "dej2000", "decj2000"))
    first = 2
    if c_ra >= 0 and c_dec >= 0:
        body = rows[1:]
    elif c_ra >= 0 or c_dec >= 0:
        raise GwalertError(f"{option} {name}: needs both ra and dec columns")
    else:
        c_id, c_ra, c_dec, body, first = 0, 1, 2, rows, 1
    ids: list[str] = []
    ra: list[float] = []
    dec: list[float] = []
    for n, row in enumerate(body, first):
        try:
            r = float(row[c_ra])
            d = float(row[c_dec])
        except (ValueError, IndexError):
            raise GwalertError(
                f"{option} {name}: line {n}: expected id, ra, dec in degrees, got "
                f"{','.join(row)[:50]!r}"
            ) from None
        if not (math.isfinite(r) and math.isfinite(d) and -90 <= d <= 90):
            raise GwalertError(f"{option} {name}: line {n}: RA/Dec out of range")
        ids.append(row[c_id].strip() if 0 <= c_id < len(row) else str(len(ids) + 1))
        ra.append(r % 360.0)
        dec.append(d)
    if not ra:
        raise GwalertError(f"{option} {name}: no fields (expected CSV rows of id, ra, dec)")
    return Grid(np.array(ids, dtype=object), np.array(ra), np.array(dec))


def near_region(grid: Grid, sm: SkyMap, footprint: Footprint, coverage: float) -> Grid:
    """The grid's fields that may touch the ``coverage`` credible region: those whose centre
    lies within the footprint's circumradius (plus the row's size) of a region row."""
    from scipy.spatial import cKDTree

    from ..skymap.healpix import uniq_to_level_ipix
    from ..skymap.vectors import pixel_vectors, unit_vectors

    rank = sm.ranking
    rows = np.flatnonzero(rank.searched_prob - sm.prob < coverage)
    level, ipix = uniq_to_level_ipix(sm.uniq[rows])
    centres = pixel_vectors(level, ipix)
    row_radius = 1.2 / (1 << level.astype(np.int64))
    tree = cKDTree(centres)
    pts = unit_vectors(grid.ra, grid.dec)
    reach = math.radians(footprint.circumradius) + float(row_radius.max())
    chord = 2 * math.sin(min(reach, math.pi) / 2)
    dist, _ = tree.query(pts, k=1, distance_upper_bound=chord)
    return grid.take(np.flatnonzero(np.isfinite(dist)))
