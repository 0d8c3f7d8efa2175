"""Field-of-view shapes: where a telescope pointed at (RA, Dec) sees the sky.

A footprint is described in the pointing's standard coordinates (xi, eta), in degrees: the
gnomonic (tangent-plane) projection about the pointing, xi towards increasing RA (east) and eta
towards the north celestial pole, scaled so that one degree of xi near the centre is one degree
on the sky (xi = degrees(tan-plane x)). Straight lines in this plane are great circles on the sky,
so a polygon's edges are great-circle arcs. A footprint is a circle of angular radius R, or a
union of convex polygons (a camera's chips, or one square).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

import numpy as np

from ..errors import GwalertError


@dataclass(frozen=True)
class Footprint:
    """A circle (``radius`` degrees) or a union of convex polygons (``polygons``: each an
    (n, 2) array of (xi, eta) vertices in degrees, counter-clockwise)."""

    name: str
    radius: float | None = None
    polygons: tuple[np.ndarray, ...] = ()

    @property
    def is_circle(self) -> bool:
        return self.radius is not None

    @property
    def circumradius(self) -> float:
        """Largest angle (degrees) from the pointing to any point of the footprint."""
        if self.radius is not None:
            return self.radius
        t = max(float(np.max(np.hypot(p[:, 0], p[:, 1]))) for p in self.polygons)
        return math.degrees(math.atan(math.radians(t)))

    @property
    def extent(self) -> tuple[float, float]:
        """(width, height) in degrees of the footprint's bounding box around the pointing,
        symmetric about it (what a tiling grid steps by)."""
        if self.radius is not None:
            return 2 * self.radius, 2 * self.radius
        xi = max(float(np.max(np.abs(p[:, 0]))) for p in self.polygons)
        eta = max(float(np.max(np.abs(p[:, 1]))) for p in self.polygons)
        return (
            2 * math.degrees(math.atan(math.radians(xi))),
            2 * math.degrees(math.atan(math.radians(eta))),
        )

    @property
    def area(self) -> float:
        """Solid angle in deg² (chips assumed not to overlap)."""
        if self.radius is not None:
            return 2 * math.pi * (1 - math.cos(math.radians(self.radius))) * (180 / math.pi) ** 2
        total = 0.0
        for p in self.polygons:
            v = _plane_to_vectors(p)
            total += _spherical_polygon_area(v)
        return total * (180 / math.pi) ** 2

    def local_vertices(self) -> list[np.ndarray]:
        """Unit vectors (n, 3) of each polygon's vertices in the pointing's frame (x east,
        y north, z the pointing)."""
        return [_plane_to_vectors(p) for p in self.polygons]


def _plane_to_vectors(p: np.ndarray) -> np.ndarray:
    t = np.radians(p)  # plane coordinates (tan units)
    v = np.column_stack([t[:, 0], t[:, 1], np.ones(len(t))])
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _spherical_polygon_area(v: np.ndarray) -> float:
    """Area (sr) of a convex spherical polygon from its vertex unit vectors (fan of triangles,
    each by the Van Oosterom-Strackee formula)."""
    total = 0.0
    a = v[0]
    for i in range(1, len(v) - 1):
        b, c = v[i], v[i + 1]
        num = float(np.dot(a, np.cross(b, c)))
        den = 1 + float(np.dot(a, b) + np.dot(b, c) + np.dot(c, a))
        total += 2 * math.atan2(abs(num), den)
    return total


def _check_size(what: str, value: float) -> None:
    if not (math.isfinite(value) and 0 < value < 180):
        raise GwalertError(f"{what} {value:g}: a field of view must be between 0 and 180 degrees")


def rectangle(width: float, height: float) -> Footprint:
    """A gnomonic rectangle centred on the pointing, sides along RA and Dec at the centre;
    ``width`` and ``height`` are the angles (degrees) between opposite sides through the
    centre."""
    _check_size("--fov", width)
    _check_size("--fov", height)
    if width >= 179 or height >= 179:
        raise GwalertError(
            f"--fov {width:g}x{height:g}: a rectangular field must be under 179 degrees a side"
        )
    x = math.degrees(math.tan(math.radians(width / 2)))
    y = math.degrees(math.tan(math.radians(height / 2)))
    poly = np.array([[-x, -y], [x, -y], [x, y], [-x, y]], float)
    name = f"{width:g}°" if width == height else f"{width:g}°×{height:g}°"
    return Footprint(
        name=f"square {name}" if width == height else f"rectangle {name}", polygons=(poly,)
    )


def circle(radius: float) -> Footprint:
    _check_size("--fov-radius", radius)
    if radius >= 90:
        raise GwalertError(f"--fov-radius {radius:g}: a circular field must be under 90 degrees")
    return Footprint(name=f"circle r={radius:g}°", radius=float(radius))


def parse_fov(text: str) -> Footprint:
    """``SIDE`` (a square) or ``WxH`` in degrees."""
    m = re.fullmatch(r"\s*([^xX×*]+?)\s*(?:[xX×*]\s*([^xX×*]+?))?\s*", text)
    try:
        if not m:
            raise ValueError
        w = float(m.group(1))
        h = float(m.group(2)) if m.group(2) else w
    except ValueError:
        raise GwalertError(f"--fov {text}: expected SIDE or WIDTHxHEIGHT in degrees") from None
    return rectangle(w, h)


def polygons(polys: list[np.ndarray], name: str = "footprint") -> Footprint:
    """A footprint from polygons of (xi, eta) vertices (degrees); each must be convex and have
    a non-zero area; the orientation is made counter-clockwise."""
    out = []
    for k, p in enumerate(polys, 1):
        p = np.asarray(p, float)
        where = f"{name}: polygon {k}"
        if p.ndim != 2 or p.shape[1] != 2 or len(p) < 3:
            raise GwalertError(f"{where}: needs at least three (xi, eta) vertices")
        if not np.all(np.isfinite(p)):
            raise GwalertError(f"{where}: a vertex is not a finite number")
        if np.max(np.hypot(p[:, 0], p[:, 1])) >= 5000:  # tan(89.99°) in degrees
            raise GwalertError(f"{where}: vertices must lie within 89° of the pointing")
        # repeated vertices (e.g. the first one again at the end) add nothing
        scale = max(1.0, float(np.max(np.abs(p))))
        step = np.hypot(*(p - np.roll(p, 1, axis=0)).T)
        p = p[step > 1e-9 * scale]
        if len(p) < 3:
            raise GwalertError(f"{where}: needs at least three distinct vertices")
        x, y = p[:, 0], p[:, 1]
        cross = (np.roll(x, -1) - x) * (np.roll(y, -2) - np.roll(y, -1)) - (np.roll(y, -1) - y) * (
            np.roll(x, -2) - np.roll(x, -1)
        )
        twice_area = float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))
        if abs(twice_area) < 1e-12:
            raise GwalertError(f"{where}: has no area")
        sign = 1.0 if twice_area > 0 else -1.0
        if np.any(cross * sign < -1e-12 * max(1.0, float(np.max(np.abs(p))) ** 2)):
            raise GwalertError(f"{where}: is not convex (split it into convex chips)")
        out.append(p if sign > 0 else p[::-1].copy())
    if not out:
        raise GwalertError(f"{name}: no polygon")
    return Footprint(name=name, polygons=tuple(out))


def read_footprint(path: str | os.PathLike) -> Footprint:
    """A footprint file: one vertex per line, ``xi eta`` in degrees (spaces or a comma);
    polygons (chips) separated by blank lines; ``#`` starts a comment."""
    name = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read(1_000_001)
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or "not a text file"
        raise GwalertError(f"--footprint {name}: {why}") from None
    if len(text) > 1_000_000:
        raise GwalertError(f"--footprint {name}: larger than 1 MB")
    polys: list[list[tuple[float, float]]] = [[]]
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            if polys[-1]:
                polys.append([])
            continue
        parts = [t for t in re.split(r"[,\s]+", line) if t]
        try:
            if len(parts) != 2:
                raise ValueError
            polys[-1].append((float(parts[0]), float(parts[1])))
        except ValueError:
            raise GwalertError(
                f"--footprint {name}: line {n}: expected two numbers (xi eta), got {line[:40]!r}"
            ) from None
    polys = [p for p in polys if p]
    if not polys:
        raise GwalertError(f"--footprint {name}: no vertices (expected 'xi eta' lines)")
    return polygons([np.array(p) for p in polys], name=f"--footprint {name}")
