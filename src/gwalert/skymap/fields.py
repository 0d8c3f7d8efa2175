"""Probability in a telescope's field of view: a circle or a great-circle polygon.

Rows wholly inside the field count fully, rows wholly outside not at all; rows on the boundary
are split into their four children, down to the map's own order and fine enough that boundary
pixels are small beside the field (at most order 16), where pixel centres decide. Each pixel's
centre-to-edge angle is bounded from its corners and edge midpoints (with a margin for the
bulge of HEALPix edges), so a pixel is only classified inside/outside when all of it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import SkyMapError
from .arrays import flat_positions, rows_dot, shaped
from .healpix import SQDEG_PER_SR, pixel_area_sr, uniq_to_level_ipix
from .vectors import pixel_vectors, unit_vectors

if TYPE_CHECKING:
    from .map import SkyMap


@dataclass(frozen=True)
class FieldProbability:
    """Probability and area (deg²) of the sky inside a field of view (floats, or arrays in
    the shape of the fields asked for)."""

    probability: Any
    area: Any


def _pixel_geometry(level: np.ndarray, ipix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors of pixel centres and a safe bound (rad) on their centre-to-edge angle."""
    center = pixel_vectors(level, ipix)
    radius = np.zeros(level.shape)
    # Corners and edge midpoints; HEALPix edges bulge little between them, hence the margin.
    for dx, dy in ((0, 0), (0, 1), (1, 0), (1, 1), (0.5, 0), (0, 0.5), (1, 0.5), (0.5, 1)):
        cos = np.einsum("ij,ij->i", pixel_vectors(level, ipix, dx, dy), center)
        radius = np.maximum(radius, np.arccos(np.clip(cos, -1, 1)))
    return center, 1.1 * radius + 1e-12


def _field_sum(sm: SkyMap, classify, max_level: int) -> FieldProbability:
    """Sum probability and area over the rows (and, on the boundary, their sub-pixels) that
    ``classify`` puts inside. ``classify(xyz, radius)`` returns +1 inside, -1 outside,
    0 undecided for each pixel; undecided pixels are split until ``max_level``, where their
    centres decide."""
    level, ipix = uniq_to_level_ipix(sm.uniq)
    dens = sm.probdensity
    prob = 0.0
    area = 0.0
    lv, ip, dn = level, ipix, dens
    while lv.size:
        xyz, rad = _pixel_geometry(lv, ip)
        final = lv >= max_level
        cls = classify(xyz, np.where(final, 0.0, rad))
        inside = cls > 0
        a = pixel_area_sr(lv[inside])
        prob += float(np.sum(dn[inside] * a))
        area += float(np.sum(a))
        split = (cls == 0) & ~final
        lv = np.repeat(lv[split] + 1, 4)
        ip = (4 * ip[split][:, None] + np.arange(4)).reshape(-1)
        dn = np.repeat(dn[split], 4)
    return FieldProbability(prob, area * SQDEG_PER_SR)


def _detail_level(sm: SkyMap, size_rad: float) -> int:
    """Deepest level to split boundary pixels to: the map's own, and fine enough that the
    boundary's pixels are small beside the field (at most level 16)."""
    want = 0
    while want < 16 and math.sqrt(float(pixel_area_sr(want))) > size_rad / 64:
        want += 1
    return max(int(sm.level.max()), want)


def probability_in_circle(
    sm: SkyMap, ra_deg: Any, dec_deg: Any, radius_deg: Any
) -> FieldProbability:
    """Probability and area inside circular fields of view of ``radius_deg`` (centres and
    radii broadcast together; the result's fields have their shape)."""
    shape, ra, dec, (radius,) = flat_positions(ra_deg, dec_deg, radius_deg)
    if not np.all((radius > 0) & (radius <= 180)):
        raise SkyMapError("the radius must be between 0 and 180 degrees")
    prob = np.empty(ra.size)
    area = np.empty(ra.size)
    for i in range(ra.size):
        one = _circle(sm, float(ra[i]), float(dec[i]), float(radius[i]))
        prob[i], area[i] = one.probability, one.area
    return FieldProbability(shaped(prob, shape), shaped(area, shape))


