"""Distance: the per-pixel ansatz ``r^2 N(r; DISTMU, DISTSIGMA) DISTNORM``, its conditional
moments along a line of sight, and the marginal distance distribution (ligo.skymap's
``parameters_to_moments``, ``marginal_pdf``, ``marginal_cdf``, ``parameters_to_marginal_moments``).

``mu < 0`` rows (BAYESTAR writes some where the distance is unconstrained) use the upper-tail
form with Mills' ratio instead of the textbook closed form, which cancels catastrophically there
(see ``neg_bracket``); their conditional moments use an asymptotic series for
``mu / sigma < -12``. Rows without usable parameters (non-finite, ``DISTSIGMA <= 0`` or
``DISTNORM <= 0``: BAYESTAR writes ``inf, 1, 0`` where it has no distance) take no part in the
marginal distribution. For many targets the marginal CDF is exact at 17 nodes and interpolated
with quintic Hermite polynomials (the exact density and its derivative at the nodes), within
about 1e-5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import SkyMapError
from .arrays import BLAS_BLOCK, dot, flat_positions, shaped
from .lookup import rows_flat
from .special import erf_fast_nonneg, mills_ratio, norm_cdf, norm_pdf

if TYPE_CHECKING:
    from .map import SkyMap

_INV_SQRT_2PI = 1.0 / math.sqrt(2 * math.pi)
_LN_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_SQRT1_2 = math.sqrt(0.5)


def require_distance(sm: SkyMap) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The map's (DISTMU, DISTSIGMA, DISTNORM) columns; SkyMapError for a 2-D map."""
    if sm.distmu is None or sm.distsigma is None or sm.distnorm is None:
        raise SkyMapError("this sky map has no distance information (a 2-D map)")
    return sm.distmu, sm.distsigma, sm.distnorm


_SANE = 1e90  # |mu| and sigma beyond this overflow in cubes: such rows have no 3-D density


def usable_rows(sm: SkyMap) -> np.ndarray:
    """Rows whose distance parameters define a non-zero density: finite, DISTSIGMA > 0,
    DISTNORM > 0, density > 0, and magnitudes whose cubes stay finite."""
    mu, sigma, norm = require_distance(sm)
    dens = sm.probdensity
    with np.errstate(invalid="ignore", over="ignore"):
        return (
            np.isfinite(mu)
            & np.isfinite(sigma)
            & (sigma > 0)
            & np.isfinite(norm)
            & (norm > 0)
            & (dens > 0)
            & (np.abs(mu) < _SANE)
            & (sigma < _SANE)
            & (sigma > 1 / _SANE)
            & (norm < _SANE)
        )


