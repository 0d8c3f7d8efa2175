"""Vectorised special functions and HEALPix look-ups in plain numpy.

numpy has no ``erf``, and scipy is not a dependency of gwalert (importing it would also slow the
command line down). ``erf`` here evaluates a degree-5 Taylor expansion about the nearest of a
table of nodes 1/128 apart; the coefficients come from ``math.erf`` and the Hermite-polynomial
derivatives of erf at import time (a few hundred scalar calls). The truncation error is below
1e-16, so the result agrees with ``scipy.special.erf`` to a few ulp
(``tests/test_skymap_analysis.py`` checks it).

``ang2pix_nested`` is HEALPix's ``ang2pix_nest`` (the z-phi algorithm of Górski et al. 2005),
vectorised; the test suite checks it against astropy-healpix and healpy on random points.

Sines and cosines of positions come from half-angle tangents (``sin_cos``, ``sin_cos_lat``):
numpy's float64 ``sin`` and ``cos`` are scalar libm calls (about 7 ns a value here) while its
``tan`` is vectorised (under 1 ns), and ``sin x = 2t / (1 + t^2)``, ``cos x = (1 - t)(1 + t) /
(1 + t^2)`` with ``t = tan(x/2)`` agree with them to about 2e-16 (the test suite checks it).
"""

from __future__ import annotations

import math

import numpy as np

_STEP = 128  # nodes per unit of x
_XMAX = 6.5  # erf(6.5) = 1 - 4e-20
_DEGREE = 5


def _taylor_table() -> np.ndarray:
    nodes = np.arange(int(_XMAX * _STEP) + 2) / _STEP
    table = np.empty((_DEGREE + 1, nodes.size))
    two_over_sqrtpi = 2 / math.sqrt(math.pi)
    for j, x in enumerate(nodes):
        x = float(x)
        g = two_over_sqrtpi * math.exp(-x * x)
        # erf^(k+1)(x) = 2/sqrt(pi) (-1)^k H_k(x) exp(-x^2), H_k the physicists' Hermite.
        h_prev, h = 0.0, 1.0
        table[0, j] = math.erf(x)
        fact = 1.0
        for k in range(_DEGREE):
            fact *= k + 1
            table[k + 1, j] = (-1) ** k * h * g / fact
            h_prev, h = h, 2 * x * h - 2 * k * h_prev
    return table