def _circle(sm: SkyMap, ra_deg: float, dec_deg: float, radius_deg: float) -> FieldProbability:
    center = unit_vectors(np.float64(ra_deg), np.float64(dec_deg))
    radius = math.radians(radius_deg)

    def classify(xyz: np.ndarray, rad: np.ndarray) -> np.ndarray:
        ang = np.arccos(np.clip(rows_dot(xyz, center), -1, 1))
        return np.where(ang + rad <= radius, 1, np.where(ang - rad > radius, -1, 0))

    return _field_sum(sm, classify, _detail_level(sm, radius))


def probability_in_polygon(
    sm: SkyMap, ra_deg: Sequence[float], dec_deg: Sequence[float]
) -> FieldProbability:
    """Probability and area inside a polygon whose vertices (degrees, in order) are joined by
    great-circle arcs. The polygon must fit in a hemisphere (as any telescope field does)."""
    try:
        ra = np.asarray(ra_deg, float)
        dec = np.asarray(dec_deg, float)
    except (TypeError, ValueError):
        raise SkyMapError("a polygon needs at least three (RA, Dec) vertices") from None
    if ra.shape != dec.shape or ra.ndim != 1 or ra.size < 3:
        raise SkyMapError("a polygon needs at least three (RA, Dec) vertices")
    flat_positions(ra, dec)  # finite, |Dec| <= 90
    verts = unit_vectors(ra, dec)
    center = verts.sum(axis=0)
    norm = np.linalg.norm(center)
    if norm < 1e-9:
        raise SkyMapError("the polygon does not fit in a hemisphere")
    center /= norm
    if np.any(rows_dot(verts, center) <= 1e-9):
        raise SkyMapError("the polygon does not fit in a hemisphere")
    # Gnomonic projection about the centre maps great circles to straight lines.
    e1 = np.cross([0.0, 0.0, 1.0], center)
    if np.linalg.norm(e1) < 1e-9:
        e1 = np.cross([1.0, 0.0, 0.0], center)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(center, e1)
    vx = rows_dot(verts, e1) / rows_dot(verts, center)
    vy = rows_dot(verts, e2) / rows_dot(verts, center)
    a_vec = verts
    b_vec = np.roll(verts, -1, axis=0)
    normals = np.cross(a_vec, b_vec)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    extent = float(np.max(np.arccos(np.clip(rows_dot(verts, center), -1, 1))))

    def point_inside(xyz: np.ndarray) -> np.ndarray:
        w = rows_dot(xyz, center)
        front = w > 1e-12
        wsafe = np.where(front, w, 1.0)
        px = rows_dot(xyz, e1) / wsafe
        py = rows_dot(xyz, e2) / wsafe
        inside = np.zeros(xyz.shape[0], bool)
        x0, y0 = vx, vy
        x1, y1 = np.roll(vx, -1), np.roll(vy, -1)
        for i in range(vx.size):  # even-odd rule, one edge at a time
            cond = (y0[i] > py) != (y1[i] > py)
            xcross = x0[i] + (py - y0[i]) * (x1[i] - x0[i]) / (y1[i] - y0[i] or 1e-300)
            inside ^= cond & (px < xcross)
        return inside & front

    def edge_distance(xyz: np.ndarray) -> np.ndarray:
        best = np.full(xyz.shape[0], np.inf)
        for i in range(normals.shape[0]):
            n = normals[i]
            sin_d = rows_dot(xyz, n)
            d_line = np.arcsin(np.clip(np.abs(sin_d), 0, 1))
            # Foot of the perpendicular within the arc?
            proj = xyz - sin_d[:, None] * n
            within = (rows_dot(np.cross(a_vec[i], proj), n) >= 0) & (
                rows_dot(np.cross(proj, b_vec[i]), n) >= 0
            )
            d_a = np.arccos(np.clip(rows_dot(xyz, a_vec[i]), -1, 1))
            d_b = np.arccos(np.clip(rows_dot(xyz, b_vec[i]), -1, 1))
            best = np.minimum(best, np.where(within, d_line, np.minimum(d_a, d_b)))
        return best

    def classify(xyz: np.ndarray, rad: np.ndarray) -> np.ndarray:
        inside = point_inside(xyz)
        near = edge_distance(xyz) <= rad
        return np.where(near, 0, np.where(inside, 1, -1))

    return _field_sum(sm, classify, _detail_level(sm, extent))
