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
targets x rows is small (``_EXACT_BUDGET``); otherwise by cubic Hermite interpolation in
``y = ln(lnc_max - u)`` between exact values and exact derivatives (``dP/du = exp(u) dV/du``)
at nodes refined adaptively (``VolumeModel._interpolate``) until, on every interval holding
targets, the Hermite cubic misses an exact evaluation at the interval's midpoint by at most
5e-4 in P and 4e-3 in ln V, and its slope there by four times that (a row's interval starts
at its peak density as sqrt(ln(peak / rho)): such bends between two nodes show in the slope
first). Rows holding more than 5e-4 of the probability are nodes at their peak density.
Targets read the cubic of their half-interval, clipped to the values at its ends (P and V are
monotonic in the density). On the shared BAYESTAR map and a broad single-detector-like map
this takes 90-100 exact evaluations and the largest error over 100,000 targets is 6e-4 in P
and 0.4% in V; ``tests/test_skymap_differential.py`` forces the interpolation on generated
maps of 12 to ~3,000 rows (where a few rows carry much of the probability: the hard case)
and compares it with the exact values. An exact evaluation costs one pass over the rows whose
peak density exceeds the node's (about 25 ns per row): in each row ``P``, ``V`` and
``dV/du`` are the clipped-interval forms (``__init__``) with a correction where the interval
stays above r = 0, and rows more than e^40 above the node hold all their probability (a
prefix sum), only their volume is computed.

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

from .arrays import TARGET_BLOCK, levels, shaped
from .distance import neg_bracket, require_distance, usable_rows
from .special import erf_nonneg, norm_pdf

if TYPE_CHECKING:
    from .map import SkyMap

_INV_SQRT_2PI = 1.0 / math.sqrt(2 * math.pi)
_LN_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_SQRT2 = math.sqrt(2.0)
_SQRT1_2 = math.sqrt(0.5)
_ELEMENTS = 8192  # (nodes x rows) per block: 64 kB temporaries, below the mmap threshold;
# and below OpenBLAS's threshold (9,216) for threading a matrix-vector product, whose threads
# cost 100x the arithmetic on a loaded machine
_SPARSE_ROWS = 64  # targets where at most this many rows take part are evaluated exactly
_P_CHECK = 5e-4  # midpoint check of the cubic Hermite interpolant in P
_V_CHECK = 4e-3  # and in ln V
_EXACT_BUDGET = 1 << 22  # (targets x rows) evaluated exactly rather than interpolated
_HEAVY = 64  # at most this many rows holding > _P_CHECK become nodes at their own peak
_GRID_FRACTIONS = (0.5, 0.9)  # first nodes of the credible-volume bracketing grid
_FAR = 40.0  # rows with ln(peak / rho) beyond this hold all their probability (e^-40)


