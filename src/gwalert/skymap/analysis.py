"""What follow-up teams ask of a sky map, computed on the multi-order rows (never flattened).

Everything here matches ``ligo.skymap.postprocess.crossmatch`` (the reference) and is checked
against it in ``tests/test_skymap_analysis.py``:

2-D (sky) quantities
    Rows are ranked by descending probability density, ties broken by descending NUNIQ index
    (ligo.skymap sorts the table by PROBDENSITY and then UNIQ and reverses it). The credible
    area for probability ``p`` interpolates linearly in the cumulative (probability, area)
    curve, starting from (0, 0), exactly as ligo.skymap's ``contour_areas``. A position's
    ``searched_prob`` / ``searched_area`` are the cumulative probability / area up to and
    including its row. Probabilities are not renormalised: the reader already refuses maps whose
    total is not within 2% of 1, and ligo.skymap does not renormalise either.

3-D (volume) quantities: the method
    Within one pixel of solid angle A and density D (per sr) the distance ansatz gives the
    probability density per unit volume ``rho(r) = D * DISTNORM * N(r; DISTMU, DISTSIGMA)``.
    The ``p`` credible volume is the region ``rho >= rho*`` holding probability ``p``. In each
    pixel that region is one distance interval ``[max(0, mu - sigma s), mu + sigma s]`` with
    ``s = sqrt(2 ln(c / rho*))``, ``c = D * DISTNORM / (sigma sqrt(2 pi))``, whose probability
    (``D A DISTNORM`` times a closed form in erf) and volume (``A (b^3 - a^3) / 3``) are exact.
    gwalert solves ``P(rho*) = p`` by safeguarded Newton iteration on ``ln rho*`` (the
    derivative is exact too: ``dP = rho* dV``), touching only the pixels whose peak density
    exceeds ``rho*`` (the pixels are kept sorted by peak density).

    ligo.skymap instead discretises distance into 999 shells of width ``6 * distmean / 1000``,
    evaluates the density at each shell's centre, sorts the 19 million (pixel, shell) cells and
    interpolates; it also ignores probability beyond ``6 * distmean`` and does not renormalise
    the truncated grid. Its volumes are therefore a few tenths of a percent away from the exact
    ones on real maps (the tests require 1%); where they differ, gwalert's are the exact
    integral of the ansatz. For a target at distance ``r``, ligo.skymap reads the cell whose
    shell centre is the largest one below ``r``, so its ``searched_prob_vol``,
    ``searched_vol`` and ``probdensity_vol`` are those of a point up to one shell nearer.

    A target's ``searched_prob_vol`` / ``searched_vol`` are ``P`` and ``V`` at the density
    where it sits. For many targets these come from exact values at nodes spaced
    geometrically in ``ln c_max - ln rho*``, interpolated linearly in log-log space (see
    ``_Volume.table``): on the BAYESTAR map, within 2e-3 in probability and 1% in volume of
    the exact values where 0.01 < P < 0.999; the volume of the outermost targets (P within
    1e-4 of its limit, where ligo.skymap's grid ends anyway) can be a third off. Targets near
    the peak, and all of them when there are fewer targets than nodes, are evaluated exactly.

    ``mu < 0`` rows (BAYESTAR writes some where the distance is unconstrained) use the
    upper-tail form with Mills' ratio instead of the textbook closed form, which cancels
    catastrophically there (see ``_neg_bracket``); their conditional moments use an
    asymptotic series for ``mu / sigma < -12``. There gwalert and ligo.skymap can differ (in
    ligo.skymap's disfavour, checked against the Gamma(3) limit) on rows holding ~1e-7 of the
    probability.

    The marginal distance distribution is the probability-weighted sum of the per-pixel ansatz
    (ligo.skymap's ``marginal_pdf`` / ``marginal_cdf``); for many targets its CDF is exact at
    17 nodes and interpolated with quintic Hermite polynomials (the exact density and its
    derivative at the nodes), within about 1e-5.

Everything runs on the NUNIQ rows; positions are looked up through a dense index at order 8
(3 MB) and a sorted search below it. Vector work is done in blocks (6,144 rows, 8,192 targets)
so that temporaries stay below glibc's mmap threshold, on maps of any size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import SkyMapError
from .healpix import level_ipix_to_uniq, pixel_area_sr, pixel_center, uniq_to_level_ipix
from .special import (
    ang2pix_nested,
    ang2pix_nested_rad,
    erf,
    erf_nonneg,
    mills_ratio,
    norm_cdf,
    norm_pdf,
    pixel_vectors,
    sin_cos,
    sin_cos_lat,
)

if TYPE_CHECKING:
    from .map import SkyMap

SQDEG_PER_SR = (180.0 / math.pi) ** 2
_INV_SQRT_2PI = 1.0 / math.sqrt(2 * math.pi)
_LN_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_SQRT1_2 = math.sqrt(0.5)
_RAD = math.pi / 180  # np.radians and np.degrees multiply by these
_DEG = 180 / math.pi


def _cached(sm: SkyMap, key: str, build):
    cache = sm._cache
    value = cache.get(key)
    if value is None:
        value = cache[key] = build(sm)
    return value


# ------------------------------------------------------------------------------ 2-D ranking
@dataclass(frozen=True)
class _Ranking:
    order: np.ndarray  # row indices, most probable first
    cum_prob: np.ndarray  # cumulative probability along ``order``
    cum_area: np.ndarray  # cumulative area (sr) along ``order``
    searched_prob: np.ndarray  # per row (original order)
    searched_area: np.ndarray  # per row, sr


def _build_ranking(sm: SkyMap) -> _Ranking:
    dens = sm.probdensity
    uniq = sm.uniq
    if uniq.size < 2 or np.all(uniq[1:] > uniq[:-1]):
        # Stable ascending sort keeps ties in ascending-UNIQ order; reversed: descending UNIQ.
        order = np.argsort(dens, kind="stable")[::-1]
    else:
        order = np.lexsort((uniq, dens))[::-1]
    area = _pixel_area(sm)[order]
    cum_prob = np.cumsum(dens[order] * area)
    cum_area = np.cumsum(area)
    searched_prob = np.empty_like(cum_prob)
    searched_prob[order] = cum_prob
    searched_area = np.empty_like(cum_area)
    searched_area[order] = cum_area
    return _Ranking(order, cum_prob, cum_area, searched_prob, searched_area)


def _ranking(sm: SkyMap) -> _Ranking:
    return _cached(sm, "ranking", _build_ranking)


def _levels(p: float | Sequence[float] | np.ndarray) -> np.ndarray:
    levels = np.asarray(p, dtype=np.float64)
    if np.any(~np.isfinite(levels)) or np.any(levels < 0) or np.any(levels > 1):
        raise SkyMapError("credible levels must be probabilities between 0 and 1")
    return levels


def credible_area(sm: SkyMap, p: float | Sequence[float] | np.ndarray) -> float | np.ndarray:
    """Area in deg² of the smallest region holding probability ``p`` (ligo.skymap's
    ``contour_areas``)."""
    levels = _levels(p)
    rk = _ranking(sm)
    out = np.interp(levels, np.pad(rk.cum_prob, (1, 0)), np.pad(rk.cum_area, (1, 0)),
                    right=4 * math.pi) * SQDEG_PER_SR
    return float(out) if out.ndim == 0 else out


# ------------------------------------------------------------------------------ look-up
_COARSE_LEVEL = 8  # dense index: 786,432 cells, 3 MB
_CHUNK = 6144  # rows per block of vector work
# Targets per block in position look-ups and crossmatch. numpy temporaries above glibc's
# mmap threshold (128 kB by default) are mapped and unmapped on every operation, and freed heap
# above the trim threshold (also 128 kB) is given back: the page faults then cost more than the
# arithmetic (a fresh process's summary took 12 ms with 16,384-row blocks, 7 ms with these).
_TARGETS = 8192


@dataclass(frozen=True)
class _Lookup:
    level: int  # deepest level of the map
    starts: np.ndarray  # first nested index at ``level`` of each row, sorted
    ends: np.ndarray  # one past the last, same order
    rows: np.ndarray  # row index of each entry
    coarse: int  # level of the dense index
    index: np.ndarray  # per cell at ``coarse``: its row, -2 if split finer, -1 if uncovered


def _build_lookup(sm: SkyMap) -> _Lookup:
    level, ipix = uniq_to_level_ipix(sm.uniq)
    top = int(level.max())
    coarse = min(top, _COARSE_LEVEL)
    ncells = 12 << (2 * coarse)
    shallow = np.flatnonzero(level <= coarse)
    deep = np.flatnonzero(level > coarse)
    first = ipix[shallow] << (2 * (coarse - level[shallow]))
    count = np.left_shift(1, 2 * (coarse - level[shallow]))
    deep_cells = np.unique(ipix[deep] >> (2 * (level[deep] - coarse)))
    # Shallow rows and split cells, in sky order; when they tile the sky exactly (as every
    # valid map does) the dense index is one np.repeat.
    cell_first = np.concatenate([first, deep_cells])
    cell_count = np.concatenate([count, np.ones(deep_cells.size, np.int64)])
    cell_row = np.concatenate([shallow, np.full(deep_cells.size, -2)]).astype(np.int32)
    order = np.argsort(cell_first, kind="stable")  # fast on the nearly sorted starts
    cell_first, cell_count, cell_row = cell_first[order], cell_count[order], cell_row[order]
    ends_c = cell_first + cell_count
    if (cell_first.size and cell_first[0] == 0 and ends_c[-1] == ncells
            and np.all(cell_first[1:] == ends_c[:-1])):
        index = np.repeat(cell_row, cell_count)
    else:  # gaps or overlaps: fill cell by cell (overlaps resolve to the later row)
        index = np.full(ncells, -1, dtype=np.int32)
        total = int(count.sum())
        offsets = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
        index[np.repeat(first, count) + offsets] = np.repeat(shallow, count)
        index[deep_cells] = -2
    # Rows finer than the dense index, sorted by their first pixel at the deepest level.
    shift = 2 * (top - level[deep])
    starts = ipix[deep] << shift
    by_start = np.argsort(starts, kind="stable")
    return _Lookup(top, starts[by_start], ((ipix[deep] + 1) << shift)[by_start],
                   deep[by_start], coarse, index)


def rows_at(sm: SkyMap, ra_deg: Any, dec_deg: Any) -> np.ndarray:
    """Row index holding each position (-1 where the map does not cover it)."""
    lk = _cached(sm, "lookup", _build_lookup)
    ra, dec = np.broadcast_arrays(np.asarray(ra_deg, float), np.asarray(dec_deg, float))
    if np.any(~np.isfinite(dec)) or np.any(np.abs(dec) > 90) or np.any(~np.isfinite(ra)):
        raise SkyMapError("coordinates must be finite, with declinations within ±90°")
    if ra.size > _TARGETS:  # blocks: small temporaries are much cheaper (see _TARGETS)
        ra_f, dec_f = ra.reshape(-1), dec.reshape(-1)
        parts = [rows_at(sm, ra_f[i:i + _TARGETS], dec_f[i:i + _TARGETS])
                 for i in range(0, ra_f.size, _TARGETS)]
        return np.concatenate(parts).reshape(ra.shape)
    return _rows_of_pixels(lk, ang2pix_nested(lk.level, ra, dec))


def _rows_of_pixels(lk: _Lookup, pix: np.ndarray) -> np.ndarray:
    """Row of each nested pixel index at the map's deepest level (-1 if not covered)."""
    out = lk.index[pix >> (2 * (lk.level - lk.coarse))].astype(np.int64)
    fine = np.flatnonzero(out == -2)
    if fine.size:
        p = pix.reshape(-1)[fine]
        j = np.searchsorted(lk.starts, p, side="right") - 1
        jc = np.clip(j, 0, None)
        ok = (j >= 0) & (p < lk.ends[jc])
        out.reshape(-1)[fine] = np.where(ok, lk.rows[jc], -1)
    return out