_TABLE = _taylor_table()
_SQRT1_2 = math.sqrt(0.5)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def erf(x: np.ndarray | float) -> np.ndarray:
    """The error function, elementwise (absolute error below 1e-15)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.copysign(_erf_of_abs(np.fmin(np.abs(x), _XMAX)), x)  # NaN -> erf(6.5)
    with np.errstate(invalid="ignore"):
        has_nan = np.isnan(np.sum(x))  # NaN in (or +inf and -inf: harmless)
    if has_nan:
        out = np.where(np.isnan(x), np.nan, out)
    return out


def erf_nonneg(x: np.ndarray) -> np.ndarray:
    """``erf`` of a float64 array of values >= 0 without NaN (no sign or NaN handling)."""
    return _erf_of_abs(np.fmin(x, _XMAX))


def _erf_of_abs(ax: np.ndarray) -> np.ndarray:
    """erf on [0, _XMAX] (erf(6.5) is 1 to double precision): Taylor series about the
    nearest node."""
    node = np.rint(ax * _STEP)
    d = ax - node * (1.0 / _STEP)
    idx = node.astype(np.intp)
    acc = _TABLE[_DEGREE].take(idx)
    for k in range(_DEGREE - 1, -1, -1):
        acc *= d
        acc += _TABLE[k].take(idx)
    return acc


_CX_STEP = 128
_CX_XMAX = 26.0
_CX_DEGREE = 5


def _erfcx_table() -> np.ndarray:
    """Taylor coefficients of erfcx(x) = exp(x^2) erfc(x) at nodes 1/128 apart on [0, 26]."""
    nodes = np.arange(int(_CX_XMAX * _CX_STEP) + 2) / _CX_STEP
    table = np.empty((_CX_DEGREE + 1, nodes.size))
    c = 2 / math.sqrt(math.pi)
    for j, x in enumerate(nodes):
        x = float(x)
        y = math.erfc(x) * math.exp(x * x) if x < 26.5 else _erfcx_asymptotic(x)
        # y' = 2 x y - 2/sqrt(pi); y^(k+1) = 2 x y^(k) + 2 k y^(k-1).
        derivs = [y, 2 * x * y - c]
        for k in range(1, _CX_DEGREE):
            derivs.append(2 * x * derivs[k] + 2 * k * derivs[k - 1])
        fact = 1.0
        for k in range(_CX_DEGREE + 1):
            fact *= max(k, 1)
            table[k, j] = derivs[k] / fact
    return table


def _erfcx_asymptotic(x):
    """erfcx for x >= 26: five terms of the asymptotic series (relative error < 1e-13)."""
    z = 1.0 / (2.0 * x * x)
    series = 1 - z * (1 - 3 * z * (1 - 5 * z * (1 - 7 * z * (1 - 9 * z))))
    return series / (x * math.sqrt(math.pi))


_CX_TABLE = _erfcx_table()


def erfcx(x: np.ndarray | float) -> np.ndarray:
    """Scaled complementary error function exp(x^2) erfc(x) for x >= 0 (relative error below
    1e-13); negative inputs are refused."""
    x = np.asarray(x, dtype=np.float64)
    if np.any(x < 0):
        raise ValueError("erfcx is implemented for x >= 0 only")
    xc = np.fmin(x, _CX_XMAX)
    idx = np.rint(xc * _CX_STEP).astype(np.intp)
    d = xc - idx * (1.0 / _CX_STEP)
    acc = _CX_TABLE[_CX_DEGREE].take(idx)
    for k in range(_CX_DEGREE - 1, -1, -1):
        acc *= d
        acc += _CX_TABLE[k].take(idx)
    big = x > _CX_XMAX
    if np.any(big):
        acc = np.where(big, _erfcx_asymptotic(np.where(big, x, _CX_XMAX)), acc)
    return np.where(np.isnan(x), np.nan, acc)


def mills_ratio(t: np.ndarray | float) -> np.ndarray:
    """Q(t) / phi(t) for t >= 0, Q the upper tail of the standard normal."""
    return math.sqrt(math.pi / 2) * erfcx(np.asarray(t, dtype=np.float64) * _SQRT1_2)


def norm_cdf(t: np.ndarray | float) -> np.ndarray:
    """Standard normal cumulative distribution Phi(t)."""
    return 0.5 * (1.0 + erf(np.asarray(t, dtype=np.float64) * _SQRT1_2))


def norm_pdf(t: np.ndarray | float) -> np.ndarray:
    """Standard normal density phi(t)."""
    t = np.asarray(t, dtype=np.float64)
    with np.errstate(over="ignore"):
        return _INV_SQRT_2PI * np.exp(-0.5 * t * t)


# ------------------------------------------------------------------------------ HEALPix
def _spread_byte_table() -> np.ndarray:
    out = np.zeros(256, np.int64)
    for v in range(256):
        out[v] = sum(((v >> i) & 1) << (2 * i) for i in range(8))
    return out


_SPREAD = _spread_byte_table()


def _spread_bits(v: np.ndarray, nbits: int) -> np.ndarray:
    """Put bit i of ``v`` (below 2**nbits, nbits <= 32) at bit 2i, a byte at a time."""
    out = _SPREAD.take(v & 255)
    for shift in range(8, nbits, 8):
        out |= _SPREAD.take((v >> shift) & 255) << (2 * shift)
    return out


def sin_cos(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sin x, cos x) of any finite angles in radians, from t = tan(x/2) (see the module
    docstring); tan's period covers every x, and t near +-inf (x near +-pi) stays accurate."""
    t = np.tan(0.5 * x)
    inv = 1.0 / (1.0 + t * t)
    return 2.0 * t * inv, (1.0 - t) * (1.0 + t) * inv