class VolumeModel:
    """The rows' constants for P(u), V(u) of the region ``ln rho >= u`` (a derived table).

    Rows are sorted by peak density; at ``u`` only the prefix of rows whose peak exceeds
    ``exp(u)`` takes part. Rows with ``mu < 0`` form a second group (upper-tail form)."""

    def __init__(self, sm: SkyMap) -> None:
        mu, sigma, norm = require_distance(sm)
        good = usable_rows(sm)
        area = sm.pixel_area
        dens = sm.probdensity
        with np.errstate(all="ignore"):
            nonneg = mu >= 0
            self.main = self._group(good & nonneg, dens, mu, sigma, norm, area, False)
            self.neg = self._group(good & ~nonneg, dens, mu, sigma, norm, area, True)
            m, n = self.main, self.neg
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
            w, mu, sigma = m.pop("weight"), m["mu"], m["sigma"]
            xm = mu / sigma  # >= 0
            cdf_neg_x = 0.5 * (1.0 - erf_nonneg(xm * _SQRT1_2))  # Phi(-x)
            sig_mu_pdf_x = sigma * mu * norm_pdf(xm)
            w_mu2s2 = w * (mu * mu + sigma * sigma)
            row_total = w_mu2s2 * (1 - cdf_neg_x) + w * sig_mu_pdf_x
            area, rt2 = m["area"], _SQRT2
            # In rq = s / sqrt 2 (q = rq^2, ph = exp(-q) = sqrt(2 pi) phi(s)), a row whose
            # interval [mu - sigma s, mu + sigma s] reaches below r = 0 ("clipped") holds
            #   P = K + c1 erf(rq) - c2 ph - c3 rq ph   (total minus the tail beyond b)
            #   V = A b^3 / 3 = v0 + v1 rq + v2 q + v3 q rq,  dV/du = -A sigma b^2 / s
            #     = -(d0 + d1 / rq + d2 rq),
            # and one that does not loses its lower part [0, a], a = mu - sigma s:
            #   dP = -K + c1 erf(rq) + c2 ph - c3 rq ph, dV = -A a^3 / 3,
            #   d(dV/du) = -A sigma a^2 / s.
            m["xr"] = mu / (sigma * rt2)  # rows with rq > xr are clipped
            m["sigma_sqrt2"] = sigma * rt2
            m["K"] = row_total - 0.5 * w_mu2s2
            m["c1"] = 0.5 * w_mu2s2
            m["c2"] = 2 * mu * sigma * w * _INV_SQRT_2PI
            m["c3"] = sigma * sigma * w * rt2 * _INV_SQRT_2PI
            mu2, a_sig3 = mu * mu, area * (sigma * sigma * sigma)
            m["v0"] = area * (mu2 * mu) / 3
            m["v1"] = area * mu2 * sigma * rt2
            m["v2"] = m["d0"] = 2 * area * mu * sigma * sigma  # read-only: one array
            m["v3"] = a_sig3 * 2 * rt2 / 3
            m["d1"] = area * sigma * mu2 / rt2
            m["d2"] = a_sig3 * rt2
            m["a3"] = area / 3
            m["a_sig"] = area * sigma / rt2
            for key in ("K", "v0", "d0"):
                m["cum_" + key] = np.concatenate([[0.0], np.cumsum(m[key])])
            m["cum_total"] = np.concatenate([[0.0], np.cumsum(row_total)])
            m["row_total"] = row_total
            total = float(np.sum(row_total) + np.sum(n["total"]))
        self.total = total if math.isfinite(total) else 0.0
        peaks = [g["neg_peak"][0] for g in (m, n) if g["neg_peak"].size]
        self.lnc_max = -float(min(peaks)) if peaks else -math.inf
        both = np.sort(
            np.concatenate([m["neg_peak"][: _SPARSE_ROWS + 1], n["neg_peak"][: _SPARSE_ROWS + 1]])
        )
        #: u above which at most _SPARSE_ROWS rows take part
        self.sparse_u = -float(both[_SPARSE_ROWS]) if both.size > _SPARSE_ROWS else -math.inf

    @staticmethod
    def _group(sel, dens, mu, sigma, norm, area, negative: bool) -> dict[str, np.ndarray]:
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

    # ------------------------------------------------------------------ exact evaluation
    def evaluate(self, u: float, derivative: bool = False) -> tuple[float, float, float]:
        """(P, V, dV/du) of the region ``ln rho >= u``; ``dP/du = exp(u) dV/du``."""
        P, V, dV = self.evaluate_many(np.array([float(u)]), derivative)
        return float(P[0]), float(V[0]), float(dV[0])

    def evaluate_many(
        self, u: np.ndarray, derivative: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(P, V, dV/du) at each finite ``u`` (1-D), exactly, in blocks of nodes x rows
        (dV/du is 0 unless ``derivative``). Main rows more than ``_FAR`` above every node of a
        block hold their whole probability there (a prefix sum); only their volume is
        computed."""
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
                sel = order[i : i + nb]
                k = int(counts[min(i + nb, u.size) - 1])  # the block's largest prefix
                far = 0
                if part == self._main_part:  # rows far above every node of the block
                    far = int(
                        np.searchsorted(g["neg_peak"], -(float(u[sel].max()) + _FAR), side="right")
                    )
                    P[sel] += g["cum_total"][far]
                step = max(1, _ELEMENTS // sel.size)
                for lo in range(0, k, step):
                    hi = min(k, lo + step)
                    bounds: tuple[tuple[int, int, bool], ...]
                    if lo < far < hi:  # split the chunk at the far boundary
                        bounds = ((lo, far, True), (far, hi, False))
                    else:
                        bounds = ((lo, hi, hi <= far),)
                    for a, b, is_far in bounds:
                        p_, v_, d_ = part(u[sel], a, b, derivative, is_far)
                        P[sel] += p_
                        V[sel] += v_
                        dV[sel] += d_
                i += nb
        return P, V, dV

    def _main_part(self, u: np.ndarray, lo: int, hi: int, derivative: bool, far: bool):
        """P (0 for far rows: counted by the caller), V and dV/du of main rows [lo, hi) at
        the nodes ``u`` (the forms are in ``__init__``)."""
        g = self.main
        sl = slice(lo, hi)
        with np.errstate(all="ignore"):
            q = g["lnc"][sl] - u[:, None]
            np.maximum(q, 0.0, out=q)  # rows beyond a node's peak contribute exactly 0
            rq = np.sqrt(q)
            qrq = q * rq
            V = (
                g["cum_v0"][hi]
                - g["cum_v0"][lo]
                + rq @ g["v1"][sl]
                + q @ g["v2"][sl]
                + qrq @ g["v3"][sl]
            )
            P = 0.0
            if not far:
                e = erf_nonneg(rq)
                ph = np.exp(-q)
                rph = rq * ph
                P = (
                    g["cum_K"][hi]
                    - g["cum_K"][lo]
                    + e @ g["c1"][sl]
                    - ph @ g["c2"][sl]
                    - rph @ g["c3"][sl]
                )
            dV = 0.0
            if derivative:
                inv = 1.0 / rq
                active = np.clip(np.searchsorted(g["neg_peak"], -u, side="left"), lo, hi)
                if active.min() < hi:  # rows beyond some node's peak: no derivative there
                    np.putmask(inv, q == 0, 0.0)
                dV = -(g["cum_d0"][active] - g["cum_d0"][lo] + inv @ g["d1"][sl] + rq @ g["d2"][sl])
            unclipped = rq <= g["xr"][sl]  # rows beyond a node's peak too (q = 0)
            if np.any(unclipped):
                a = np.where(unclipped, g["mu"][sl] - g["sigma_sqrt2"][sl] * rq, 0.0)
                a2 = a * a
                V = V - (a2 * a) @ g["a3"][sl]
                if not far:
                    uf = unclipped.astype(np.float64)
                    P = P + (
                        (uf * e) @ g["c1"][sl]
                        + (uf * ph) @ g["c2"][sl]
                        - (uf * rph) @ g["c3"][sl]
                        - uf @ g["K"][sl]
                    )
                if derivative:
                    dV = dV - (a2 * inv) @ g["a_sig"][sl]
        return P, V, dV

    def _neg_part(self, u: np.ndarray, lo: int, hi: int, derivative: bool, far: bool):
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
        """(u, V) with P(u) = p for each p in ``levels`` (to about 1e-10 relative in P): a
        growing grid of exact (P, dP/du) brackets each level, the bracket's cubic Hermite gives
        the first guess, safeguarded Newton steps the rest."""
        grid: list[tuple[float, float, float]] = [(self.lnc_max, 0.0, 0.0)]  # u, P, dP/du
        top = max((p for p in levels if p < self.total), default=0.0)
        # Nodes: first the peaks of the rows where the main rows' totals (by peak) reach 0.5
        # and 0.9 (P is below those there, and usually not far: the rows above hold it at
        # lower densities), then 1.6 times further down each time. The nodes do not depend
        # on the levels asked for: each level's result is the same alone or with others.
        m = self.main
        rows = (
            np.searchsorted(m["cum_total"], _GRID_FRACTIONS)
            if math.isfinite(self.lnc_max)
            else np.zeros(0, np.intp)
        )
        known = sorted(
            {
                d
                for d in (
                    self.lnc_max + float(m["neg_peak"][k - 1])
                    for k in rows
                    if 1 < k < m["cum_total"].size
                )
                if d > 0
            }
        )
        delta = 0.5 / 1.6
        while grid[-1][1] < top and delta < 1e6:  # P reaches its total well before
            delta = known.pop(0) if known else delta * 1.6
            u = self.lnc_max - delta
            P, _, dV = self.evaluate(u, True)
            grid.append((u, P, math.exp(u) * dV))
        return [self._solve_one(p, grid) for p in levels]

    def _solve_one(self, p: float, grid: list[tuple[float, float, float]]) -> tuple[float, float]:
        if p <= 0 or not math.isfinite(self.lnc_max):
            return (self.lnc_max, 0.0) if p <= 0 else (-math.inf, math.inf)
        above = [i for i, (_, P, _) in enumerate(grid) if P >= p]
        if p >= self.total or not above:
            return -math.inf, math.inf
        j = above[0]
        (hi, P_hi, dP_hi), (lo, P_lo, dP_lo) = grid[j - 1], grid[j]
        # First guess: where the cubic Hermite interpolant of the bracket crosses p
        # (bisection on the cubic: it starts below p and ends at or above it).
        h = lo - hi
        f0, f1 = 0.0, 1.0
        if math.isfinite(dP_hi) and math.isfinite(dP_lo):
            for _ in range(40):
                f = 0.5 * (f0 + f1)
                if _hermite(f, h, P_hi, P_lo, dP_hi, dP_lo) < p:
                    f0 = f
                else:
                    f1 = f
        u = hi + 0.5 * (f0 + f1) * h
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
            if abs(f) <= 1e-6 * p and lo <= new <= hi and abs(dV * (new - u)) <= 1e-5 * V:
                # Newton converges quadratically: this last step leaves ~1e-12; V moves
                # with it by dV/du times the step (no further evaluation), which misses
                # V by about (step / V)^2 / 2 relative: 1e-5 keeps that well below 1e-9.
                return new, V + dV * (new - u)
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
        ul = u[live]
        dense = np.flatnonzero(ul < self.sparse_u)
        rows = self.main["lnc"].size + self.neg["lnc"].size
        if dense.size > 8 and dense.size * rows > _EXACT_BUDGET:
            p, v, interpolated = self._interpolate(ul[dense])
            done = dense[interpolated]
            P[live[done]] = p[interpolated]
            V[live[done]] = v[interpolated]
            exact = np.ones(live.size, bool)
            exact[done] = False
            exact = np.flatnonzero(exact)
        else:
            exact = np.arange(live.size)
        if exact.size:
            values, inverse = np.unique(ul[exact], return_inverse=True)
            p, v, _ = self.evaluate_many(values, derivative=False)
            P[live[exact]] = p[inverse]
            V[live[exact]] = v[inverse]
        return P, V

    def _interpolate(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(P, V, interpolated) at the log densities ``x`` (any order) by adaptive cubic
        Hermite interpolation; targets where ``interpolated`` is False are left for exact
        evaluation.

        Coordinate: ``y = ln(lnc_max - u)``; each node carries exact P, ln V and their
        derivatives in y (``dP/du = exp(u) dV/du``). An interval [a, b] holding targets is
        checked at its midpoint m: accepted if the cubic Hermite interpolant through a and b
        misses the exact P(m) by at most _P_CHECK and ln V(m) by _V_CHECK; its targets then
        read the Hermite interpolant of their half, [a, m] or [m, b] (whose error is about a
        sixteenth of the check's), clipped to the values at that half's ends (P and V grow
        with y). Otherwise both halves are checked in the next round. Intervals holding one
        or two distinct target values are evaluated exactly instead."""
        lnc_max = self.lnc_max
        y = np.log(lnc_max - x)
        ys = np.sort(y)
        # distinct[i]: how many distinct values precede ys[i]
        distinct = np.concatenate([[0], np.cumsum(ys[1:] != ys[:-1])])

        def exact(yn: np.ndarray) -> tuple[np.ndarray, ...]:
            """(P, dP/dy, ln V, d ln V/dy) at the nodes ``yn``."""
            u = lnc_max - np.exp(yn)
            P, V, dV = self.evaluate_many(u, derivative=True)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                du_dy = u - lnc_max
                return P, np.exp(u) * dV * du_dy, np.log(V), dV / V * du_dy

        # Rows holding much probability bend P sharply where they start to count (at their
        # peak): those points are nodes, so that no such bend hides between two nodes.
        heavy = np.concatenate(
            [g["neg_peak"][g["row_total"] > _P_CHECK] for g in (self.main, self.neg)]
        )
        with np.errstate(divide="ignore"):  # the top row: y = -inf, dropped
            heavy = np.log(lnc_max + np.sort(heavy)[:_HEAVY])
        heavy = heavy[(heavy > ys[0]) & (heavy < ys[-1])]
        nodes = np.unique(np.concatenate([ys[[0, -1]], np.linspace(ys[0], ys[-1], 12), heavy]))
        n = exact(nodes)
        pending = (nodes[:-1], nodes[1:]) + tuple(c for v in n for c in (v[:-1], v[1:]))
        accepted: list[tuple[np.ndarray, ...]] = []
        by_hand: list[tuple[np.ndarray, np.ndarray]] = []  # intervals evaluated exactly
        for _ in range(60):
            a, b = pending[0], pending[1]
            first = np.searchsorted(ys, a, side="left")
            hi = np.searchsorted(ys, b, side="right")
            values = np.where(
                hi > first,
                distinct[np.maximum(hi - 1, 0)] - distinct[np.minimum(first, ys.size - 1)] + 1,
                0,
            )
            few = (values > 0) & (values <= 2)
            by_hand.append((a[few], b[few]))
            keep = values > 2
            if not np.any(keep):
                pending = ()
                break
            a, b, pa, pb, dpa, dpb, la, lb, dla, dlb = (c[keep] for c in pending)
            m = 0.5 * (a + b)
            pm, dpm, lm, dlm = exact(m)
            h = b - a
            with np.errstate(invalid="ignore"):
                good = (
                    (np.abs(_hermite(0.5, h, pa, pb, dpa, dpb) - pm) <= _P_CHECK)
                    & (np.abs(_hermite(0.5, h, la, lb, dla, dlb) - lm) <= _V_CHECK)
                    & (np.abs(_slope(h, pa, pb, dpa, dpb) - h * dpm) <= 4 * _P_CHECK)
                    & (np.abs(_slope(h, la, lb, dla, dlb) - h * dlm) <= 4 * _V_CHECK)
                )
            left = (a, m, pa, pm, dpa, dpm, la, lm, dla, dlm)
            right = (m, b, pm, pb, dpm, dpb, lm, lb, dlm, dlb)
            accepted.append(
                tuple(np.concatenate([c[good], d[good]]) for c, d in zip(left, right, strict=True))
            )
            bad = ~good
            pending = tuple(
                np.concatenate([c[bad], d[bad]]) for c, d in zip(left, right, strict=True)
            )
        if pending:  # not settled after 60 rounds: exact
            by_hand.append((pending[0], pending[1]))
        P = np.zeros(y.size)
        V = np.zeros(y.size)
        done = np.zeros(y.size, bool)
        if not accepted:
            return P, V, done
        a, b, pa, pb, dpa, dpb, la, lb, dla, dlb = (
            np.concatenate(c) for c in zip(*accepted, strict=True)
        )
        ea = np.concatenate([c[0] for c in by_hand])
        # Every target lies in one final interval: interpolated, or exact (by_hand).
        starts = np.concatenate([a, ea])
        order = np.argsort(starts, kind="stable")
        starts = starts[order]
        for lo in range(0, y.size, TARGET_BLOCK):  # blocks: no mmap-sized temporaries
            yb = y[lo : lo + TARGET_BLOCK]
            j = order[np.maximum(np.searchsorted(starts, yb, side="right") - 1, 0)]
            ok = j < a.size
            j[~ok] = 0
            ok &= (yb >= a[j]) & (yb <= b[j])
            done[lo : lo + TARGET_BLOCK] = ok
            t = np.flatnonzero(ok)
            j = j[t]
            h = b[j] - a[j]
            f = (yb[t] - a[j]) / h
            P[lo + t] = np.clip(_hermite(f, h, pa[j], pb[j], dpa[j], dpb[j]), pa[j], pb[j])
            V[lo + t] = np.exp(np.clip(_hermite(f, h, la[j], lb[j], dla[j], dlb[j]), la[j], lb[j]))
        return P, V, done
        a, b, pa, pb, dpa, dpb, la, lb, dla, dlb = (
            np.concatenate(c) for c in zip(*accepted, strict=True)
        )
        ea, eb = (np.concatenate(c) for c in zip(*by_hand, strict=True))
        # Every target lies in one final interval: interpolated, or exact (by_hand).
        starts = np.concatenate([a, ea])
        order = np.argsort(starts, kind="stable")
        j = order[np.maximum(np.searchsorted(starts[order], y, side="right") - 1, 0)]
        ok = j < a.size
        j = np.where(ok, j, 0)
        done = ok & (y >= a[j]) & (y <= b[j])
        t = np.flatnonzero(done)
        j = j[t]
        h = b[j] - a[j]
        f = (y[t] - a[j]) / h
        P[t] = np.clip(_hermite(f, h, pa[j], pb[j], dpa[j], dpb[j]), pa[j], pb[j])
        V[t] = np.exp(np.clip(_hermite(f, h, la[j], lb[j], dla[j], dlb[j]), la[j], lb[j]))
        return P, V, done


def _slope(
    h: np.ndarray, y0: np.ndarray, y1: np.ndarray, d0: np.ndarray, d1: np.ndarray
) -> np.ndarray:
    """h times the slope at the midpoint of the cubic of ``_hermite``."""
    return 1.5 * (y1 - y0) - 0.25 * h * (d0 + d1)


def _hermite(
    f: Any,
    h: np.ndarray | float,
    y0: np.ndarray | float,
    y1: np.ndarray | float,
    d0: np.ndarray | float,
    d1: np.ndarray | float,
) -> Any:
    """The cubic through (0, y0) and (1, y1) with slopes h d0 and h d1, at fraction f."""
    g = 1 - f
    return g * g * ((1 + 2 * f) * y0 + f * h * d0) + f * f * ((3 - 2 * f) * y1 - g * h * d1)


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
    mu, sig, norm = require_distance(sm)
    good = usable_rows(sm)
    with np.errstate(all="ignore"):
        lnc = np.log(sm.probdensity) + np.log(norm) - np.log(sig) - _LN_SQRT_2PI
        lnc = np.where(good, lnc, -np.inf)
        inv = np.where(good, 1.0 / sig, 0.0)
        mu_inv = np.where(good, mu * inv, 0.0)
    return lnc, inv, mu_inv