def _pixel_area(sm: SkyMap) -> np.ndarray:
    return _cached(sm, "pixel_area", lambda m: m.pixel_area)


def searched_prob(sm: SkyMap, ra_deg: Any, dec_deg: Any) -> np.ndarray:
    """Credible level of each position: the probability of the smallest region containing it."""
    rows = rows_at(sm, ra_deg, dec_deg)
    rk = _ranking(sm)
    return np.where(rows >= 0, rk.searched_prob[rows], 1.0)


def contains(sm: SkyMap, ra_deg: Any, dec_deg: Any, p: float = 0.9) -> bool | np.ndarray:
    """True where the position lies in the ``p`` credible region (its credible level <= p),
    the membership test of the LVK user guide (``credible_levels <= 0.9``) and of ligo.skymap.

    A row's credible level is the cumulative probability up to and including it, so the row
    that crosses ``p`` is outside: on a map whose probability sits in one pixel, that pixel has
    level 1 and is inside only the 100% region."""
    level = float(_levels(p))
    inside = searched_prob(sm, ra_deg, dec_deg) <= level
    return bool(inside) if inside.ndim == 0 else inside


def mode(sm: SkyMap) -> tuple[float, float]:
    """Centre (RA, Dec) of the first row in ligo.skymap's ranking (highest density; among
    equal densities, the highest NUNIQ)."""
    i = int(_ranking(sm).order[0])
    level, ipix = uniq_to_level_ipix(sm.uniq[i])
    return pixel_center(int(level), int(ipix))