def sin_cos_lat(lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sin, cos) of latitudes in radians (|lat| <= pi/2), each to a few ulp: the sine from
    tan(lat/2), the cosine as the sine of the colatitude (accurate near the poles too)."""
    t = np.tan(0.5 * lat)
    c = np.tan(0.5 * (0.5 * np.pi - np.abs(lat)))
    return 2.0 * t / (1.0 + t * t), 2.0 * c / (1.0 + c * c)


def ang2pix_nested(level: int, ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    """Nested pixel index at ``level`` (NSIDE = 2**level) of each (RA, Dec) in degrees."""
    ra = np.asarray(ra_deg, dtype=np.float64) * _RAD
    dec = np.asarray(dec_deg, dtype=np.float64) * _RAD
    shape = np.broadcast_shapes(ra.shape, dec.shape)
    ra = np.broadcast_to(ra, shape).ravel()
    dec = np.broadcast_to(dec, shape).ravel()
    z, cos_dec = sin_cos_lat(dec)
    return ang2pix_nested_rad(level, ra, z, cos_dec).reshape(shape)


_RAD = math.pi / 180  # what np.radians multiplies by


def ang2pix_nested_rad(level: int, ra: np.ndarray, z: np.ndarray,
                       cos_dec: np.ndarray) -> np.ndarray:
    """``ang2pix_nested`` from RA in radians, z = sin(Dec) and cos(Dec) (1-D arrays): callers
    that already hold these trigonometric values do not pay for them twice."""
    nside = 1 << int(level)
    tt = ra * (2 / np.pi)
    tt -= 4.0 * np.floor(0.25 * tt)  # in [0, 4] (HEALPix's fmodulo(phi / (pi/2), 4))
    tt[tt >= 4.0] = 0.0
    pix = np.empty(z.shape, np.int64)
    polar = np.abs(z) > 2.0 / 3.0

    eq = np.flatnonzero(~polar)  # equatorial belt
    if eq.size:
        temp1 = nside * (0.5 + tt[eq])
        temp2 = nside * (z[eq] * 0.75)
        jp = (temp1 - temp2).astype(np.int64)  # ascending edge line
        jm = (temp1 + temp2).astype(np.int64)  # descending edge line
        ifp = jp >> level
        ifm = jm >> level
        face = np.where(ifp == ifm, ifp | 4, np.where(ifp < ifm, ifp, ifm + 8))
        pix[eq] = _nested(level, face, jm & (nside - 1), nside - (jp & (nside - 1)) - 1)

    pol = np.flatnonzero(polar)  # polar caps
    if pol.size:
        zp = z[pol]
        tp_all = tt[pol]
        ntt = np.minimum(tp_all.astype(np.int64), 3)
        tp = tp_all - ntt
        # nside sqrt(3 (1 - |z|)), as 3 cos^2(dec) / (1 + |z|) to keep precision at the poles.
        tmp = nside * cos_dec[pol] * np.sqrt(3.0 / (1.0 + np.abs(zp)))
        jp = np.minimum((tp * tmp).astype(np.int64), nside - 1)
        jm = np.minimum(((1.0 - tp) * tmp).astype(np.int64), nside - 1)
        north = zp >= 0
        pix[pol] = _nested(level, np.where(north, ntt, ntt + 8),
                           np.where(north, nside - jm - 1, jp),
                           np.where(north, nside - jp - 1, jm))
    return pix


def _nested(level: int, face: np.ndarray, ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
    """Nested index of the pixel at (ix, iy) in base pixel ``face``."""
    return (face << (2 * level)) + (_spread_bits(ix, level) | (_spread_bits(iy, level) << 1))


def _compact_bits(v: np.ndarray) -> np.ndarray:
    """Inverse of bit spreading: bit 2i of ``v`` goes to bit i."""
    v = v & 0x5555555555555555
    v = (v | (v >> 1)) & 0x3333333333333333
    v = (v | (v >> 2)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v >> 4)) & 0x00FF00FF00FF00FF
    v = (v | (v >> 8)) & 0x0000FFFF0000FFFF
    v = (v | (v >> 16)) & 0x00000000FFFFFFFF
    return v


def pixel_vectors(level: np.ndarray | int, ipix: np.ndarray, dx: float = 0.5,
                  dy: float = 0.5) -> np.ndarray:
    """Unit vectors (n, 3) of the points at fractional position (dx, dy) inside nested pixels
    (0.5, 0.5 is the centre; corners at 0 or 1): astropy-healpix's ``healpix_to_xyz`` with
    offsets, vectorised over pixels of mixed levels, in numpy."""
    ipix = np.asarray(ipix, dtype=np.int64)
    level = np.broadcast_to(np.asarray(level, dtype=np.int64), ipix.shape)
    n = np.left_shift(1, level).astype(np.float64)
    face = ipix >> (2 * level)
    sub = ipix - (face << (2 * level))
    x = _compact_bits(sub).astype(np.float64) + dx
    y = _compact_bits(sub >> 1).astype(np.float64) + dy
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
            phi_t = np.where(denom > 0, np.pi * (npix - ys) / np.where(denom > 0, denom, 1.0),
                             0.0)
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


_SQRT3 = math.sqrt(3.0)
