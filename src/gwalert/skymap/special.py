"""Vectorised special functions in plain numpy (erf, erfcx, normal law, fast sines).

numpy has no ``erf``, and scipy's (a dependency, for ``gwalert plan``) would cost the command
line and the listener its import (about 0.2 s) and is no faster on these arrays. ``erf`` here
evaluates a degree-5 Taylor expansion about the nearest of a table of nodes 1/128 apart; the
coefficients come from ``math.erf`` and the Hermite-polynomial derivatives of erf at import time
(a few hundred scalar calls). The truncation error is below 1e-16, so the result agrees with
``scipy.special.erf`` to a few ulp
(``tests/test_skymap_analysis.py`` checks it). ``erf_fast_nonneg`` (for the 3-D levels of many
targets, where 1e-11 is invisible) is a cubic per interval of 1/256, indexed by truncation:
4e-12, in about half the array passes (``tests/test_volume_fast.py`` checks it over its domain).

Sines and cosines of declinations come from one half-angle tangent (``sin_cos_dec``, the
look-up's and the crossmatch's): numpy's float64 ``sin`` and ``cos`` are scalar libm calls (about
7 ns a value here) while its ``tan`` is vectorised (under 1 ns); with ``t = tan(x/2)``,
``sin x = 2t / (1 + t^2)`` and ``cos x = (1 - t^2) / (1 + t^2)`` are within 4e-16 absolute (not
relatively near the poles), checked against long double.
"""

from __future__ import annotations

import math

import numpy as np

_STEP = 128  # nodes per unit of x
_XMAX = 6.5  # erf(6.5) = 1 - 4e-20
_DEGREE = 5


def _taylor_table(nodes: np.ndarray, degree: int) -> np.ndarray:
    """Taylor coefficients (row k: erf^(k)(node) / k!) of erf at ``nodes``: erf itself from
    ``math.erf``, the derivatives vectorised over the nodes."""
    table = np.empty((degree + 1, nodes.size))
    g = (2 / math.sqrt(math.pi)) * np.exp(-nodes * nodes)
    # erf^(k+1)(x) = 2/sqrt(pi) (-1)^k H_k(x) exp(-x^2), H_k the physicists' Hermite.
    h_prev, h = np.zeros(nodes.size), np.ones(nodes.size)
    table[0] = [math.erf(x) for x in nodes.tolist()]
    fact = 1.0
    for k in range(degree):
        fact *= k + 1
        table[k + 1] = (-1) ** k * h * g / fact
        h_prev, h = h, 2 * nodes * h - 2 * k * h_prev
    return table


_TABLE = _taylor_table(np.arange(int(_XMAX * _STEP) + 2) / _STEP, _DEGREE)
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


_FAST_STEP = 256  # intervals per unit of x
_FAST_DEGREE = 3
#: bound on |erf_fast_nonneg(x) - erf(x)| (the Taylor remainder is 2.7e-12; the tests check it)
FAST_ERF_ERROR = 4e-12


def _fast_table() -> np.ndarray:
    """Row k: the coefficient of d^k of the cubic that is erf on interval i, in that interval's
    coordinate ``d = x * _FAST_STEP - i`` (0 <= d < 1): the Taylor cubic about the interval's
    midpoint (remainder erf''''/24 (1/512)^4 < 2.7e-12) re-expanded in powers of d, so that
    the evaluation needs no midpoint (index by truncation)."""
    n = int(_XMAX * _FAST_STEP) + 1  # the last interval starts at _XMAX, where erf is 1
    taylor = _taylor_table((np.arange(n) + 0.5) / _FAST_STEP, _FAST_DEGREE)
    out = np.zeros_like(taylor)
    for k in range(_FAST_DEGREE + 1):  # t_k (x - mid)^k = t_k / STEP^k (d - 1/2)^k
        a = taylor[k] / float(_FAST_STEP) ** k
        for j in range(k + 1):
            out[j] += a * (math.comb(k, j) * (-0.5) ** (k - j))
    # The first interval: the Taylor cubic about 0 (erf is odd: remainder erf^(5)/120 x^5 <
    # 1e-13 there), so that erf(0) is 0 exactly (rows at their peak add nothing).
    out[:, 0] = _taylor_table(np.zeros(1), _FAST_DEGREE)[:, 0] / float(_FAST_STEP) ** np.arange(4)
    return out


_FAST_TABLE = _fast_table()
_FAST_TMAX = _XMAX * _FAST_STEP  # the start of the last interval


def erf_fast_nonneg(x: np.ndarray, xmax: float = math.inf) -> np.ndarray:
    """erf of a float64 array (any shape) of values >= 0 without NaN, to ``FAST_ERF_ERROR``
    absolute: a cubic per interval of 1/256 (four table reads, three multiply-adds), about
    half the passes of ``erf_nonneg`` (use ``erf`` where full precision matters). ``xmax`` is
    an upper bound on ``x`` known to the caller: below ``_XMAX`` no clamp is needed."""
    if xmax < _XMAX:
        t = x * _FAST_STEP
    else:
        with np.errstate(over="ignore"):  # huge x: inf, clamped
            t = x * _FAST_STEP
        np.minimum(t, _FAST_TMAX, out=t)
    idx = t.astype(np.intp)
    tmp = np.trunc(t)
    d = np.subtract(t, tmp, out=t)  # 0 <= d < 1
    c = _FAST_TABLE
    # mode="wrap": the indices are in range (skips numpy's bounds check, 25% of a take)
    acc = c[_FAST_DEGREE].take(idx, mode="wrap")
    for k in range(_FAST_DEGREE - 1, -1, -1):
        acc *= d
        acc += c[k].take(idx, mode="wrap", out=tmp)
    return acc


_CX_STEP = 128
_CX_XMAX = 26.0
_CX_DEGREE = 5


def _erfcx_table() -> np.ndarray:
    """Taylor coefficients of erfcx(x) = exp(x^2) erfc(x) at nodes 1/128 apart on [0, 26]."""
    nodes = np.arange(int(_CX_XMAX * _CX_STEP) + 2) / _CX_STEP
    table = np.empty((_CX_DEGREE + 1, nodes.size))
    c = 2 / math.sqrt(math.pi)
    y = np.array(
        [
            math.erfc(x) * math.exp(x * x) if x < 26.5 else _erfcx_asymptotic(x)
            for x in nodes.tolist()
        ]
    )
    # y' = 2 x y - 2/sqrt(pi); y^(k+1) = 2 x y^(k) + 2 k y^(k-1).
    derivs = [y, 2 * nodes * y - c]
    for k in range(1, _CX_DEGREE):
        derivs.append(2 * nodes * derivs[k] + 2 * k * derivs[k - 1])
    fact = 1.0
    for k in range(_CX_DEGREE + 1):
        fact *= max(k, 1)
        table[k] = derivs[k] / fact
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


_HALF_RAD = 0.5 * math.pi / 180  # half of what np.radians multiplies by (exactly)


def sin_cos_dec(dec_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sin, cos) of declinations in degrees from one tangent, t = tan(Dec / 2):
    ``2t / (1 + t^2)`` and ``(1 - t^2) / (1 + t^2)``, each within 4e-16 of the exact value
    (absolute: near the poles the cosine is not relatively accurate; that is what positions on
    the sphere need, the look-up's edge tolerance and the offsets' precision
    included). The test suite checks the bound."""
    t = dec_deg * _HALF_RAD
    np.tan(t, out=t)
    t2 = t * t
    den = t2 + 1.0
    t += t
    np.divide(t, den, out=t)
    np.subtract(1.0, t2, out=t2)
    np.divide(t2, den, out=t2)
    return t, t2