# ------------------------------------------------------------------------------ distance
def _require_distance(sm: SkyMap) -> None:
    if not sm.has_distance:
        raise SkyMapError("this sky map has no distance information (a 2-D map)")


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
        m4 = 3 * m2 - x ** 3 * pdf
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
                j[k] += ((-1) ** m * math.factorial(k + 2 * m)
                         / (math.factorial(m) * 2.0 ** m) / z ** (k + 2 * m + 1))
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
    """Conditional distance (mean, std) in Mpc along the line of sight to each position."""
    _require_distance(sm)
    rows = rows_at(sm, ra_deg, dec_deg)
    mean, std = conditional_moments(sm.distmu[rows], sm.distsigma[rows])
    mean = np.where(rows >= 0, mean, np.nan)
    std = np.where(rows >= 0, std, np.nan)
    if mean.ndim == 0:
        return float(mean), float(std)
    return mean, std


@dataclass(frozen=True)
class _Dist:
    """Rows with usable distance parameters, in map order."""

    prob: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    norm: np.ndarray
    cdf0: np.ndarray  # F(-mu/sigma) of each row, see _partial (used where mu >= 0)
    total: np.ndarray  # each row's P(r > 0) under its DISTNORM (1 if consistent)
    neg: np.ndarray  # rows with mu < 0, whose CDF needs the tail form (_neg_cdf)


def _build_dist(sm: SkyMap) -> _Dist:
    _require_distance(sm)
    prob = sm.prob
    good = (np.isfinite(sm.distmu) & np.isfinite(sm.distsigma) & (sm.distsigma > 0)
            & np.isfinite(sm.distnorm) & (sm.distnorm > 0) & (prob > 0))
    idx = np.flatnonzero(good)
    mu, sigma, norm = sm.distmu[idx], sm.distsigma[idx], sm.distnorm[idx]
    cdf0 = _partial(-mu / sigma, mu, sigma)
    total = norm * ((mu * mu + sigma * sigma) - cdf0)
    neg = mu < 0
    if np.any(neg):
        total[neg] = np.exp(_neg_log_total(mu[neg], sigma[neg], norm[neg]))
    return _Dist(prob[idx], mu, sigma, norm, cdf0, total, np.flatnonzero(neg))


