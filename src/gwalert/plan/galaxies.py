"""Galaxy-targeted planning: rank a catalog's galaxies by the posterior density at their
position and distance times a luminosity weight, and centre fields on the best.

Score of galaxy i: ``dP/dV(ra_i, dec_i, d_i) * L_i`` on a 3-D map with catalog distances (the
exact per-volume density of the map's distance ansatz), else ``dP/dOmega(ra_i, dec_i) * L_i``.
``L_i`` is the luminosity column when there is one, else 10**(-0.4 M) with the absolute
magnitude M = m - 5 log10(d / 10 pc) from a B or K magnitude (K preferred: it traces stellar
mass), else 1. Scores are normalised to sum to 1 over the catalog.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import GwalertError

if TYPE_CHECKING:
    from ..skymap import SkyMap

_RA = ("ra", "raj2000", "ra_deg")
_DEC = ("dec", "dej2000", "decj2000", "dec_deg")
_DIST = ("distmpc", "distance", "dist", "d_l", "dl")
_NAME = ("name", "hyperleda", "gwgc", "pgc", "2mass", "id")
_MAGK = ("magk", "kmag", "k", "mag_k")
_MAGB = ("magb", "bmag", "b", "mag_b")
_LUM = ("luminosity", "lum", "l")


@dataclass
class Catalog:
    names: list[str]
    ra: np.ndarray
    dec: np.ndarray
    distance: np.ndarray | None  # Mpc, NaN where unknown
    mag: np.ndarray | None
    band: str | None  # "K", "B" or "luminosity"
    notes: list[str] = field(default_factory=list)


def _col(head: list[str], names: tuple[str, ...]) -> int:
    """The column of the first of ``names`` (in that order of preference) in the header."""
    return next((head.index(n) for n in names if n in head), -1)


def _name(row: list[str], cols: list[int], fallback: str) -> str:
    """The first real name among the name columns (GLADE writes b'...' and '---' or '<NA>'
    for none)."""
    for c in cols:
        if c < len(row):
            text = row[c].strip()
            if text.startswith(("b'", 'b"')) and text[-1:] in ("'", '"'):
                text = text[2:-1]
            if text and text not in ("---", "<NA>", "nan", "--"):
                return text
    return fallback


def _floats(rows: list[list[str]], i: int) -> np.ndarray:
    out = np.full(len(rows), np.nan)
    for k, r in enumerate(rows):
        try:
            out[k] = float(r[i])
        except (ValueError, IndexError):
            pass
    return out


def read_catalog(path: str | os.PathLike) -> Catalog:
    name = os.fspath(path)
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        why = getattr(exc, "strerror", None) or "not a CSV text file"
        raise GwalertError(f"--catalog {name}: {why}") from None
    rows = [r for r in rows if r and any(c.strip() for c in r)]
    if len(rows) < 2:
        raise GwalertError(f"--catalog {name}: no galaxies (expected a header and rows)")
    head = [c.strip().lower() for c in rows[0]]
    body = rows[1:]
    c_ra, c_dec = _col(head, _RA), _col(head, _DEC)
    if c_ra < 0 or c_dec < 0:
        raise GwalertError(f"--catalog {name}: needs ra and dec columns (degrees)")
    ra, dec = _floats(body, c_ra), _floats(body, c_dec)
    good = np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90)
    if not good.any():
        raise GwalertError(f"--catalog {name}: no row has a valid ra and dec")
    notes = []
    if not good.all():
        notes.append(f"{int((~good).sum())} catalog rows without a valid ra/dec skipped")
    keep = np.flatnonzero(good)
    name_cols = [head.index(n) for n in _NAME if n in head]
    names = [_name(body[i], name_cols, f"row {i + 1}") for i in keep]
    c_dist = _col(head, _DIST)
    dist = _floats(body, c_dist)[keep] if c_dist >= 0 else None
    mag, band = None, None
    for cols, b in ((_LUM, "luminosity"), (_MAGK, "K"), (_MAGB, "B")):
        c = _col(head, cols)
        if c >= 0:
            mag, band = _floats(body, c)[keep], b
            break
    return Catalog(names, ra[keep] % 360.0, dec[keep], dist, mag, band, notes)


def luminosity_weight(cat: Catalog) -> np.ndarray:
    n = cat.ra.size
    if cat.mag is None or cat.band is None:
        return np.ones(n)
    if cat.band == "luminosity":
        w = np.where(np.isfinite(cat.mag) & (cat.mag > 0), cat.mag, 0.0)
    elif cat.distance is None:
        w = 10 ** (-0.4 * np.where(np.isfinite(cat.mag), cat.mag, np.inf))  # apparent only
    else:
        d = np.where(np.isfinite(cat.distance) & (cat.distance > 0), cat.distance, np.nan)
        absmag = cat.mag - 5 * np.log10(d * 1e5)
        w = np.where(np.isfinite(absmag), 10 ** (-0.4 * absmag), 0.0)
    top = float(w.max()) if w.size else 0.0
    return w / top if top > 0 else np.ones(n)


@dataclass
class Ranking:
    order: np.ndarray  # catalog indices, best first
    score: np.ndarray  # normalised, per catalog row
    density: np.ndarray  # dP/dV (Mpc^-3) or dP/dOmega (sr^-1) per row
    weight: np.ndarray
    uses_distance: bool
    notes: list[str]


def rank(sm: SkyMap, cat: Catalog) -> Ranking:
    notes = list(cat.notes)
    use_3d = sm.has_distance and cat.distance is not None
    if cat.distance is not None and not sm.has_distance:
        notes.append("the sky map is 2-D (no distance layers): catalog distances are not used")
    elif sm.has_distance and cat.distance is None:
        notes.append("the catalog has no distance column: ranked by 2-D density x luminosity")
    if use_3d:
        d = np.where(np.isfinite(cat.distance), cat.distance, 0.0)  # type: ignore[arg-type]
        dens = np.asarray(sm.crossmatch(cat.ra, cat.dec, d).probdensity_vol, float)
    else:
        dens = np.asarray(sm.probdensity_at(cat.ra, cat.dec), float)
    dens = np.where(np.isfinite(dens), dens, 0.0)
    w = luminosity_weight(cat)
    score = dens * w
    total = float(score.sum())
    if total > 0:
        score = score / total
    else:
        notes.append("no galaxy of the catalog lies where the map has probability")
    order = np.argsort(-score, kind="stable")
    return Ranking(order, score, dens, w, use_3d, notes)


def ranked_rows(cat: Catalog, r: Ranking, top: int | None = None) -> list[dict[str, Any]]:
    rows = []
    cum = 0.0
    for k, i in enumerate(r.order[: top or len(r.order)], 1):
        cum += float(r.score[i])
        rows.append(
            {
                "rank": k,
                "name": cat.names[i],
                "ra": float(cat.ra[i]),
                "dec": float(cat.dec[i]),
                "distance": None
                if cat.distance is None or not math.isfinite(cat.distance[i])
                else float(cat.distance[i]),
                "density": float(r.density[i]),
                "weight": float(r.weight[i]),
                "score": float(r.score[i]),
                "cumulative_score": cum,
            }
        )
    return rows


def galaxy_fields(
    cat: Catalog, r: Ranking, footprint: Any, n: int, pool: int | None = None
) -> tuple[np.ndarray, Any]:
    """Fields centred on the best galaxies, chosen greedily for the galaxies' total score (a
    galaxy in several fields counts once). Returns (catalog indices of the field centres in
    order, the selection)."""
    from scipy import sparse

    from ..skymap.arrays import rows_dot
    from ..skymap.vectors import unit_vectors
    from . import selection
    from .coverage import classify_cells, edge_normals, field_frames

    best = r.order[: pool or max(5 * n, 50)]
    best = best[r.score[best] > 0]
    if best.size == 0:
        return best, None
    frames = field_frames(cat.ra[best], cat.dec[best])
    gv = unit_vectors(cat.ra, cat.dec)
    targets = r.order[: max(20 * n, 1000)]
    targets = targets[r.score[targets] > 0]
    normals = edge_normals(footprint)
    rows, cols = [], []
    for k in range(best.size):
        w = rows_dot(gv[targets], frames[k])
        inside = np.flatnonzero(classify_cells(footprint, normals, w, 0.0) > 0)
        rows.append(np.full(inside.size, k))
        cols.append(inside)
    rr, cc = np.concatenate(rows), np.concatenate(cols)
    m = sparse.csr_matrix((np.ones(rr.size), (rr, cc)), shape=(best.size, targets.size))
    inc = selection.Incidence(m, r.score[targets].astype(float))
    sel = selection.select(inc, n)
    return best[np.array(sel.fields, dtype=np.int64)], sel