def conditional_moments(mu: Any, sigma: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (Mpc) of the ansatz ``r^2 N(r; mu, sigma)``, ``r > 0``
    (ligo.skymap's ``parameters_to_moments``)."""
    mu = np.asarray(mu, float)
    sigma = np.asarray(sigma, float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        x = mu / sigma
        # Partial moments scaled by 1/phi(x) where x < 0 (they underflow and cancel there).
        neg = x < 0
        cdf = np.where(neg, mills_ratio(np.where(neg, -x, 0.0)), norm_cdf(x))
        pdf = np.where(neg, 1.0, norm_pdf(x))
        # Truncated standard-normal partial moments M_k = int_{-x}^inf t^k phi(t) dt.
        m0 = cdf
        m1 = pdf
        m2 = cdf - x * pdf
        m3 = (x * x + 2) * pdf
        m4 = 3 * m2 - x**3 * pdf
        # T_k = int (x + t)^2 t^k phi dt: moments about mu, weighted by r^2.
        t0 = x * x * m0 + 2 * x * m1 + m2
        t1 = x * x * m1 + 2 * x * m2 + m3
        t2 = x * x * m2 + 2 * x * m3 + m4
        mean = mu + sigma * t1 / t0
        var = sigma * sigma * (t2 / t0 - (t1 / t0) ** 2)
        std = np.sqrt(np.maximum(var, 0.0))
    far = x < -12
    if np.any(far):
        # mu << 0: asymptotic series of J_k = int_0^inf v^k exp(-v^2/2 - z v) dv (z = -x),
        # whose terms fall off like (k + 2m)^2 / (2 m z^2); mean = sigma J3/J2 and so on.
        z = -x[far]
        j = {k: np.zeros(z.shape) for k in (2, 3, 4)}
        for k in j:
            for m in range(40):
                j[k] += (
                    (-1) ** m
                    * math.factorial(k + 2 * m)
                    / (math.factorial(m) * 2.0**m)
                    / z ** (k + 2 * m + 1)
                )
        sig_far = np.broadcast_to(sigma, x.shape)[far]
        mean = np.array(mean, dtype=float, copy=True)
        std = np.array(std, dtype=float, copy=True)
        mean[far] = sig_far * j[3] / j[2]
        std[far] = sig_far * np.sqrt(np.maximum(j[4] / j[2] - (j[3] / j[2]) ** 2, 0.0))
    bad = ~(np.isfinite(mean) & np.isfinite(std))
    if np.any(bad):
        mean = np.where(bad, np.inf, mean)
        std = np.where(bad, 1.0, std)
    return mean, std


def distance_along(sm: SkyMap, ra_deg: Any, dec_deg: Any) -> tuple[Any, Any]:
    """Conditional distance (mean, std) in Mpc along the line of sight to each position (NaN
    where the map has no row), each in the positions' shape."""
    distmu, distsigma, _ = require_distance(sm)
    shape, ra, dec, _ = flat_positions(ra_deg, dec_deg)
    rows = rows_flat(sm, ra, dec)
    mean, std = conditional_moments(distmu[rows], distsigma[rows])
    mean = np.where(rows >= 0, mean, np.nan)
    std = np.where(rows >= 0, std, np.nan)
    return shaped(mean, shape), shaped(std, shape)


@dataclass(frozen=True)
class DistanceRows:
    """Rows with usable distance parameters, in map order."""

    prob: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    norm: np.ndarray
    cdf0: np.ndarray  # F(-mu/sigma) of each row, see _partial (used where mu >= 0)
    total: np.ndarray  # each row's P(r > 0) under its DISTNORM (1 if consistent)
    neg: np.ndarray  # rows with mu < 0, whose CDF needs the tail form


def build_distance_rows(sm: SkyMap) -> DistanceRows:
    distmu, distsigma, distnorm = require_distance(sm)
    prob = sm.prob
    good = usable_rows(sm)
    idx = np.flatnonzero(good)
    mu, sigma, norm = distmu[idx], distsigma[idx], distnorm[idx]
    cdf0 = _partial(-mu / sigma, mu, sigma)
    total = norm * ((mu * mu + sigma * sigma) - cdf0)
    neg = mu < 0
    if np.any(neg):
        total[neg] = np.exp(_neg_log_total(mu[neg], sigma[neg], norm[neg]))
    return DistanceRows(prob[idx], mu, sigma, norm, cdf0, total, np.flatnonzero(neg))


def _partial(t: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """F(t) with dF/dt = (mu + sigma t)^2 phi(t): the unnormalised ansatz CDF below
    r = mu + sigma t is F(t) - F(-mu/sigma). Well conditioned for mu >= 0 only."""
    return (mu * mu + sigma * sigma) * norm_cdf(t) - sigma * (2 * mu + sigma * t) * norm_pdf(t)


# For mu < 0 the closed form above cancels catastrophically (its terms are ~mu^2 while the
# integral is ~sigma^2 phi(x) / |x|^3). The upper-tail form, with Mills' ratio R = Q / phi,
# keeps every term at the scale of the result: with x = mu/sigma < 0, z = -x and t >= z,
#   int_r^inf r'^2 N dr' = sigma^2 phi(t) [(x^2 + 1) R(t) + 2x + t].
def neg_bracket(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    return (x * x + 1) * mills_ratio(t) + 2 * x + t


def _neg_log_total(mu: np.ndarray, sigma: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """ln of DISTNORM * int_0^inf r^2 N(r; mu, sigma) dr for mu < 0."""
    x = mu / sigma
    return (
        np.log(norm) + 2 * np.log(sigma) - 0.5 * x * x - _LN_SQRT_2PI + np.log(neg_bracket(x, -x))
    )


def _neg_fraction_above(
    x: np.ndarray, t: np.ndarray, bracket0: np.ndarray | None = None
) -> np.ndarray:
    """For mu < 0: the share of a row's distance probability beyond r = mu + sigma t
    (``bracket0``: ``neg_bracket(x, -x)`` if the caller holds it)."""
    if bracket0 is None:
        bracket0 = neg_bracket(x, -x)
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.exp(0.5 * (x * x - t * t)) * neg_bracket(x, t) / bracket0
    return np.where(t <= -x, 1.0, np.minimum(out, 1.0))


def marginal_moments(sm: SkyMap) -> tuple[float, float]:
    """Mean and standard deviation (Mpc) of distance marginalised over the sky
    (ligo.skymap's ``parameters_to_marginal_moments``)."""
    d = sm.distance_rows
    mean, std = conditional_moments(d.mu, d.sigma)
    rbar = float(np.sum(d.prob * mean))
    r2bar = float(np.sum(d.prob * (std * std + mean * mean)))
    return rbar, math.sqrt(max(r2bar - rbar * rbar, 0.0))


def distance_posterior(sm: SkyMap, r: Any) -> np.ndarray | float:
    """Marginal posterior density of luminosity distance (per Mpc) at ``r`` (Mpc)."""
    d = sm.distance_rows
    r = np.asarray(r, dtype=np.float64)
    out = np.zeros(r.shape)
    flat = out.reshape(-1)
    for j, rv in enumerate(r.reshape(-1)):
        if 0 < rv < np.inf:  # 0 at r <= 0, at infinity and for NaN
            t = (rv - d.mu) / d.sigma
            flat[j] = rv * rv * np.sum(d.prob * d.norm * norm_pdf(t) / d.sigma)
    return shaped(out.reshape(-1), out.shape)


def _cdf_rows(d: DistanceRows, r: float) -> np.ndarray:
    """Each row's conditional distance CDF at ``r`` > 0 (times its DISTNORM total)."""
    t = (r - d.mu) / d.sigma
    out = d.norm * (_partial(t, d.mu, d.sigma) - d.cdf0)
    if d.neg.size:
        n = d.neg
        x = d.mu[n] / d.sigma[n]
        out[n] = d.total[n] * (1 - _neg_fraction_above(x, np.maximum(t[n], -x)))
    return out


def distance_cdf(sm: SkyMap, r: Any) -> np.ndarray | float:
    """Marginal cumulative distribution of luminosity distance at ``r`` (Mpc)."""
    d = sm.distance_rows
    r = np.asarray(r, dtype=np.float64)
    out = np.zeros(r.shape)
    flat = out.reshape(-1)
    for j, rv in enumerate(r.reshape(-1)):
        if rv == np.inf:
            flat[j] = dot(d.prob, d.total)
        elif rv > 0:
            flat[j] = dot(d.prob, _cdf_rows(d, float(rv)))
    return shaped(out.reshape(-1), out.shape)


def cdf_table(sm: SkyMap, rmax: float) -> tuple[float, tuple[np.ndarray, ...], float]:
    """(node spacing, power-series coefficients per interval, CDF at infinity) for
    ``cdf_apply`` on [0, ``rmax``]: exact values of the marginal CDF at 17 nodes, interpolated
    with quintic Hermite polynomials (the exact density and its derivative give the node
    slopes and curvatures); absolute error about 1e-5 on BAYESTAR maps
    (``tests/test_skymap_analysis.py`` bounds it by 5e-4)."""
    d = sm.distance_rows
    n = 17
    grid = np.linspace(0.0, rmax, n)
    cdf = np.zeros(n)  # node 0 (r = 0): CDF, pdf and pdf' are 0
    g = np.zeros(n)  # pdf / r^2
    dg = np.zeros(n)  # its derivative
    pos = np.ones(d.mu.size, bool)
    pos[d.neg] = False
    mu, sig, w = d.mu[pos], d.sigma[pos], (d.prob * d.norm)[pos]
    # Per row: cdf(r) = w [(mu^2 + s^2) Phi(t) - s (2 mu + s t) phi(t) - F0], t = (r - mu)/s,
    # evaluated in v = t / sqrt(2): Phi(t) = (1 + erf(v)) / 2, phi(t) = exp(-v^2) / sqrt(2 pi),
    # with the constant factors folded into per-row coefficients.
    v_per_r = _SQRT1_2 / sig
    v_at_0 = mu * v_per_r
    c_erf = 0.5 * w * (mu**2 + sig**2)
    c_const = float(np.sum(c_erf) - np.sum(w * d.cdf0[pos]))
    c_phi = -2 * _INV_SQRT_2PI * w * mu * sig
    c_vphi = -math.sqrt(2) * _INV_SQRT_2PI * w * sig**2  # t phi(t) = sqrt(2) v phi
    c_pdf = _INV_SQRT_2PI * w / sig
    c_dpdf = -math.sqrt(2) * c_pdf / sig
    # mu < 0 rows: the upper-tail form (see neg_bracket).
    neg = d.neg
    mu_n, sig_n = d.mu[neg], d.sigma[neg]
    x_n = mu_n / sig_n
    bracket0 = neg_bracket(x_n, -x_n)
    w_n = d.prob[neg] * d.total[neg]
    c_pdf_n = d.prob[neg] * d.norm[neg] / sig_n
    # Blocks of (nodes x rows) elements, all nodes at once: few numpy calls, temporaries and
    # matrix-vector products small enough for one OpenBLAS thread (see arrays.BLAS_BLOCK).
    r_nodes = grid[1:, None]
    step = max(1, BLAS_BLOCK // (n - 1))
    for lo in range(0, v_at_0.size, step):
        sl = slice(lo, lo + step)
        v = r_nodes * v_per_r[sl]
        v -= v_at_0[sl]
        av = np.abs(v)
        ph = np.exp(-(av * av))
        vph = v * ph
        # the fast erf (4e-12): the table is good to ~1e-5 anyway
        cdf[1:] += (
            np.copysign(erf_fast_nonneg(av), v) @ c_erf[sl] + ph @ c_phi[sl] + vph @ c_vphi[sl]
        )
        g[1:] += ph @ c_pdf[sl]
        dg[1:] += vph @ c_dpdf[sl]
    cdf[1:] += c_const
    if neg.size:
        step = max(1, BLAS_BLOCK // (n - 1))
        for lo in range(0, neg.size, step):
            sl = slice(lo, lo + step)
            tn = (r_nodes - mu_n[sl]) / sig_n[sl]
            phn = norm_pdf(tn)
            xb = x_n[sl]
            above = _neg_fraction_above(xb, np.maximum(tn, -xb), bracket0[sl])
            cdf[1:] += (1 - above) @ w_n[sl]
            g[1:] += phn @ c_pdf_n[sl]
            dg[1:] -= (tn * phn) @ (c_pdf_n[sl] / sig_n[sl])
    pdf = grid * grid * g
    dpdf = 2 * grid * g + grid * grid * dg
    h = float(grid[1] - grid[0])
    # The quintic Hermite interpolant of each interval, as power-series coefficients in the
    # position within the interval (0 to 1).
    dF = cdf[1:] - cdf[:-1]
    f0, f1 = h * pdf[:-1], h * pdf[1:]
    d0, d1 = h * h * dpdf[:-1], h * h * dpdf[1:]
    coef = (
        cdf[:-1],
        f0,
        0.5 * d0,
        10 * dF - 6 * f0 - 4 * f1 - 0.5 * (3 * d0 - d1),
        -15 * dF + 8 * f0 + 7 * f1 + 0.5 * (3 * d0 - 2 * d1),
        6 * dF - 3 * (f0 + f1) - 0.5 * (d0 - d1),
    )
    return h, coef, dot(d.prob, d.total)


def cdf_apply(table: tuple[float, tuple[np.ndarray, ...], float], r: np.ndarray) -> np.ndarray:
    """The marginal CDF at distances ``r`` up to the table's ``rmax`` (0 for r <= 0 or NaN)."""
    h, coef, total = table
    n = coef[0].size  # intervals
    rr = np.fmin(np.fmax(r * (1.0 / h), 0.0), n)  # NaN -> 0, inf -> n
    k = np.minimum(rr.astype(np.intp), n - 1)
    x = rr - k
    acc = coef[5].take(k)
    for c in coef[4::-1]:
        acc *= x
        acc += c.take(k)
    out = np.where(r > 0, acc, 0.0)
    infinite = r == np.inf
    if np.any(infinite):
        out[infinite] = total
    return out
