"""The centre of one HEALPix pixel, as astropy-healpix's ``healpix_to_lonlat(order='nested')``
gives it, to the last bit (same formulas, in the same order, on the same C math library).

Pure Python (no numpy), so that ``gwalert parse`` can print a notice's most probable position
without importing numpy (``peek``). ``tests/test_healpix.py`` checks it against astropy-healpix
on every pixel of orders 0 to 7 and on random pixels up to order 29.
"""

from __future__ import annotations

import math

MAX_LEVEL = 29
_SQRT3 = math.sqrt(3)


def _nested_to_xy(ipix: int, nside: int) -> tuple[int, int, int]:
    npface = nside * nside
    face, index = divmod(ipix, npface)
    x = y = 0
    bit = 0
    while index:
        x |= (index & 1) << bit
        index >>= 1
        y |= (index & 1) << bit
        index >>= 1
        bit += 1
    return face, x, y


def pixel_center(level: int, ipix: int) -> tuple[float, float]:
    """Centre (RA, Dec) in degrees of nested pixel ``ipix`` at ``level`` (NSIDE = 2**level)."""
    level = int(level)
    ipix = int(ipix)
    nside = 1 << level
    if not 0 <= level <= MAX_LEVEL or not 0 <= ipix < 12 * nside * nside:
        raise ValueError(f"no HEALPix pixel {ipix} at level {level}")
    face, xp, yp = _nested_to_xy(ipix, nside)
    x = xp + 0.5
    y = yp + 0.5
    n = float(nside)
    pi = math.pi
    polar = (face <= 3 and x + y > n) or (face >= 8 and x + y < n)
    if not polar:
        x /= n
        y /= n
        if face <= 3:
            phioff, zoff, f = 1.0, 0.0, face
        elif face <= 7:
            phioff, zoff, f = 0.0, -1.0, face - 4
        else:
            phioff, zoff, f = 1.0, -2.0, face - 8
        z = 2.0 / 3.0 * (x + y + zoff)
        phi = pi / 4 * (x - y + phioff + 2 * f)
        rad = math.sqrt(1.0 - z * z)
    else:
        south = face >= 8
        if south:
            x, y = n - y, n - x
        if y == n and x == n:
            phi_t = 0.0
        else:
            phi_t = pi * (n - y) / (2.0 * ((n - x) + (n - y)))
        if phi_t < pi / 4.0:
            vv = abs(pi * (n - x) / ((2.0 * phi_t - pi) * n) / _SQRT3)
        else:
            vv = abs(pi * (n - y) / (2.0 * phi_t * n) / _SQRT3)
        z = (1 - vv) * (1 + vv)
        rad = math.sqrt(1.0 + z) * vv
        if south:
            z = -z
            phi = pi / 2.0 * (face - 8) + phi_t
        else:
            phi = pi / 2.0 * face + phi_t
    if phi < 0.0:
        phi += 2 * pi
    cx = rad * math.cos(phi)
    cy = rad * math.sin(phi)
    ra = math.atan2(cy, cx)
    if ra < 0:
        ra += 2.0 * pi
    if abs(z) > 0.9:
        # libm's hypot, as the C code calls it (math.hypot is computed differently; the
        # absolute value of a complex number is libm's hypot in CPython)
        dec = pi / 2.0 - math.atan2(abs(complex(cx, cy)), z)
    else:
        dec = math.asin(z)
    return ra * (180 / pi), dec * (180 / pi)
