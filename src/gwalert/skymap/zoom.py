"""Where the zoom panels of a sky-map picture look: one cone per separate part of the
largest credible region (:func:`zoom_windows`), the WCS of a panel (gnomonic, or orthographic
for wide regions) and the map sampled on it. ``credible_contours`` uses the same windows."""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from .arrays import rows_dot
from .healpix import SQDEG_PER_SR

if TYPE_CHECKING:
    from .map import SkyMap

#: A zoom panel is drawn when the largest contour fits in a cone of this radius (degrees).
_ZOOM_MAX_RADIUS = 80.0
#: Up to this radius the panel is gnomonic (``astro zoom``), beyond it orthographic (a globe).
_GNOMONIC_MAX_RADIUS = 40.0
#: At most this many zoom panels (one per separate part of the region).
_MAX_PANELS = 2
#: Parts of a region are found on a grid of this HEALPix order (about 3.7°).
_PART_ORDER = 4
#: The zoom's half-width is this many times the cone's radius.
_ZOOM_MARGIN = 1.12
_ZOOM_PIXELS = 400


def region_pixels(sm: SkyMap, p: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows of the ``p`` credible region (every pixel even partly inside it): their
    probability, nested index and nside."""
    from .healpix import uniq_to_level_ipix

    rank = sm.ranking
    prob = sm.prob
    rows = np.flatnonzero(rank.searched_prob - prob < p)
    level, ipix = uniq_to_level_ipix(sm.uniq[rows])
    return rows, prob[rows], ipix, np.left_shift(1, level)


def _cone(
    prob: np.ndarray, ipix: np.ndarray, nside: np.ndarray
) -> tuple[float, float, float] | None:
    """(RA, Dec, radius) of the smallest cone around the probability-weighted mean direction
    that holds every corner of the given pixels; None if the mean direction is undefined."""
    from astropy_healpix import healpix_to_lonlat

    lon, lat = healpix_to_lonlat(ipix, nside, order="nested")
    vec = _unit(np.asarray(lon.rad), np.asarray(lat.rad))
    mean = (vec * prob[:, None]).sum(axis=0)
    norm = float(np.linalg.norm(mean))
    if norm < 1e-9 * max(float(prob.sum()), 1e-300):  # balanced on opposite sides
        return None
    mean /= norm
    cos_max = 1.0
    for dx, dy in ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)):
        clon, clat = healpix_to_lonlat(ipix, nside, dx=dx, dy=dy, order="nested")
        corners = _unit(np.asarray(clon.rad), np.asarray(clat.rad))
        cos_max = min(cos_max, float(rows_dot(corners, mean).min()))
    radius = math.degrees(math.acos(max(-1.0, min(1.0, cos_max))))
    ra = math.degrees(math.atan2(mean[1], mean[0])) % 360.0
    dec = math.degrees(math.asin(max(-1.0, min(1.0, mean[2]))))
    return ra, dec, radius


def zoom_window(sm: SkyMap, p: float) -> tuple[float, float, float] | None:
    """(RA, Dec, radius) in degrees of a cone that holds the whole ``p`` credible region
    (every mode, every pixel that is even partly inside it), or None when no one panel can
    show it (a region wider than ``_ZOOM_MAX_RADIUS``).

    The centre is the probability-weighted mean direction of the region's pixels; the radius
    reaches the farthest corner of any of those pixels."""
    rows, prob, ipix, nside = region_pixels(sm, p)
    if rows.size == 0:
        return None
    cone = _cone(prob, ipix, nside)
    return cone if cone is not None and cone[2] <= _ZOOM_MAX_RADIUS else None


def zoom_windows(
    sm: SkyMap, p: float, most: int = _MAX_PANELS
) -> list[tuple[float, float, float]] | None:
    """One cone per separate part (mode) of the ``p`` credible region, most probable first:
    together they hold every pixel of the region, and no cone's panel reaches into another
    part (parts whose panels would overlap are merged). None when that needs more than
    ``most`` panels or a part is wider than ``_ZOOM_MAX_RADIUS``."""
    single = zoom_window(sm, p)
    if single is not None and single[2] <= _GNOMONIC_MAX_RADIUS:
        return [single]
    rows, prob, ipix, nside = region_pixels(sm, p)
    if rows.size == 0:
        return None
    groups = _parts(ipix, nside)
    while True:
        found = [_cone(prob[g], ipix[g], nside[g]) for g in groups]
        cones = [c for c in found if c is not None and c[2] <= _ZOOM_MAX_RADIUS]
        if len(cones) < len(found):
            return [single] if single is not None else None
        merged = _merge_overlapping(groups, cones)
        if merged is None:
            break
        groups = merged
    if len(groups) > most:
        return [single] if single is not None else None
    if single is not None and len(groups) == 1:
        return [single]
    weight = [float(prob[g].sum()) for g in groups]
    return [c for _, c in sorted(zip(weight, cones, strict=True), key=lambda wc: -wc[0])]


def _parts(ipix: np.ndarray, nside: np.ndarray, order: int = _PART_ORDER) -> list[np.ndarray]:
    """Indices of the pixels grouped by connected part, on a coarse grid (HEALPix order
    ``order``, neighbours by edge or corner)."""
    from astropy_healpix import neighbours

    level = np.log2(nside).astype(np.int64)
    coarse = np.where(level >= order, ipix >> (2 * np.maximum(level - order, 0)), -1)
    fine = level < order  # a pixel coarser than the grid covers several grid cells
    cells: dict[int, list[int]] = {}
    for i in np.flatnonzero(~fine):
        cells.setdefault(int(coarse[i]), []).append(int(i))
    for i in np.flatnonzero(fine):
        shift = 2 * (order - int(level[i]))
        first = int(ipix[i]) << shift
        for c in range(first, first + (1 << shift)):
            cells.setdefault(c, []).append(int(i))
    keys = np.fromiter(cells, np.int64)
    with warnings.catch_warnings():  # -1 marks the missing neighbours at base-pixel corners
        warnings.simplefilter("ignore", RuntimeWarning)
        nb = neighbours(keys, 1 << order, order="nested")  # (8, n)
    index = {int(k): j for j, k in enumerate(keys)}
    part = -np.ones(keys.size, np.int64)
    groups: list[np.ndarray] = []
    for start in range(keys.size):
        if part[start] >= 0:
            continue
        label = len(groups)
        part[start] = label
        todo, members = [start], []
        while todo:
            j = todo.pop()
            members.append(j)
            for n in nb[:, j]:
                k = index.get(int(n))
                if k is not None and part[k] < 0:
                    part[k] = label
                    todo.append(k)
        pix = sorted({i for j in members for i in cells[int(keys[j])]})
        groups.append(np.asarray(pix, np.int64))
    return groups


def _reach(radius: float) -> float:
    """How far (degrees) from its centre the panel of a cone of ``radius`` shows the sky:
    the corners of a gnomonic square, the rim of an orthographic disc."""
    half = min(radius * _ZOOM_MARGIN + 0.05, 89.0)
    if radius <= _GNOMONIC_MAX_RADIUS:
        return math.degrees(math.atan(math.sqrt(2) * math.tan(math.radians(half))))
    return half


def _merge_overlapping(
    groups: list[np.ndarray], cones: list[tuple[float, float, float]]
) -> list[np.ndarray] | None:
    """Groups with the first overlapping pair of panels merged, or None if none overlap."""
    vec = [_unit(np.radians(c[0]), np.radians(c[1])) for c in cones]
    for i in range(len(groups)):
        for j in range(i + 1, len(groups)):
            sep = math.degrees(math.acos(max(-1.0, min(1.0, float(vec[i] @ vec[j])))))
            ri, rj = cones[i][2], cones[j][2]
            if sep < max(_reach(ri) + rj, _reach(rj) + ri) + 1.0:
                rest = [g for k, g in enumerate(groups) if k not in (i, j)]
                return [np.concatenate([groups[i], groups[j]]), *rest]
    return None


def _unit(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    cl = np.cos(lat)
    return np.stack([cl * np.cos(lon), cl * np.sin(lon), np.sin(lat)], axis=-1)


def zoom_wcs(
    ra: float, dec: float, radius: float, npix: int = _ZOOM_PIXELS, *, whole_globe: bool = False
) -> Any:
    """A WCS centred on (ra, dec), north up, east (RA) to the left, whose square image holds
    the cone of ``radius`` degrees with a margin: gnomonic (TAN) for cones up to
    ``_GNOMONIC_MAX_RADIUS``, else orthographic (SIN, a globe; ``whole_globe``: the whole
    hemisphere, as a picture shows it)."""
    from astropy.wcs import WCS

    reach = math.radians(min(radius * _ZOOM_MARGIN + 0.05, 89.0))
    if radius <= _GNOMONIC_MAX_RADIUS:
        proj, half = "TAN", math.degrees(math.tan(reach))
    else:
        # a picture shows the whole hemisphere (its limb inside the frame); contours need
        # only the region's reach
        proj, half = "SIN", math.degrees(1.0 if whole_globe else math.sin(reach))
    w = WCS(naxis=2)
    w.wcs.ctype = [f"RA---{proj}", f"DEC--{proj}"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [(npix + 1) / 2.0, (npix + 1) / 2.0]
    w.wcs.cdelt = [-2.0 * half / npix, 2.0 * half / npix]
    w.wcs.radesys = "ICRS"
    w.array_shape = (npix, npix)
    return w


def zoom_grid(sm: SkyMap, wcs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-image-pixel density (deg^-2, NaN off the map) and credible level of a zoom WCS."""
    ny, nx = wcs.array_shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    ra, dec = wcs.pixel_to_world_values(xx.astype(float), yy.astype(float))
    ok = np.isfinite(ra) & np.isfinite(dec)  # off the globe of an orthographic panel
    rows = np.full(ra.shape, -1, np.int64)
    rows[ok] = np.asarray(sm.rows_at(np.mod(ra[ok], 360.0), np.clip(dec[ok], -90.0, 90.0)))
    rank = sm.ranking
    density = np.where(rows >= 0, sm.probdensity[rows], np.nan) / SQDEG_PER_SR
    level = np.where(rows >= 0, rank.searched_prob[rows], 1.0)
    return density.astype(np.float32), level


def no_zoom_reason(sm: SkyMap, p: float) -> str:
    """Why :func:`zoom_windows` gives no panel for the ``p`` credible region, in words."""
    rows, prob, ipix, nside = region_pixels(sm, p)
    pct = f"{100 * p:g}%"
    if rows.size == 0:
        return f"the {pct} region is empty"
    cone = _cone(prob, ipix, nside)
    parts = len(_parts(ipix, nside))
    shape = f"{parts} separate parts" if parts > 1 else "one part"
    if cone is None:
        return f"the {pct} region ({shape}) lies on opposite sides of the sky"
    limit = f"{_ZOOM_MAX_RADIUS:.0f}°"
    where = f"a cone of radius {cone[2]:.0f}° holds it,\nwider than a zoom shows ({limit})"
    if parts > _MAX_PANELS:
        return f"the {pct} region has {shape}\n(at most {_MAX_PANELS} panels); {where}"
    return f"the {pct} region ({shape}):\n{where}"
