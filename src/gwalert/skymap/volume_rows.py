"""The rows' exact closed forms for the 3-D credible regions (see ``volume``): per-row
constants, and P, V and dV/du of the region ``ln rho >= u`` summed over a block of rows at a
block of thresholds.

Main rows (``mu >= 0``), in units of the row's sigma: with ``x = mu / sigma``,
``q = ln(c / rho) >= 0`` and ``s = sqrt(2 q)``, the row's part of the region is
``t = (r - mu) / sigma`` in ``[-m, s]``, ``m = min(s, x)`` (the interval is clipped at r = 0
once ``s > x``). With ``W = D A DISTNORM sigma^2`` and ``phi`` the normal density,

    P / W = (x^2 + 1) (Phi(s) - Phi(-m)) - (2x + s) phi(s) + (2x - m) phi(m)
    V / (A sigma^3) = ((x + s)^3 - (x - m)^3) / 3,    dV/du = -A sigma^3 ((x+s)^2 + (x-m)^2) / s

(``ds/du = -1/s``; ``x - m`` is 0 on clipped rows). Per element this takes one square root,
one erf and one exp; as erf and exp(-t^2/2) are monotonic, ``erf(m / sqrt 2)`` and
``phi(m)`` are the smaller of erf(s / sqrt 2), erf(x / sqrt 2) and the larger of phi(s),
phi(x) (the row's constants): no per-element choice. The code works in units of
``r = sqrt(q) = s / sqrt 2`` (the row constants carry the powers of sqrt 2). The difference
of cubes is written as ``(s + m)(t1^2 + t1 t2 + t2^2)``: no cancellation.

Rows more than ``FAR`` above every threshold of a block hold their whole probability there
(all but 3e-17 of it): only their volume is computed, as the clipped cube ``(x + s)^3``
(s > 7 there) less ``(x - s)^3`` for the few rows with ``x > 7`` still unclipped (little
cancellation at s > 7). ``FAR_FAST`` (e^25: all but 8e-11 of a row's probability, the worst
case being mu = 0; ``tests/test_volume_fast.py`` checks the bound from the normal law) is
used instead for many targets' levels, with ``special.erf_fast_nonneg`` (4e-12).

Rows with ``mu < 0`` peak at r = 0 and use the upper-tail form with Mills' ratio (see
``distance.neg_bracket``), which does not cancel.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .distance import neg_bracket, require_distance, usable_rows
from .special import erf_fast_nonneg, erf_nonneg

if TYPE_CHECKING:
    from .map import SkyMap

_INV_SQRT_2PI = 1.0 / math.sqrt(2 * math.pi)
_LN_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_SQRT2 = math.sqrt(2.0)
_SQRT1_2 = math.sqrt(0.5)
#: rows with ln(peak / rho) beyond this hold all their probability (all but 3e-17 of it)
FAR = 40.0
#: the same for many targets' levels: all but 8e-11 of it (tests/test_volume_rows.py)
FAR_FAST = 25.0

Group = dict[str, np.ndarray]


def row_groups(sm: SkyMap) -> tuple[Group, Group]:
    """(main, neg): the usable rows with ``mu >= 0`` and ``mu < 0``, each sorted by
    descending peak density, with their constants (``neg_peak``: minus ln peak density;
    ``row_total``: the row's probability; ``cum_total``: its prefix sums in the main group)."""
    mu, sigma, norm = require_distance(sm)
    good = usable_rows(sm)
    area = sm.pixel_area
    dens = sm.probdensity
    with np.errstate(all="ignore"):
        nonneg = mu >= 0
        m = _group(good & nonneg, dens, mu, sigma, norm, area, False)
        n = _group(good & ~nonneg, dens, mu, sigma, norm, area, True)
        x = n["mu"] / n["sigma"]
        n["x"] = x
        n["bracket0"] = neg_bracket(x, -x)
        n["total"] = np.exp(
            np.log(n["weight"])
            + 2 * np.log(n["sigma"])
            - 0.5 * x * x
            - _LN_SQRT_2PI
            + np.log(n["bracket0"])
        )
        n["row_total"] = n["total"]
        w, sigma_m = m.pop("weight"), m["sigma"]
        x = m["mu"] / sigma_m  # >= 0
        big_w = w * sigma_m * sigma_m
        erf_x = erf_nonneg(x * _SQRT1_2)  # Phi(x) - Phi(-x)
        phi_x = _INV_SQRT_2PI * np.exp(-0.5 * x * x)
        # (x^2 + 1) Phi(x) + x phi(x): the whole row (s -> inf, m = x)
        row_total = big_w * ((x * x + 1) * 0.5 * (1 + erf_x) + x * phi_x)
        m["x"] = x
        m["xr"] = x * _SQRT1_2  # rows with sqrt(q) > xr are clipped
        m["erf_x"] = erf_x
        m["ph_x"] = np.exp(-0.5 * x * x)  # exp(-q) at s = x
        m["cE"] = 0.5 * big_w * (x * x + 1)  # times (erf(s) + erf(m)) (standardised halves)
        m["cPh"] = 2 * x * big_w * _INV_SQRT_2PI  # times (exp(-m^2/2) - exp(-q))
        m["cSr"] = big_w / math.sqrt(math.pi)  # times (r exp(-q) + mr exp(-mr^2))
        a_sig3 = m["area"] * sigma_m**3
        # in units of r = s / sqrt(2): (x + s)^3 = 2 sqrt(2) (xr + r)^3, (x + s)^2 / s = ...
        m["B3r"] = a_sig3 * (2 * _SQRT2 / 3)
        m["Br"] = a_sig3 * _SQRT2
        m["wide"] = np.flatnonzero(m["xr"] > math.sqrt(FAR_FAST))  # see _far_volume
        m["cum_total"] = np.concatenate([[0.0], np.cumsum(row_total)])
        m["row_total"] = row_total
    return m, n


def _group(sel, dens, mu, sigma, norm, area, negative: bool) -> Group:
    idx = np.flatnonzero(sel)
    d, s, nm = dens[idx], sigma[idx], norm[idx]
    lnc = np.log(d) + np.log(nm) - np.log(s) - _LN_SQRT_2PI
    if negative:  # the peak is at r = 0
        x = mu[idx] / s
        peak = lnc - 0.5 * x * x
    else:  # the peak is at r = mu
        peak = lnc
    # Descending peak; the order among equal peaks only changes rounding of the sums.
    order = np.argsort(peak)[::-1]
    idx = idx[order]
    s, a = s[order], area[idx]
    return {
        "lnc": lnc[order],
        "neg_peak": -peak[order],
        "mu": mu[idx],
        "sigma": s,
        "area": a,
        "weight": d[order] * a * nm[order],
    }


def main_part(
    g: Group, u: np.ndarray, lo: int, hi: int, derivative: bool, far: bool, fast: bool = False
) -> tuple[np.ndarray | float, np.ndarray, np.ndarray | float]:
    """P (0 for far rows: the caller counts their totals), V and dV/du of main rows [lo, hi)
    at the thresholds ``u`` (the forms are in the module docstring, here in units of
    ``r = sqrt(q) = s / sqrt(2)``); ``fast``: erf by ``erf_fast_nonneg``."""
    if far:
        return 0.0, *_far_volume(g, u, lo, hi, derivative)
    sl = slice(lo, hi)
    lnc, xr = g["lnc"][sl], g["xr"][sl]
    with np.errstate(all="ignore"):
        q = lnc - u[:, None]
        # Rows are sorted by descending lnc: when the last is above every node, q > 0.
        inside = bool(lnc[-1] > u.max())
        if not inside:
            np.maximum(q, 0.0, out=q)  # rows beyond a node's peak contribute exactly 0
        r = np.sqrt(q)
        mr = np.minimum(r, xr)  # m / sqrt(2)
        t1 = xr + r
        t2 = xr - mr  # 0 on clipped rows
        sq1 = t1 * t1
        sq2 = t2 * t2
        t1 *= t2
        t1 += sq1
        t1 += sq2
        t1 *= np.add(r, mr, out=t2)  # (t1 - t2)(t1^2 + t1 t2 + t2^2): no cancellation
        V = t1 @ g["B3r"][sl]
        dV: np.ndarray | float = 0.0
        if derivative:
            sq1 += sq2
            sq1 /= r
            if not inside:
                sq1[q == 0] = 0.0  # rows beyond a node's peak: no derivative there
            dV = -(sq1 @ g["Br"][sl])
        # erf, exp(-t^2) are monotonic: erf(m) = min(erf(s), erf(x)), likewise phi(m)
        if fast:
            e = erf_fast_nonneg(r, math.sqrt(max(float(lnc[0] - u.min()), 0.0)))
        else:
            e = erf_nonneg(r)
        e += np.minimum(e, g["erf_x"][sl], out=sq2)
        P = e @ g["cE"][sl]
        ph = np.exp(np.negative(q, out=q), out=q)  # exp(-q) = sqrt(2 pi) phi(s)
        phm = np.maximum(ph, g["ph_x"][sl], out=t1)  # sqrt(2 pi) phi(m)
        P += np.subtract(phm, ph, out=sq2) @ g["cPh"][sl]
        ph *= r
        phm *= mr
        ph += phm  # (s phi(s) + m phi(m)) sqrt(pi)
        P -= ph @ g["cSr"][sl]
    return P, V, dV


def _far_volume(
    g: Group, u: np.ndarray, lo: int, hi: int, derivative: bool
) -> tuple[np.ndarray, np.ndarray | float]:
    """V and dV/du of main rows [lo, hi) far above every threshold (q > FAR_FAST, so
    r > 5): such rows are clipped (r >= xr, the cube is (xr + r)^3) unless xr > 5, the few
    rows of ``g["wide"]``; those at r < xr lose (xr - r)^3 (the difference of cubes does not
    cancel much there: r > 5)."""
    sl = slice(lo, hi)
    xr = g["xr"][sl]
    with np.errstate(all="ignore"):
        r = np.sqrt(g["lnc"][sl] - u[:, None])
        t1 = xr + r
        cube = t1 * t1
        dV: np.ndarray | float = 0.0
        if derivative:
            dV = -((cube / r) @ g["Br"][sl])
        cube *= t1
        V = cube @ g["B3r"][sl]
        wide = g["wide"]
        j = wide[np.searchsorted(wide, lo) : np.searchsorted(wide, hi)]
        if j.size:  # rows with xr > 5: unclipped where r < xr
            t2 = np.maximum(g["xr"][j] - r[:, j - lo], 0.0)
            sq = t2 * t2
            if derivative:
                dV -= (sq / r[:, j - lo]) @ g["Br"][j]
            sq *= t2
            V -= sq @ g["B3r"][j]
    return V, dV


def neg_part(
    g: Group, u: np.ndarray, lo: int, hi: int, derivative: bool, far: bool, fast: bool = False
):
    """P, V and dV/du of the ``mu < 0`` rows [lo, hi) at the thresholds ``u``."""
    with np.errstate(all="ignore"):
        q = np.maximum(g["lnc"][lo:hi] - u[:, None], 0.0)
        x, sig = g["x"][lo:hi], g["sigma"][lo:hi]
        s = np.sqrt(2 * q)
        inside = s > -x  # the interval [0, mu + sigma s] is not empty
        t = np.where(inside, s, -x)
        above = np.exp(0.5 * x * x - q) * neg_bracket(x, t) / g["bracket0"][lo:hi]
        prob = g["total"][lo:hi] * (1 - np.where(inside, np.minimum(above, 1.0), 1.0))
        b = np.maximum(g["mu"][lo:hi] + sig * s, 0.0)
        area = g["area"][lo:hi]
        P = prob.sum(axis=1)
        V = (b * b * b) @ area / 3
        dV = 0.0
        if derivative:
            dv = area * sig * b * b / s
            dV = -np.where(inside & np.isfinite(dv), dv, 0.0).sum(axis=1)
    return P, V, dV
