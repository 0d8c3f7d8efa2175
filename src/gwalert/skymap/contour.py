"""Credible-region contours as lines on the sky, and their export as GeoJSON or ds9 regions
(what ``ligo-skymap-contour`` writes).

The credible level of every point of a fine image is looked up in the multi-order map; the
image is gnomonic (centred on the region, which it holds whole) when the region fits in a cone,
else an all-sky RA/Dec grid. contourpy traces the level lines; their vertices are converted
back to RA/Dec. Lines are closed rings except where an all-sky grid cuts them at RA 0/360 or a
pole.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .map import SkyMap

#: Image size (pixels per side) of the gnomonic grid; the all-sky grid is 4x as wide and 2x tall.
_PIXELS = 800


def credible_contours(
    sm: SkyMap, levels: Sequence[float], pixels: int = _PIXELS
) -> dict[float, list[np.ndarray]]:
    """For each level (a probability in (0, 1)), the boundary lines of its credible region,
    each an (N, 2) array of (RA, Dec) in degrees, RA in [0, 360)."""
    import contourpy

    from .zoom import zoom_grid, zoom_wcs, zoom_window

    levels = sorted(float(p) for p in levels)
    window = zoom_window(sm, levels[-1]) if levels else None
    if window is not None:
        wcs = zoom_wcs(*window, npix=pixels)
        _, level = zoom_grid(sm, wcs)

        def to_world(xy: np.ndarray) -> np.ndarray:
            ra, dec = wcs.pixel_to_world_values(xy[:, 0], xy[:, 1])
            return np.column_stack([np.mod(ra, 360.0), dec])

        x = np.arange(level.shape[1], dtype=float)
        y = np.arange(level.shape[0], dtype=float)
    else:
        nx, ny = 4 * pixels, 2 * pixels
        x = (np.arange(nx) + 0.5) * 360.0 / nx
        y = (np.arange(ny) + 0.5) * 180.0 / ny - 90.0
        rr, dd = np.meshgrid(x, y)
        rows = np.asarray(sm.rows_at(rr, dd))
        level = sm.ranking.searched_prob[rows]

        def to_world(xy: np.ndarray) -> np.ndarray:
            return np.column_stack([np.mod(xy[:, 0], 360.0), xy[:, 1]])

    gen = contourpy.contour_generator(x, y, level, line_type="Separate")
    out: dict[float, list[np.ndarray]] = {}
    for p in levels:
        out[p] = [to_world(np.asarray(line, float)) for line in gen.lines(p) if len(line) >= 2]
    return out


def _rounded(line: np.ndarray, digits: int = 5) -> list[list[float]]:
    return [[round(float(r), digits), round(float(d), digits)] for r, d in line]


def geojson(contours: dict[float, list[np.ndarray]]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection as ``ligo-skymap-contour`` writes it: one MultiLineString
    per level, longitude = RA in degrees in [0, 360), property ``credible_level`` in percent."""
    features = []
    for p, lines in sorted(contours.items()):
        coords = []
        for line in lines:
            ra = np.mod(line[:, 0], 360.0)
            coords.append(_rounded(np.column_stack([ra, line[:, 1]])))
        features.append(
            {
                "type": "Feature",
                "properties": {"credible_level": round(100 * p, 6)},
                "geometry": {"type": "MultiLineString", "coordinates": coords},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def ds9(contours: dict[float, list[np.ndarray]]) -> str:
    """A ds9 region file: one ``polygon`` per line in ICRS degrees, tagged with its level."""
    out = ["# Region file format: DS9 version 4.1", "icrs"]
    for p, lines in sorted(contours.items()):
        for line in lines:
            pts = line[:-1] if len(line) > 2 and np.allclose(line[0], line[-1]) else line
            text = ",".join(f"{r:.5f},{d:.5f}" for r, d in pts)
            out.append(f"polygon({text}) # text={{{100 * p:g}%}} tag={{credible{100 * p:g}}}")
    return "\n".join(out) + "\n"


def write(contours: dict[float, list[np.ndarray]], path: str | os.PathLike) -> str:
    """Write ``contours`` to ``path``: ds9 regions for ``.reg``, GeoJSON otherwise.
    Returns the format written."""
    name = os.fspath(path)
    if name.lower().endswith(".reg"):
        text, kind = ds9(contours), "ds9"
    else:
        text, kind = json.dumps(geojson(contours)) + "\n", "geojson"
    from ..safefiles import write_path

    write_path(name, text.encode("utf-8"))
    return kind


def enclosed_area(line: np.ndarray) -> float:
    """Solid angle (deg²) inside a closed (RA, Dec) ring smaller than a hemisphere, by the sum
    of the spherical excess of the triangles it makes with its first vertex (for tests)."""
    ra, dec = np.radians(line[:, 0]), np.radians(line[:, 1])
    v = np.column_stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])
    a = v[0]
    total = 0.0
    for b, c in zip(v[1:-1], v[2:], strict=True):
        num = float(np.dot(a, np.cross(b, c)))
        den = 1.0 + float(np.dot(a, b)) + float(np.dot(b, c)) + float(np.dot(c, a))
        total += 2.0 * math.atan2(num, den)
    return abs(total) * (180.0 / math.pi) ** 2
