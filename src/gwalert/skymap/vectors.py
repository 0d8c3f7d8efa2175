"""Unit vectors of positions and of points inside nested HEALPix pixels, in numpy.

``pixel_vectors`` is astropy-healpix's ``healpix_to_xyz`` with offsets inside the pixel,
vectorised over pixels of mixed levels (``tests/test_skymap_analysis.py`` checks it against
astropy-healpix); the field and coverage geometry of ``fields`` and ``plan`` works on these.
"""

from __future__ import annotations

import math

import numpy as np

from .healpix import compact_bits

_SQRT3 = math.sqrt(3)


def unit_vectors(ra_deg: np.ndarray | float, dec_deg: np.ndarray | float) -> np.ndarray:
    """Unit vectors (..., 3) of positions given as RA and Dec in degrees."""
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    cd = np.cos(dec)
    return np.stack([cd * np.cos(ra), cd * np.sin(ra), np.sin(dec)], axis=-1)


def pixel_vectors(
    level: np.ndarray | int, ipix: np.ndarray, dx: float = 0.5, dy: float = 0.5
) -> np.ndarray:
    """Unit vectors (n, 3) of the points at fractional position (dx, dy) inside nested pixels
    (0.5, 0.5 is the centre; corners at 0 or 1): astropy-healpix's ``healpix_to_xyz`` with
    offsets, vectorised over pixels of mixed levels, in numpy."""
    ipix = np.asarray(ipix, dtype=np.int64)
    level = np.broadcast_to(np.asarray(level, dtype=np.int64), ipix.shape)
    n = np.left_shift(1, level).astype(np.float64)
    face = ipix >> (2 * level)
    sub = ipix - (face << (2 * level))
    x = compact_bits(sub).astype(np.float64) + dx
    y = compact_bits(sub >> 1).astype(np.float64) + dy
    polar = ((face <= 3) & (x + y > n)) | ((face >= 8) & (x + y < n))

    # Equatorial zone and the equatorial parts of the polar faces.
    xe, ye = x / n, y / n
    f = face % 4
    phioff = np.where((face >= 4) & (face <= 7), 0.0, 1.0)
    zoff = np.where(face <= 3, 0.0, np.where(face <= 7, -1.0, -2.0))
    z = 2.0 / 3.0 * (xe + ye + zoff)
    phi = np.pi / 4 * (xe - ye + phioff + 2 * f)
    rad = np.sqrt(np.maximum(1.0 - z * z, 0.0))

    if np.any(polar):
        p = np.flatnonzero(polar)
        south = face[p] >= 8
        xp, yp, npix = x[p], y[p], n[p]
        xs = np.where(south, npix - yp, xp)
        ys = np.where(south, npix - xp, yp)
        denom = 2.0 * ((npix - xs) + (npix - ys))
        with np.errstate(divide="ignore", invalid="ignore"):
            phi_t = np.where(denom > 0, np.pi * (npix - ys) / np.where(denom > 0, denom, 1.0), 0.0)
            vv_lo = np.abs(np.pi * (npix - xs) / ((2.0 * phi_t - np.pi) * npix) / _SQRT3)
            vv_hi = np.abs(np.pi * (npix - ys) / (2.0 * phi_t * npix) / _SQRT3)
        vv = np.where(phi_t < np.pi / 4, vv_lo, vv_hi)
        vv = np.where(np.isfinite(vv), vv, 0.0)
        zp = (1 - vv) * (1 + vv)
        radp = np.sqrt(1.0 + zp) * vv
        z[p] = np.where(south, -zp, zp)
        rad[p] = radp
        phi[p] = np.where(south, np.pi / 2 * (face[p] - 8), np.pi / 2 * face[p]) + phi_t
    return np.stack([rad * np.cos(phi), rad * np.sin(phi), z], axis=-1)