def _partial(t: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """F(t) with dF/dt = (mu + sigma t)^2 phi(t): the unnormalised ansatz CDF below
    r = mu + sigma t is F(t) - F(-mu/sigma). Well conditioned for mu >= 0 only."""
    return (mu * mu + sigma * sigma) * norm_cdf(t) - sigma * (2 * mu + sigma * t) * norm_pdf(t)


# For mu < 0 the closed form above cancels catastrophically (its terms are ~mu^2 while the
# integral is ~sigma^2 phi(x) / |x|^3). The upper-tail form, with Mills' ratio R = Q / phi,
# keeps every term at the scale of the result: with x = mu/sigma < 0, z = -x and t >= z,
#   int_r^inf r'^2 N dr' = sigma^2 phi(t) [(x^2 + 1) R(t) + 2x + t].
def _neg_bracket(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    return (x * x + 1) * mills_ratio(t) + 2 * x + t


def _neg_log_total(mu: np.ndarray, sigma: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """ln of DISTNORM * int_0^inf r^2 N(r; mu, sigma) dr for mu < 0."""
    x = mu / sigma
    return (np.log(norm) + 2 * np.log(sigma) - 0.5 * x * x - _LN_SQRT_2PI
            + np.log(_neg_bracket(x, -x)))


def _neg_fraction_above(x: np.ndarray, t: np.ndarray,
                        bracket0: np.ndarray | None = None) -> np.ndarray:
    """For mu < 0: the share of a row's distance probability beyond r = mu + sigma t
    (``bracket0``: ``_neg_bracket(x, -x)`` if the caller holds it)."""
    if bracket0 is None:
        bracket0 = _neg_bracket(x, -x)
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.exp(0.5 * (x * x - t * t)) * _neg_bracket(x, t) / bracket0
    return np.where(t <= -x, 1.0, np.minimum(out, 1.0))


def _dist(sm: SkyMap) -> _Dist:
    return _cached(sm, "dist", _build_dist)


def marginal_moments(sm: SkyMap) -> tuple[float, float]:
    """Mean and standard deviation (Mpc) of distance marginalised over the sky
    (ligo.skymap's ``parameters_to_marginal_moments``)."""
    d = _dist(sm)
    mean, std = conditional_moments(d.mu, d.sigma)
    rbar = float(np.sum(d.prob * mean))
    r2bar = float(np.sum(d.prob * (std * std + mean * mean)))
    return rbar, math.sqrt(max(r2bar - rbar * rbar, 0.0))


def distance_posterior(sm: SkyMap, r: Any) -> np.ndarray | float:
    """Marginal posterior density of luminosity distance (per Mpc) at ``r`` (Mpc)."""
    d = _dist(sm)
    r = np.asarray(r, dtype=np.float64)
    out = np.zeros(r.shape)
    flat = out.reshape(-1)
    for j, rv in enumerate(r.reshape(-1)):
        if rv > 0:
            t = (rv - d.mu) / d.sigma
            flat[j] = rv * rv * np.sum(d.prob * d.norm * norm_pdf(t) / d.sigma)
    return float(out) if out.ndim == 0 else out


def _cdf_rows(d: _Dist, r: float) -> np.ndarray:
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
    d = _dist(sm)
    r = np.asarray(r, dtype=np.float64)
    out = np.zeros(r.shape)
    flat = out.reshape(-1)
    for j, rv in enumerate(r.reshape(-1)):
        if rv == np.inf:
            flat[j] = float(d.prob @ d.total)
        elif rv > 0:
            flat[j] = float(d.prob @ _cdf_rows(d, float(rv)))
    return float(out) if out.ndim == 0 else out


def _cdf_table(sm: SkyMap, rmax: float) -> tuple[float, tuple[np.ndarray, ...], float]:
    """(node spacing, power-series coefficients per interval, CDF at infinity) for
    ``_cdf_apply`` on [0, ``rmax``]: exact values of the marginal CDF at 17 nodes, interpolated
    with quintic Hermite polynomials (the exact density and its derivative give the node
    slopes and curvatures); absolute error about 1e-5 on BAYESTAR maps
    (``tests/test_skymap_analysis.py`` bounds it by 5e-4)."""
    d = _dist(sm)
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
    c_erf = 0.5 * w * (mu ** 2 + sig ** 2)
    c_const = float(np.sum(c_erf) - np.sum(w * d.cdf0[pos]))
    c_phi = -2 * _INV_SQRT_2PI * w * mu * sig
    c_vphi = -math.sqrt(2) * _INV_SQRT_2PI * w * sig ** 2  # t phi(t) = sqrt(2) v phi
    c_pdf = _INV_SQRT_2PI * w / sig
    c_dpdf = -math.sqrt(2) * c_pdf / sig
    # mu < 0 rows: the upper-tail form (see _neg_bracket).
    neg = d.neg
    mu_n, sig_n = d.mu[neg], d.sigma[neg]
    x_n = mu_n / sig_n
    bracket0 = _neg_bracket(x_n, -x_n)
    w_n = d.prob[neg] * d.total[neg]
    c_pdf_n = d.prob[neg] * d.norm[neg] / sig_n
    for j in range(1, n):
        rv = float(grid[j])
        cdf[j] = c_const
        for lo in range(0, v_at_0.size, _CHUNK):
            sl = slice(lo, lo + _CHUNK)
            v = rv * v_per_r[sl] - v_at_0[sl]
            ph = np.exp(-v * v)
            vph = v * ph
            cdf[j] += c_erf[sl] @ erf(v) + c_phi[sl] @ ph + c_vphi[sl] @ vph
            g[j] += c_pdf[sl] @ ph
            dg[j] += c_dpdf[sl] @ vph
        if neg.size:
            tn = (rv - mu_n) / sig_n
            phn = norm_pdf(tn)
            cdf[j] += w_n @ (1 - _neg_fraction_above(x_n, np.maximum(tn, -x_n), bracket0))
            g[j] += c_pdf_n @ phn
            dg[j] -= (c_pdf_n / sig_n) @ (tn * phn)
    pdf = grid * grid * g
    dpdf = 2 * grid * g + grid * grid * dg
    h = float(grid[1] - grid[0])
    # The quintic Hermite interpolant of each interval, as power-series coefficients in the
    # position within the interval (0 to 1).
    dF = cdf[1:] - cdf[:-1]
    f0, f1 = h * pdf[:-1], h * pdf[1:]
    d0, d1 = h * h * dpdf[:-1], h * h * dpdf[1:]
    coef = (cdf[:-1], f0, 0.5 * d0,
            10 * dF - 6 * f0 - 4 * f1 - 0.5 * (3 * d0 - d1),
            -15 * dF + 8 * f0 + 7 * f1 + 0.5 * (3 * d0 - 2 * d1),
            6 * dF - 3 * (f0 + f1) - 0.5 * (d0 - d1))
    return h, coef, float(d.prob @ d.total)


def _cdf_apply(table: tuple[float, tuple[np.ndarray, ...], float], r: np.ndarray) -> np.ndarray:
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


# ------------------------------------------------------------------------------ volumes
class _Volume:
    """Exact probability and volume of the 3-D region ``rho >= rho*`` (see module docstring).

    Rows are sorted by peak density (at ``r = mu``, or ``r = 0`` when ``mu < 0``); at
    ``u = ln rho*`` only the prefix of rows whose peak exceeds ``rho*`` takes part. Rows with
    ``mu < 0`` form a second, small group that uses the upper-tail form (see ``_neg_bracket``).
    """

    def __init__(self, sm: SkyMap) -> None:
        _require_distance(sm)
        area = _pixel_area(sm)
        dens, mu, sigma, norm = sm.probdensity, sm.distmu, sm.distsigma, sm.distnorm
        good = (np.isfinite(mu) & np.isfinite(sigma) & (sigma > 0) & np.isfinite(norm)
                & (norm > 0) & (dens > 0))
        self.main = self._group(good & (mu >= 0), dens, mu, sigma, norm, area)
        self.neg = self._group(good & (mu < 0), dens, mu, sigma, norm, area)
        m, n = self.main, self.neg
        x = n["mu"] / n["sigma"]
        n["x"] = x
        n["bracket0"] = _neg_bracket(x, -x)
        n["total"] = np.exp(np.log(n["weight"]) + 2 * np.log(n["sigma"]) - 0.5 * x * x
                            - _LN_SQRT_2PI + np.log(n["bracket0"]))
        w, mu, sigma = m.pop("weight"), m["mu"], m["sigma"]  # w: folded in below
        cdf_neg_x = norm_cdf(-mu / sigma)  # Phi(-x)
        sig_mu_pdf_x = sigma * mu * norm_pdf(mu / sigma)
        w_mu2s2 = w * (mu * mu + sigma * sigma)
        m["w_mu2s2"] = w_mu2s2
        m["w_2s2"] = w * 2 * sigma ** 2 * _INV_SQRT_2PI * math.sqrt(2)  # per s / sqrt(2)
        m["sigma_sqrt2"] = sigma * math.sqrt(2)
        # w [F(-s) - F(-x)] = clip0 - w_mu2s2 erf(s/sqrt2) / 2 - (clip_ph - clip_ss_ph sigma s) ph
        # with ph = exp(-s^2/2) (see _main_part).
        m["clip0"] = w_mu2s2 * (0.5 - cdf_neg_x) + w * sig_mu_pdf_x
        m["clip_ss_ph"] = w * sigma * _INV_SQRT_2PI
        m["clip_ph"] = 2 * mu * m["clip_ss_ph"]
        self.total = float(np.sum(w_mu2s2 * (1 - cdf_neg_x) + w * sig_mu_pdf_x)
                           + np.sum(n["total"]))
        peaks = [g["neg_peak"][0] for g in (m, n) if g["neg_peak"].size]
        self.lnc_max = -float(min(peaks)) if peaks else -np.inf
        self.sparse_delta = self._sparse_delta()

    @staticmethod
    def _group(sel, dens, mu, sigma, norm, area) -> dict[str, np.ndarray]:
        idx = np.flatnonzero(sel)
        lnc = np.log(dens[idx]) + np.log(norm[idx]) - np.log(sigma[idx]) - _LN_SQRT_2PI
        x = mu[idx] / sigma[idx]
        peak = lnc - 0.5 * np.where(x < 0, x * x, 0.0)
        order = np.argsort(peak)[::-1]
        idx = idx[order]
        return {"lnc": lnc[order], "neg_peak": -peak[order], "mu": mu[idx],
                "sigma": sigma[idx], "area": area[idx],
                "weight": dens[idx] * area[idx] * norm[idx]}

    def active(self, u: float) -> int:
        return sum(int(np.searchsorted(g["neg_peak"], -u, side="left"))
                   for g in (self.main, self.neg))

    def evaluate(self, u: float, derivative: bool = False) -> tuple[float, float, float]:
        """(P, V, dV/du) of the region ``ln rho >= u``; ``dP/du = exp(u) dV/du``."""
        P = V = dV = 0.0
        g = self.main
        k = int(np.searchsorted(g["neg_peak"], -u, side="left"))
        for lo in range(0, k, _CHUNK):  # bounded temporaries on large maps
            p_, v_, d_ = self._main_part(u, lo, min(k, lo + _CHUNK), derivative)
            P += p_
            V += v_
            dV += d_
        g = self.neg
        k = int(np.searchsorted(g["neg_peak"], -u, side="left"))
        if k:
            q = g["lnc"][:k] - u
            x, sig = g["x"][:k], g["sigma"][:k]
            s = np.sqrt(2 * q)
            inside = s > -x  # the interval [0, mu + sigma s] is not empty
            t = np.where(inside, s, -x)
            with np.errstate(over="ignore", invalid="ignore"):
                above = np.exp(0.5 * x * x - q) * _neg_bracket(x, t) / g["bracket0"][:k]
            prob = g["total"][:k] * (1 - np.where(inside, np.minimum(above, 1.0), 1.0))
            b = np.maximum(g["mu"][:k] + sig * s, 0.0)
            P += float(np.sum(prob))
            V += float(np.dot(g["area"][:k], b ** 3)) / 3
            if derivative:
                with np.errstate(divide="ignore", invalid="ignore"):
                    dv = g["area"][:k] * sig * b * b / s
                dV -= float(np.sum(dv[np.isfinite(dv)]))
        return P, V, dV

    def _main_part(self, u: float, lo: int, hi: int,
                   derivative: bool) -> tuple[float, float, float]:
        """evaluate() over main-group rows lo:hi."""
        g = self.main
        P = V = dV = 0.0
        q = g["lnc"][lo:hi] - u
        mu = g["mu"][lo:hi]
        rq = np.sqrt(q)  # s / sqrt(2)
        e = erf_nonneg(rq)  # erf(s / sqrt 2)
        ph = np.exp(-q)  # sqrt(2 pi) phi(s)
        ss = g["sigma_sqrt2"][lo:hi] * rq  # sigma s
        b = mu + ss
        a = mu - ss
        # Interval [a, b] = [mu - sigma s, mu + sigma s]: with F(t) = (mu^2 + sigma^2) Phi(t)
        # - sigma (2 mu + sigma t) phi(t), the antiderivative of (mu + sigma t)^2 phi(t),
        # w [F(s) - F(-s)] = w [(mu^2 + sigma^2) erf(s/sqrt2) - 2 sigma^2 s phi(s)].
        P += float(g["w_mu2s2"][lo:hi] @ e) - float(g["w_2s2"][lo:hi] @ (rq * ph))
        clipped = a < 0
        if np.any(clipped):
            # Clipped at r = 0 (t = -x): add w [F(-s) - F(-x)], in per-row coefficients.
            corr = (g["clip0"][lo:hi] - 0.5 * g["w_mu2s2"][lo:hi] * e
                    - (g["clip_ph"][lo:hi] - g["clip_ss_ph"][lo:hi] * ss) * ph)
            P += float(np.where(clipped, corr, 0.0).sum())  # faster than sum(where=)
        a_pos = np.maximum(a, 0.0)
        area = g["area"][lo:hi]
        V += float(area @ (b * b * b - a_pos * a_pos * a_pos)) / 3
        if derivative:
            with np.errstate(divide="ignore", invalid="ignore"):
                dv = area * g["sigma"][lo:hi] * (b * b + a_pos * a_pos) / (rq * math.sqrt(2))
            dV -= float(np.sum(dv[np.isfinite(dv)]))
        return P, V, dV

    def solve(self, levels: Sequence[float]) -> list[tuple[float, float]]:
        """(u, V) with P(u) = p for each p in ``levels`` (to 1e-10 relative in P)."""
        # Bracket on one geometric grid of delta = ln c_max - u, then safeguarded Newton.
        grid: list[tuple[float, float]] = [(self.lnc_max, 0.0)]
        top = max((p for p in levels if p < self.total), default=0.0)
        delta = 0.5
        while grid[-1][1] < top:
            u = self.lnc_max - delta
            grid.append((u, self.evaluate(u)[0]))
            delta *= 2
        return [self._solve_one(p, grid) for p in levels]

    def _solve_one(self, p: float, grid: list[tuple[float, float]]) -> tuple[float, float]:
        if p <= 0:
            return self.lnc_max, 0.0
        if p >= self.total:
            return -np.inf, np.inf
        j = next(i for i, (_, P) in enumerate(grid) if P >= p)
        (hi, P_hi), (lo, P_lo) = grid[j - 1], grid[j]
        # First guess: P ~ delta^k between the bracket ends.
        d_lo, d_hi = self.lnc_max - lo, self.lnc_max - hi
        if P_hi > 0:
            k = math.log(P_lo / P_hi) / math.log(d_lo / d_hi)
            u = self.lnc_max - d_hi * (p / P_hi) ** (1 / k)
        else:
            u = 0.5 * (lo + hi)
        V = math.nan
        for _ in range(200):
            P, V, dV = self.evaluate(u, True)
            f = P - p
            if abs(f) <= 1e-10 * p:
                break
            if f > 0:
                lo = u
            else:
                hi = u
            dP = math.exp(u) * dV
            new = u - f / dP if dP < 0 else math.nan
            if not (lo < new < hi):
                new = 0.5 * (lo + hi)
            if hi - lo <= 1e-14 * max(1.0, abs(u)):
                break
            u = new
        return u, V

    # Table nodes: a fixed lattice in x = ln delta, 24 nodes per decade of delta up to 1, 16 up
    # to 10 and 4 beyond. A node's lattice coordinate is the smallest of three affine functions
    # of x (the lattice is concave), so a target finds its interval without a search.
    _PER_DECADE = (24, 16, 4)

    @classmethod
    def _lattice_coordinate(cls, x: np.ndarray | float) -> np.ndarray | float:
        """Lattice coordinate of ln delta ``x``: node k sits at coordinate k."""
        a, b, c = (n / math.log(10) for n in cls._PER_DECADE)
        ten = cls._PER_DECADE[1]  # coordinate of delta = 10
        return np.minimum(np.minimum(a * x, b * x), ten + c * (x - math.log(10)))

    @classmethod
    def _lattice_node(cls, k: int) -> float:
        """ln delta of lattice node ``k`` (the inverse of ``_lattice_coordinate``)."""
        a, b, c = (math.log(10) / n for n in cls._PER_DECADE)
        return max(k * a, k * b, math.log(10) + (k - cls._PER_DECADE[1]) * c)

    def table(self, lo: float, hi: float,
              count: int) -> tuple[int, np.ndarray, np.ndarray] | None:
        """(first node, ln P, ln V) at the lattice nodes around delta in [lo, hi], where
        ``count`` targets lie beyond ``sparse_delta``, for ``lookup`` at ``delta = ln c_max - u``;
        None if there are no more targets than nodes (``lookup`` then evaluates them exactly).

        Near the peak, where few rows take part, P and V have a square-root kink wherever a
        row's peak is crossed: targets there are evaluated exactly (cheap: few rows). Elsewhere
        both are interpolated linearly in (ln delta, ln P) and (ln delta, ln V) between exact
        values at the nodes, 24 per decade of delta up to 1, 16 up to 10 (P > 0.9997 beyond,
        on BAYESTAR maps) and 4 per decade further out, where only V is still computed once P
        is within 1e-9 of its limit. Against exact evaluation: |dP| < 2e-3 and V within
        about 2% for targets with 0.01 < P < 0.999 (``tests/test_skymap_analysis.py``); V of
        the outermost targets (P within 1e-4 of its limit) can be 35% off.
        """
        first = math.floor(float(self._lattice_coordinate(math.log(lo))))
        last = max(math.ceil(float(self._lattice_coordinate(math.log(hi)))), first + 1)
        if count <= last - first + 1:
            return None
        lp = np.empty(last - first + 1)
        lv = np.empty(last - first + 1)
        saturated = None
        for i in range(lp.size):  # ascending delta: P grows towards the total
            u = self.lnc_max - math.exp(self._lattice_node(first + i))
            if saturated is None:
                P, V, _ = self.evaluate(u)
                lp[i] = math.log(max(P, 1e-300))
                if self.total - P <= 1e-9 * self.total:
                    saturated = lp[i]
            else:  # P is within 1e-9 of its limit: only V still changes
                lp[i] = saturated
                V = self.volume_only(u)
            lv[i] = math.log(max(V, 1e-300))
        return first, lp, lv

    def lookup(self, delta: np.ndarray, table: Any) -> tuple[np.ndarray, np.ndarray]:
        """(P, V) at ``delta`` (NaN-free): exact up to ``sparse_delta`` (P = V = 0 at or above
        the peak), from ``table`` beyond (exact without one), and (total, inf) where delta is
        infinite (the density is 0)."""
        if table is None:
            P = np.empty(delta.shape)
            V = np.empty(delta.shape)
            exact = delta < np.inf
        else:
            first, lp, lv = table
            with np.errstate(divide="ignore", invalid="ignore"):
                k = self._lattice_coordinate(np.log(delta)) - first
            k = np.fmin(np.fmax(k, 0.0), lp.size - 1)  # NaN (delta < 0), -inf and inf too
            j = np.minimum(k.astype(np.intp), lp.size - 2)
            w = k - j
            lp0, lv0 = lp.take(j), lv.take(j)
            P = np.exp(lp0 + w * (lp.take(j + 1) - lp0))
            V = np.exp(lv0 + w * (lv.take(j + 1) - lv0))
            exact = delta <= self.sparse_delta
        if np.any(exact):
            for j_ in np.flatnonzero(exact):
                P[j_], V[j_], _ = self.evaluate(self.lnc_max - max(float(delta[j_]), 0.0))
        zero = np.isinf(delta)
        if np.any(zero):
            P[zero] = self.total
            V[zero] = np.inf
        return P, V

    def volume_only(self, u: float) -> float:
        """V of the region ``ln rho >= u`` (no erf: cheap)."""
        V = 0.0
        for g in (self.main, self.neg):
            k = int(np.searchsorted(g["neg_peak"], -u, side="left"))
            for lo in range(0, k, _CHUNK):
                sl = slice(lo, min(k, lo + _CHUNK))
                ss = g["sigma"][sl] * np.sqrt(2.0 * (g["lnc"][sl] - u))
                b = np.maximum(g["mu"][sl] + ss, 0.0)
                a = np.maximum(g["mu"][sl] - ss, 0.0)
                V += float(g["area"][sl] @ (b * b * b - a * a * a)) / 3
        return V

    def _sparse_delta(self) -> float:
        """delta below which at most 64 rows take part (exact evaluation is cheap)."""
        peaks = np.sort(np.concatenate([-self.main["neg_peak"][:65], -self.neg["neg_peak"][:65]]))
        peaks = peaks[::-1]
        return float(self.lnc_max - peaks[min(64, peaks.size - 1)]) if peaks.size else 0.0

def _volume(sm: SkyMap) -> _Volume:
    return _cached(sm, "volume", _Volume)


def credible_volume(sm: SkyMap, p: float | Sequence[float] | np.ndarray) -> float | np.ndarray:
    """Volume in Mpc³ of the smallest 3-D region holding probability ``p`` (exact per-pixel
    integral of the distance ansatz; see the module docstring)."""
    levels = _levels(p)
    vol = _volume(sm)
    out = np.array([v for _, v in vol.solve([float(x) for x in levels.reshape(-1)])])
    out = out.reshape(levels.shape)
    return float(out) if out.ndim == 0 else out


# ------------------------------------------------------------------------------ crossmatch
@dataclass(frozen=True)
class CrossmatchResult:
    """Per-position results with ligo.skymap's ``CrossmatchResult`` field names and meanings.

    Areas in deg², angles in degrees, distances in Mpc, volumes in Mpc³ (Euclidean, in
    luminosity distance). The 3-D fields are NaN when no distances were given or the map is
    2-D. ``searched_vol`` is infinite for a target where the density is zero (a row without
    distance information, or ``r <= 0``).
    """

    searched_area: np.ndarray
    searched_prob: np.ndarray
    offset: np.ndarray
    probdensity: np.ndarray
    searched_prob_vol: np.ndarray
    searched_vol: np.ndarray
    probdensity_vol: np.ndarray
    searched_prob_dist: np.ndarray

    def __len__(self) -> int:
        return int(np.size(self.searched_prob))


def crossmatch(sm: SkyMap, ra_deg: Any, dec_deg: Any,
               distance: Any | None = None) -> CrossmatchResult:
    """Where each target (RA, Dec in degrees, optional luminosity distance in Mpc) falls in
    the map: ligo.skymap's ``crossmatch(sky_map, coordinates)`` per-target fields."""
    ra, dec = np.broadcast_arrays(np.asarray(ra_deg, float), np.asarray(dec_deg, float))
    shape = ra.shape
    ra, dec = ra.reshape(-1), dec.reshape(-1)
    if np.any(~np.isfinite(dec)) or np.any(np.abs(dec) > 90) or np.any(~np.isfinite(ra)):
        raise SkyMapError("coordinates must be finite, with declinations within ±90°")
    n = ra.size
    rk = _ranking(sm)
    lk = _cached(sm, "lookup", _build_lookup)
    fields = {k: np.empty(n) for k in CrossmatchResult.__dataclass_fields__}
    # Positions: pixel look-up and offset from the mode share their trigonometry.
    ra0, dec0 = (math.radians(v) for v in mode(sm))
    z0, c0 = math.sin(dec0), math.cos(dec0)
    rows = np.empty(n, np.int64)
    for lo in range(0, n, _TARGETS):
        sl = slice(lo, lo + _TARGETS)
        ra_r = ra[sl] * _RAD
        z, cd = sin_cos_lat(dec[sl] * _RAD)
        rows[sl] = _rows_of_pixels(lk, ang2pix_nested_rad(lk.level, ra_r, z, cd))
        # Angular distance (Vincenty's formula, as astropy's separation).
        sin_d, cos_d = sin_cos(ra_r - ra0)
        cd_cos_d = cd * cos_d
        across = cd * sin_d
        along = c0 * z - z0 * cd_cos_d
        fields["offset"][sl] = np.arctan2(np.sqrt(across * across + along * along),
                                          z0 * z + c0 * cd_cos_d) * _DEG
    # Per-target work in blocks: small temporaries avoid mmap churn (see _TARGETS). Targets
    # outside the map (row -1) read the last row here and are set to NaN at the end.
    for lo in range(0, n, _TARGETS):
        sl = slice(lo, lo + _TARGETS)
        rows_b = rows[sl]
        fields["searched_area"][sl] = rk.searched_area[rows_b] * SQDEG_PER_SR
        fields["searched_prob"][sl] = rk.searched_prob[rows_b]
        fields["probdensity"][sl] = sm.probdensity[rows_b]
    three_d = distance is not None and sm.has_distance
    if three_d:
        _crossmatch_3d(sm, rows, np.broadcast_to(np.asarray(distance, float), shape).reshape(-1),
                       fields)
    else:
        for key in ("searched_prob_vol", "searched_vol", "probdensity_vol", "searched_prob_dist"):
            fields[key].fill(np.nan)
    outside = rows < 0
    if np.any(outside):
        for key, values in fields.items():
            if key not in ("offset", "searched_prob_dist"):
                values[outside] = np.nan
    return CrossmatchResult(**{k: v.reshape(shape) for k, v in fields.items()})


def _crossmatch_3d(sm: SkyMap, rows: np.ndarray, r: np.ndarray,
                   fields: dict[str, np.ndarray]) -> None:
    """The 3-D fields of ``crossmatch`` for targets in ``rows`` at distances ``r``."""
    n = rows.size
    vol = _volume(sm)
    # delta = ln c_max - u, u the log density at each target; the (P, V) table spans the
    # targets' delta beyond the sparse core (see _Volume.lookup).
    delta = np.empty(n)
    lo, hi, count = math.inf, -math.inf, 0
    for start in range(0, n, _TARGETS):
        sl = slice(start, start + _TARGETS)
        u = _log_density_vol(sm, rows[sl], r[sl])
        with np.errstate(under="ignore"):
            fields["probdensity_vol"][sl] = np.exp(u)
        d = vol.lnc_max - u
        d[rows[sl] < 0] = np.inf  # outside the map (NaN in the end): out of the table
        delta[sl] = d
        beyond = (d > vol.sparse_delta) & (d < np.inf)
        # (np.where then min: numpy's reductions with where= are several times slower)
        lo = min(lo, float(np.where(beyond, d, np.inf).min()))
        hi = max(hi, float(np.where(beyond, d, -np.inf).max()))
        count += int(np.count_nonzero(beyond))
    table = vol.table(lo, hi, count) if count else None
    finite_r = np.isfinite(r) & (r > 0)
    cdf_table = (_cdf_table(sm, float(np.where(finite_r, r, 0.0).max()))
                 if np.count_nonzero(finite_r) > 48 else None)
    for start in range(0, n, _TARGETS):
        sl = slice(start, start + _TARGETS)
        fields["searched_prob_vol"][sl], fields["searched_vol"][sl] = vol.lookup(delta[sl],
                                                                                 table)
        fields["searched_prob_dist"][sl] = (_cdf_apply(cdf_table, r[sl])
                                            if cdf_table is not None
                                            else distance_cdf(sm, r[sl]))


def _row_constants(sm: SkyMap) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: ln(D DISTNORM / (sigma sqrt(2 pi))) (-inf without distance), 1/sigma,
    mu/sigma."""
    mu, sig = sm.distmu, sm.distsigma
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lnc = np.log(sm.probdensity) + np.log(sm.distnorm) - np.log(sig) - _LN_SQRT_2PI
        good = np.isfinite(lnc) & np.isfinite(mu) & (sig > 0) & np.isfinite(sig)
        lnc = np.where(good, lnc, -np.inf)
        inv = np.where(good, 1.0 / sig, 0.0)
        mu_inv = np.where(good, mu * inv, 0.0)
    return lnc, inv, mu_inv


def _log_density_vol(sm: SkyMap, rows: np.ndarray, r: np.ndarray) -> np.ndarray:
    """ln of the probability per Mpc³ at distance ``r`` in each row (-inf where it is 0)."""
    lnc, inv, mu_inv = _cached(sm, "row_constants", _row_constants)
    with np.errstate(invalid="ignore", over="ignore"):
        t = r * inv[rows] - mu_inv[rows]
        u = lnc[rows] - 0.5 * t * t
    return np.where((r > 0) & np.isfinite(u), u, -np.inf)



# ------------------------------------------------------------------------------ fields
@dataclass(frozen=True)
class FieldProbability:
    """Probability and area (deg²) of the sky inside a field of view."""

    probability: float
    area: float


def _unit_vectors(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    cd = np.cos(dec)
    return np.stack([cd * np.cos(ra), cd * np.sin(ra), np.sin(dec)], axis=-1)


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


def probability_in_circle(sm: SkyMap, ra_deg: float, dec_deg: float,
                          radius_deg: float) -> FieldProbability:
    """Probability and area inside a circular field of view of ``radius_deg``."""
    if not 0 < radius_deg <= 180:
        raise SkyMapError("the radius must be between 0 and 180 degrees")
    center = _unit_vectors(np.float64(ra_deg), np.float64(dec_deg))
    radius = math.radians(radius_deg)

    def classify(xyz: np.ndarray, rad: np.ndarray) -> np.ndarray:
        ang = np.arccos(np.clip(xyz @ center, -1, 1))
        return np.where(ang + rad <= radius, 1, np.where(ang - rad > radius, -1, 0))

    return _field_sum(sm, classify, _detail_level(sm, radius))


def probability_in_polygon(sm: SkyMap, ra_deg: Sequence[float],
                           dec_deg: Sequence[float]) -> FieldProbability:
    """Probability and area inside a polygon whose vertices (degrees, in order) are joined by
    great-circle arcs. The polygon must fit in a hemisphere (as any telescope field does)."""
    ra = np.asarray(ra_deg, float)
    dec = np.asarray(dec_deg, float)
    if ra.shape != dec.shape or ra.ndim != 1 or ra.size < 3:
        raise SkyMapError("a polygon needs at least three (RA, Dec) vertices")
    verts = _unit_vectors(ra, dec)
    center = verts.sum(axis=0)
    norm = np.linalg.norm(center)
    if norm < 1e-9:
        raise SkyMapError("the polygon does not fit in a hemisphere")
    center /= norm
    if np.any(verts @ center <= 1e-9):
        raise SkyMapError("the polygon does not fit in a hemisphere")
    # Gnomonic projection about the centre maps great circles to straight lines.
    e1 = np.cross([0.0, 0.0, 1.0], center)
    if np.linalg.norm(e1) < 1e-9:
        e1 = np.cross([1.0, 0.0, 0.0], center)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(center, e1)
    vx = (verts @ e1) / (verts @ center)
    vy = (verts @ e2) / (verts @ center)
    a_vec = verts
    b_vec = np.roll(verts, -1, axis=0)
    normals = np.cross(a_vec, b_vec)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    extent = float(np.max(np.arccos(np.clip(verts @ center, -1, 1))))

    def point_inside(xyz: np.ndarray) -> np.ndarray:
        w = xyz @ center
        front = w > 1e-12
        wsafe = np.where(front, w, 1.0)
        px = (xyz @ e1) / wsafe
        py = (xyz @ e2) / wsafe
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
            sin_d = xyz @ n
            d_line = np.arcsin(np.clip(np.abs(sin_d), 0, 1))
            # Foot of the perpendicular within the arc?
            proj = xyz - sin_d[:, None] * n
            within = ((np.cross(a_vec[i], proj) @ n) >= 0) & ((np.cross(proj, b_vec[i]) @ n) >= 0)
            d_a = np.arccos(np.clip(xyz @ a_vec[i], -1, 1))
            d_b = np.arccos(np.clip(xyz @ b_vec[i], -1, 1))
            best = np.minimum(best, np.where(within, d_line, np.minimum(d_a, d_b)))
        return best

    def classify(xyz: np.ndarray, rad: np.ndarray) -> np.ndarray:
        inside = point_inside(xyz)
        near = edge_distance(xyz) <= rad
        return np.where(near, 0, np.where(inside, 1, -1))

    return _field_sum(sm, classify, _detail_level(sm, extent))


# ------------------------------------------------------------------------------ MOC
@dataclass(frozen=True)
class Moc:
    """A HEALPix Multi-Order Coverage map (IVOA MOC 1.1/2.0): the NUNIQ indices of its cells,
    with complete sibling groups merged into their parent."""

    uniq: np.ndarray

    @property
    def order(self) -> int:
        return int(uniq_to_level_ipix(self.uniq)[0].max()) if self.uniq.size else 0

    @property
    def area(self) -> float:
        """Area in deg²."""
        return float(np.sum(pixel_area_sr(uniq_to_level_ipix(self.uniq)[0]))) * SQDEG_PER_SR

    def cells(self) -> dict[int, list[int]]:
        """Order -> sorted nested indices."""
        level, ipix = uniq_to_level_ipix(self.uniq)
        out: dict[int, list[int]] = {}
        for lv in np.unique(level):
            out[int(lv)] = sorted(int(i) for i in ipix[level == lv])
        return out

    def to_json(self) -> dict[str, list[int]]:
        """The MOC JSON serialisation (``{"order": [ipix, ...]}``) that Aladin reads."""
        return {str(k): v for k, v in self.cells().items()}

    def to_string(self) -> str:
        """The MOC ASCII serialisation (``order/ipix-ipix,ipix order/...``)."""
        parts = []
        for order, pix in self.cells().items():
            ranges = []
            start = prev = pix[0]
            for p in pix[1:] + [None]:
                if p is not None and p == prev + 1:
                    prev = p
                    continue
                ranges.append(f"{start}" if start == prev else f"{start}-{prev}")
                if p is not None:
                    start = prev = p
            parts.append(f"{order}/" + ",".join(ranges))
        return " ".join(parts)

    def to_fits(self) -> bytes:
        """A MOC FITS file (binary table of NUNIQ indices) for Aladin and mocpy."""
        import io

        from astropy.io import fits

        col = fits.Column("UNIQ", "K", array=np.sort(self.uniq))
        hdu = fits.BinTableHDU.from_columns([col])
        for key, value in (("PIXTYPE", "HEALPIX"), ("ORDERING", "NUNIQ"),
                           ("COORDSYS", "C"), ("MOCORDER", self.order), ("MOCDIM", "SPACE"),
                           ("MOCVERS", "2.0"), ("MOCTOOL", "gwalert")):
            hdu.header[key] = value
        buf = io.BytesIO()
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
        return buf.getvalue()

    def write(self, path: str) -> None:
        """Write as FITS (``.fits``), JSON (``.json``) or ASCII (anything else)."""
        import json

        if path.endswith((".fits", ".fits.gz")):
            data = self.to_fits()
        elif path.endswith(".json"):
            data = json.dumps(self.to_json()).encode()
        else:
            data = (self.to_string() + "\n").encode()
        with open(path, "wb") as fh:
            fh.write(data)


def normalize_uniq(uniq: np.ndarray) -> np.ndarray:
    """Merge every complete group of four siblings into its parent, repeatedly."""
    uniq = np.unique(np.asarray(uniq, np.int64))
    while uniq.size >= 4:
        level, ipix = uniq_to_level_ipix(uniq)
        parent = np.where(level > 0, level_ipix_to_uniq(np.maximum(level - 1, 0), ipix >> 2), -1)
        # Groups of four consecutive entries with the same parent at level > 0.
        same = (parent[:-3] == parent[3:]) & (parent[:-3] >= 0) & ((ipix[:-3] & 3) == 0)
        starts = np.flatnonzero(same)
        if starts.size == 0:
            break
        drop = np.zeros(uniq.size, bool)
        for k in range(4):
            drop[starts + k] = True
        uniq = np.unique(np.concatenate([uniq[~drop], parent[starts]]))
    return uniq


def moc(sm: SkyMap, p: float = 0.9) -> Moc:
    """The ``p`` credible region as a MOC: the rows whose credible level is at most ``p``."""
    level = float(_levels(p))
    rk = _ranking(sm)
    return Moc(normalize_uniq(sm.uniq[rk.searched_prob <= level]))
