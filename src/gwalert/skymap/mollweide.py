"""The Mollweide projection of the all-sky picture (RA = 180° in the middle, growing to the
left as on the sky) and what is drawn on it besides the map: graticule and Galactic plane."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

SQRT2 = math.sqrt(2.0)
_SQRT2 = SQRT2


def mollweide_inverse(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(RA, Dec) in degrees of projected points, and a mask of points on the sphere."""
    theta = np.arcsin(np.clip(y / _SQRT2, -1, 1))
    lat = np.arcsin(np.clip((2 * theta + np.sin(2 * theta)) / math.pi, -1, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        lon = math.pi * x / (2 * _SQRT2 * np.cos(theta))
    inside = np.abs(lon) <= math.pi
    return (180.0 - np.degrees(np.where(inside, lon, 0.0))) % 360.0, np.degrees(lat), inside


def mollweide(ra_deg: Any, dec_deg: Any) -> tuple[np.ndarray, np.ndarray]:
    """Projected (x, y) of (RA, Dec) in degrees, RA = 180° in the middle growing left."""
    lon = np.radians(180.0 - np.asarray(ra_deg, float))
    lat = np.radians(np.asarray(dec_deg, float))
    theta = lat.copy()
    target = math.pi * np.sin(lat)
    for _ in range(30):  # Newton on 2 theta + sin 2 theta = pi sin(lat)
        f = 2 * theta + np.sin(2 * theta) - target
        d = 2 + 2 * np.cos(2 * theta)
        theta = np.where(d > 1e-12, theta - f / np.where(d > 1e-12, d, 1.0), theta)
    return 2 * _SQRT2 / math.pi * lon * np.cos(theta), _SQRT2 * np.sin(theta)


def galactic_plane_radec(n: int = 721) -> tuple[np.ndarray, np.ndarray]:
    """RA, Dec (degrees, ICRS) along Galactic latitude 0 (computed once per process and
    ``n``; read-only arrays)."""
    return _galactic_plane(n)


@functools.lru_cache(maxsize=4)
def _galactic_plane(n: int) -> tuple[np.ndarray, np.ndarray]:
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    c = SkyCoord(l=np.linspace(0, 360, n) * u.deg, b=np.zeros(n) * u.deg, frame="galactic")
    icrs = c.icrs
    ra, dec = np.array(icrs.ra.deg), np.array(icrs.dec.deg)
    ra.flags.writeable = False
    dec.flags.writeable = False
    return ra, dec


def draw_galactic_plane(ax: Any) -> None:
    x, y = _galactic_plane_xy()
    ax.plot(x, y, color="#bf5af2", linestyle="dotted", linewidth=1.4)


@functools.lru_cache(maxsize=1)
def _galactic_plane_xy() -> tuple[np.ndarray, np.ndarray]:
    """The Galactic plane in Mollweide coordinates, broken (NaN) where it crosses the edge."""
    x, y = mollweide(*galactic_plane_radec())
    jump = np.flatnonzero(np.abs(np.diff(x)) > 1.0) + 1  # the line crosses the map's edge
    x = np.insert(x, jump, np.nan)
    y = np.insert(y, jump, np.nan)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def draw_graticule(ax: Any) -> None:
    style = {"color": "white", "alpha": 0.35, "linewidth": 0.6}
    dec = np.linspace(-90, 90, 181)
    for ra in range(0, 360, 30):
        x, y = mollweide(np.full(dec.size, float(ra)), dec)
        ax.plot(x, y, **style)
    ras = np.linspace(0, 360, 361)
    for d in range(-60, 61, 30):
        x, y = mollweide(ras, np.full(ras.size, float(d)))
        ax.plot(x, y, **style)
        lx, ly = mollweide(359.999, d)
        ax.text(float(lx) - 0.05, float(ly), f"{d:+d}°", ha="right", va="center", fontsize=9)
    for ra_t in range(30, 360, 30):
        x, y = mollweide(ra_t, 0.0)
        ax.text(
            float(x),
            float(y) + 0.03,
            f"{ra_t // 15}h",
            ha="center",
            va="bottom",
            color="white",
            fontsize=9,
        )
