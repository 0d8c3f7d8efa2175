"""3-D credible regions: exact probability and volume of ``{dP/dV >= rho*}``.

Within one pixel of solid angle A and density D (per sr) the distance ansatz gives the
probability per unit volume ``rho(r) = D * DISTNORM * N(r; DISTMU, DISTSIGMA)`` (the ``r^2`` of
the ansatz cancels against the volume element). In each pixel ``rho >= rho*`` is one distance
interval ``[max(0, mu - sigma s), mu + sigma s]`` with ``s = sqrt(2 ln(c / rho*))``,
``c = D DISTNORM / (sigma sqrt(2 pi))``, whose probability (``D A DISTNORM`` times a closed form
in erf and the normal density) and volume (``A (b^3 - a^3) / 3``) are exact. The peak of
``rho`` is at ``r = mu``, or at ``r = 0`` when ``mu < 0``; those rows use the upper-tail form
with Mills' ratio (see ``distance.neg_bracket``), which does not cancel.

Rows without usable parameters (non-finite, ``DISTSIGMA <= 0`` or infinite, ``DISTNORM <= 0``,
zero density, or values so large that their cubes overflow) have zero 3-D density: they hold no
volume probability (a target there gets ``searched_prob_vol`` = the total and
``searched_vol`` = inf).

``credible_volume`` solves ``P(rho*) = p`` by safeguarded Newton iteration on ``ln rho*`` (the
derivative is exact too: ``dP = rho* dV``). ``searched`` gives each target's ``P`` and ``V`` at
the density where it sits: exactly for targets near the peak (few rows take part) and when
targets are few; otherwise by quadratic interpolation between exact values at nodes refined
adaptively (``VolumeModel._interpolate``) until, on every interval holding targets, the
straight line misses an exact evaluation at the interval's midpoint by at most 1e-3 in P and
5e-3 in ln V, and each half spans at most 1e-2 in P. P and V are monotonic in the density and
the interpolant is clipped to its half-interval's end values, so no target can be further than
1e-2 from the exact P (a bound, whatever the map); the parabola through three exact values
keeps typical errors near 1e-5 (``tests/test_skymap_differential.py`` compares with an
independent Gauss-Legendre integration on generated near, far, broad and negative-DISTMU maps).

ligo.skymap instead discretises distance into 999 shells of width ``6 * distmean / 1000``
and ignores probability beyond ``6 * distmean``; its ``searched_prob_vol`` and
``probdensity_vol`` can be several percent off on broad maps, where gwalert's are the exact
integral of the ansatz; volumes agree within 1% on real maps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .arrays import levels, shaped
from .distance import neg_bracket, require_distance, usable_rows
from .special import erf_nonneg, norm_cdf, norm_pdf

if TYPE_CHECKING:
    from .map import SkyMap

_INV_SQRT_2PI = 1.0 / math.sqrt(2 * math.pi)
_LN_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_SQRT2 = math.sqrt(2.0)
_ELEMENTS = 6144  # (nodes x rows) per block: 48 kB temporaries, below the mmap threshold
_SPARSE_ROWS = 64  # targets where at most this many rows take part are evaluated exactly
_CAP = 1e-2  # largest P span of an interval that interpolates targets
_P_CHECK = 1e-3  # midpoint check of the straight line in P
_V_CHECK = 5e-3  # and in ln V


class VolumeModel:
    """The rows' constants for P(u), V(u) of the region ``ln rho >= u`` (a derived table).

    Rows are sorted by peak density; at ``u`` only the prefix of rows whose peak exceeds
    ``exp(u)`` takes part. Rows with ``mu < 0`` form a second group (upper-tail form)."""

    def __init__(self, sm: SkyMap) -> None:
        require_distance(sm)
        good = usable_rows(sm)
        area = sm.pixel_area
        dens, mu, sigma, norm = sm.probdensity, sm.distmu, sm.distsigma, sm.distnorm
        with np.errstate(all="ignore"):
            self.main = self._group(good & (mu >= 0), dens, mu, sigma, norm, area)
            self.neg = self._group(good & (mu < 0), dens, mu, sigma, norm, area)
            m, n = self.main, self.neg
            x = n["mu"] / n["sigma"]
            n["x"] = x
            n["bracket0"] = neg_bracket(x, -x)
            n["total"] = np.exp(np.log(n["weight"]) + 2 * np.log(n["sigma"]) - 0.5 * x * x
                                - _LN_SQRT_2PI + np.log(n["bracket0"]))
            w, mu, sigma = m.pop("weight"), m["mu"], m["sigma"]
            cdf_neg_x = norm_cdf(-mu / sigma)  # Phi(-x)
            sig_mu_pdf_x = sigma * mu * norm_pdf(mu / sigma)
            w_mu2s2 = w * (mu * mu + sigma * sigma)
            m["w_mu2s2"] = w_mu2s2
            m["w_2s2"] = w * 2 * sigma ** 2 * _INV_SQRT_2PI * _SQRT2  # per s / sqrt(2)
            m["sigma_sqrt2"] = sigma * _SQRT2
            m["area_6mu2"] = 6 * mu * mu * m["area"]
            m["area_2"] = 2 * m["area"]
            # w [F(-s) - F(-x)] = clip0 - w_mu2s2 erf(s/sqrt2) / 2 - (clip_ph - clip_ss_ph
            # sigma s) ph, ph = exp(-s^2/2): the part of [mu - sigma s, 0] cut off at r = 0.
            m["clip0"] = w_mu2s2 * (0.5 - cdf_neg_x) + w * sig_mu_pdf_x
            m["clip_ss_ph"] = w * sigma * _INV_SQRT_2PI
            m["clip_ph"] = 2 * mu * m["clip_ss_ph"]
            total = float(np.sum(w_mu2s2 * (1 - cdf_neg_x) + w * sig_mu_pdf_x)
                          + np.sum(n["total"]))
        self.total = total if math.isfinite(total) else 0.0
        peaks = [g["neg_peak"][0] for g in (m, n) if g["neg_peak"].size]
        self.lnc_max = -float(min(peaks)) if peaks else -math.inf
        both = np.sort(np.concatenate([m["neg_peak"][:_SPARSE_ROWS + 1],
                                       n["neg_peak"][:_SPARSE_ROWS + 1]]))
        #: u above which at most _SPARSE_ROWS rows take part
        self.sparse_u = (-float(both[_SPARSE_ROWS]) if both.size > _SPARSE_ROWS
                         else -math.inf)

    @staticmethod
    def _group(sel, dens, mu, sigma, norm, area) -> dict[str, np.ndarray]:
        idx = np.flatnonzero(sel)
        lnc = np.log(dens[idx]) + np.log(norm[idx]) - np.log(sigma[idx]) - _LN_SQRT_2PI
        x = mu[idx] / sigma[idx]
        peak = lnc - 0.5 * np.where(x < 0, x * x, 0.0)
        order = np.argsort(peak, kind="stable")[::-1]
        idx = idx[order]
        return {"lnc": lnc[order], "neg_peak": -peak[order], "mu": mu[idx],
                "sigma": sigma[idx], "area": area[idx],
                "weight": dens[idx] * area[idx] * norm[idx]}

    # ------------------------------------------------------------------ exact evaluation
    def evaluate(self, u: float, derivative: bool = False) -> tuple[float, float, float]:
        """(P, V, dV/du) of the region ``ln rho >= u``; ``dP/du = exp(u) dV/du``."""
        P, V, dV = self.evaluate_many(np.array([float(u)]), derivative)
        return float(P[0]), float(V[0]), float(dV[0])

    def evaluate_many(self, u: np.ndarray,
                      derivative: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(P, V, dV/du) at each finite ``u`` (1-D), exactly, in blocks of nodes x rows
        (dV/du is 0 unless ``derivative``)."""
        u = np.asarray(u, np.float64)
        P = np.zeros(u.size)
        V = np.zeros(u.size)
        dV = np.zeros(u.size)
        order = np.argsort(u)[::-1]  # nodes with similar active prefixes together
        for g, part in ((self.main, self._main_part), (self.neg, self._neg_part)):
            counts = np.searchsorted(g["neg_peak"], -u[order], side="left")
            i = 0
            while i < u.size:
                k = int(counts[i])
                if k == 0:
                    i += 1
                    continue
                rows = min(k, _ELEMENTS)
                nb = max(1, _ELEMENTS // rows)
                sel = order[i:i + nb]
                k = int(counts[min(i + nb, u.size) - 1])  # the block's largest prefix
                for lo in range(0, k, max(1, _ELEMENTS // sel.size)):
                    hi = min(k, lo + max(1, _ELEMENTS // sel.size))
                    p_, v_, d_ = part(u[sel], lo, hi, derivative)
                    P[sel] += p_
                    V[sel] += v_
                    dV[sel] += d_
                i += nb
        return P, V, dV

    def _main_part(self, u: np.ndarray, lo: int, hi: int, derivative: bool):
        g = self.main
        with np.errstate(all="ignore"):
            q = g["lnc"][lo:hi] - u[:, None]
            np.maximum(q, 0.0, out=q)  # rows beyond a node's peak contribute exactly 0
            mu = g["mu"][lo:hi]
            rq = np.sqrt(q)  # s / sqrt(2)
            e = erf_nonneg(rq)  # erf(s / sqrt 2)
            ph = np.exp(-q)  # sqrt(2 pi) phi(s)
            ss = g["sigma_sqrt2"][lo:hi] * rq  # sigma s
            # w [F(s) - F(-s)] = w [(mu^2 + sigma^2) erf(s/sqrt2) - 2 sigma^2 s phi(s)]
            P = e @ g["w_mu2s2"][lo:hi] - (rq * ph) @ g["w_2s2"][lo:hi]
            # b^3 - a^3 with b, a = mu +- sigma s: 6 mu^2 sigma s + 2 (sigma s)^3 (no cancellation)
            V = (ss @ g["area_6mu2"][lo:hi] + (ss * ss * ss) @ g["area_2"][lo:hi]) / 3
            clipped = ss > mu  # the interval reaches below r = 0
            if np.any(clipped):
                corr = (g["clip0"][lo:hi] - 0.5 * g["w_mu2s2"][lo:hi] * e
                        - (g["clip_ph"][lo:hi] - g["clip_ss_ph"][lo:hi] * ss) * ph)
                P = P + np.where(clipped, corr, 0.0).sum(axis=1)
                a_neg = np.where(clipped, mu - ss, 0.0)  # the part below 0 leaves the volume
                V = V + (a_neg * a_neg * a_neg) @ g["area"][lo:hi] / 3
            dV = 0.0
            if derivative:
                b = mu + ss
                a_pos = np.maximum(mu - ss, 0.0)
                dv = g["area"][lo:hi] * g["sigma"][lo:hi] * (b * b + a_pos * a_pos) / (
                    rq * _SQRT2)
                dV = -np.where(q > 0, dv, 0.0).sum(axis=1)
        return P, V, dV

    def _neg_part(self, u: np.ndarray, lo: int, hi: int, derivative: bool):
        g = self.neg
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

    # ------------------------------------------------------------------ credible volumes
    def solve(self, levels: Sequence[float]) -> list[tuple[float, float]]:
        """(u, V) with P(u) = p for each p in ``levels`` (to 1e-10 relative in P)."""
        grid: list[tuple[float, float]] = [(self.lnc_max, 0.0)]
        top = max((p for p in levels if p < self.total), default=0.0)
        delta = 0.5
        while grid[-1][1] < top and delta < 1e6:  # P reaches its total well before
            u = self.lnc_max - delta
            grid.append((u, self.evaluate(u)[0]))
            delta *= 2
        return [self._solve_one(p, grid) for p in levels]

    def _solve_one(self, p: float, grid: list[tuple[float, float]]) -> tuple[float, float]:
        if p <= 0 or not math.isfinite(self.lnc_max):
            return (self.lnc_max, 0.0) if p <= 0 else (-math.inf, math.inf)
        above = [i for i, (_, P) in enumerate(grid) if P >= p]
        if p >= self.total or not above:
            return -math.inf, math.inf
        j = above[0]
        (hi, P_hi), (lo, P_lo) = grid[j - 1], grid[j]
        d_lo, d_hi = self.lnc_max - lo, self.lnc_max - hi
        if P_hi > 0:  # first guess: P ~ delta^k between the bracket ends
            k = math.log(P_lo / P_hi) / math.log(d_lo / d_hi)
            u = self.lnc_max - d_hi * (p / P_hi) ** (1 / k)
        else:
            u = 0.5 * (lo + hi)
        if not lo < u < hi:
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

    # ------------------------------------------------------------------ many targets
    def searched(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P, V) at log densities ``u`` (1-D): (0, 0) at or above the peak, (total, inf)
        where the density is 0 (u = -inf), otherwise exact or adaptively interpolated (see
        the module docstring)."""
        u = np.asarray(u, np.float64)
        P = np.zeros(u.size)
        V = np.zeros(u.size)
        zero = ~(u > -np.inf)  # -inf and NaN: no density there
        P[zero] = self.total
        V[zero] = np.inf
        live = np.flatnonzero(~zero & (u < self.lnc_max))
        if live.size == 0:
            return P, V
        values, inverse = np.unique(u[live], return_inverse=True)  # ascending
        sparse = values >= self.sparse_u
        exact = np.flatnonzero(sparse)
        vp = np.empty(values.size)
        vv = np.empty(values.size)
        dense = np.flatnonzero(~sparse)
        if dense.size > 8:
            more = self._interpolate(values[dense], vp, vv, dense)
            exact = np.concatenate([exact, more])
        else:
            exact = np.concatenate([exact, dense])
        if exact.size:
            vp[exact], vv[exact], _ = self.evaluate_many(values[exact], derivative=False)
        P[live] = vp[inverse]
        V[live] = vv[inverse]
        return P, V

    def _interpolate(self, x: np.ndarray, vp: np.ndarray, vv: np.ndarray,
                     where: np.ndarray) -> np.ndarray:
        """Fill vp/vv[where] for the sorted log densities ``x`` by adaptive quadratic
        interpolation; returns the indices (into vp) left for exact evaluation.

        Coordinate: ``y = ln(lnc_max - u)``. An interval [a, b] holding targets is checked at
        its midpoint m: accepted if the straight line between a and b misses P(m) by at most
        _P_CHECK and ln V(m) by _V_CHECK, and P changes by at most _CAP over [a, m] and over
        [m, b]; its targets then read the parabola through a, m, b, clipped to the values at
        the ends of their half (P and V grow with y). Otherwise both halves are checked in
        the next round. Intervals holding one or two targets are evaluated exactly instead."""
        lnc_max = self.lnc_max
        y = np.log(lnc_max - x)[::-1]  # ascending
        idx = where[::-1]
        nodes = np.unique(np.concatenate([y[[0, -1]], np.linspace(y[0], y[-1], 18)]))
        nP, nV, _ = self.evaluate_many(lnc_max - np.exp(nodes), derivative=False)
        pending = [(nodes[:-1], nodes[1:], nP[:-1], nP[1:], nV[:-1], nV[1:])]
        exact: list[np.ndarray] = []
        accepted: list[tuple[np.ndarray, ...]] = []
        for _ in range(60):
            a, b, pa, pb, va, vb = (np.concatenate(c) for c in zip(*pending, strict=True))
            lo = np.searchsorted(y, a, side="left")
            hi = np.searchsorted(y, b, side="right")
            count = hi - lo
            few = (count > 0) & (count <= 2)
            for j in np.flatnonzero(few):
                exact.append(np.arange(lo[j], hi[j]))
            keep = count > 2
            pending = []
            if not np.any(keep):
                break
            a, b, pa, pb, va, vb = (c[keep] for c in (a, b, pa, pb, va, vb))
            m = 0.5 * (a + b)
            pm, vm, _ = self.evaluate_many(lnc_max - np.exp(m), derivative=False)
            with np.errstate(divide="ignore", invalid="ignore"):
                lva, lvb, lvm = (np.log(v) for v in (va, vb, vm))
                good = ((np.abs(0.5 * (pa + pb) - pm) <= _P_CHECK)
                        & (np.abs(0.5 * (lva + lvb) - lvm) <= _V_CHECK)
                        & (pm - pa <= _CAP) & (pb - pm <= _CAP))
            accepted.append(tuple(c[good] for c in (a, m, b, pa, pm, pb, lva, lvm, lvb)))
            bad = ~good
            pending = [(a[bad], m[bad], pa[bad], pm[bad], va[bad], vm[bad]),
                       (m[bad], b[bad], pm[bad], pb[bad], vm[bad], vb[bad])]
        for a, b, *_ in pending:  # not settled after 60 rounds: exact
            lo = np.searchsorted(y, a, side="left")
            hi = np.searchsorted(y, b, side="right")
            exact.extend(np.arange(lo[j], hi[j]) for j in range(a.size))
        inside = np.zeros(y.size, bool)
        if sum(c[0].size for c in accepted):
            a, m, b, pa, pm, pb, la, lm, lb = (np.concatenate(c)
                                               for c in zip(*accepted, strict=True))
            order = np.argsort(a)
            a, m, b, pa, pm, pb, la, lm, lb = (c[order]
                                               for c in (a, m, b, pa, pm, pb, la, lm, lb))
            j = np.searchsorted(a, y, side="right") - 1
            inside = (j >= 0) & (y <= b[np.maximum(j, 0)])
            t = np.flatnonzero(inside)
            j = j[t]
            # The parabola through (a, m, b) at fraction f of the way (0, 1/2, 1 at a, m, b).
            f = (y[t] - a[j]) / (b[j] - a[j])
            w_a = (1 - f) * (1 - 2 * f)
            w_m = 4 * f * (1 - f)
            w_b = f * (2 * f - 1)
            first = f <= 0.5
            p_lo, p_hi = np.where(first, pa[j], pm[j]), np.where(first, pm[j], pb[j])
            l_lo, l_hi = np.where(first, la[j], lm[j]), np.where(first, lm[j], lb[j])
            vp[idx[t]] = np.clip(w_a * pa[j] + w_m * pm[j] + w_b * pb[j], p_lo, p_hi)
            vv[idx[t]] = np.exp(np.clip(w_a * la[j] + w_m * lm[j] + w_b * lb[j], l_lo, l_hi))
        rest = np.concatenate(exact) if exact else np.empty(0, np.intp)
        rest = np.union1d(rest, np.flatnonzero(~inside))
        return idx[rest]


def credible_volume(sm: SkyMap, p: Any) -> Any:
    """Volume in Mpc³ of the smallest 3-D region holding probability ``p`` (any shape)."""
    lv = levels(p)
    vol = sm.volume_model
    out = np.array([v for _, v in vol.solve([float(x) for x in lv.reshape(-1)])])
    return shaped(out, lv.shape)


def log_density_vol(sm: SkyMap, rows: np.ndarray, r: np.ndarray) -> np.ndarray:
    """ln of the probability per Mpc³ at distance ``r`` in each row (-inf where it is 0,
    outside the map (row -1) included)."""
    lnc, inv, mu_inv = sm.volume_constants
    with np.errstate(invalid="ignore", over="ignore"):
        t = r * inv[rows] - mu_inv[rows]
        u = lnc[rows] - 0.5 * t * t
    return np.where((r > 0) & (rows >= 0) & np.isfinite(u), u, -np.inf)


def volume_constants(sm: SkyMap) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: ln(D DISTNORM / (sigma sqrt(2 pi))) (-inf for unusable rows), 1/sigma,
    mu/sigma (a derived table)."""
    good = usable_rows(sm)
    mu, sig = sm.distmu, sm.distsigma
    with np.errstate(all="ignore"):
        lnc = np.log(sm.probdensity) + np.log(sm.distnorm) - np.log(sig) - _LN_SQRT_2PI
        lnc = np.where(good, lnc, -np.inf)
        inv = np.where(good, 1.0 / sig, 0.0)
        mu_inv = np.where(good, mu * inv, 0.0)
    return lnc, inv, mu_inv
