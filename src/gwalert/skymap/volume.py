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
at nodes refined adaptively (``volume_interp.interpolate``) until, on every interval holding
targets, the Hermite cubic misses an exact evaluation at the interval's midpoint by at most
5e-4 in P and 8e-3 in ln V, and its slope there by four times that (a row's interval starts
at its peak density as sqrt(ln(peak / rho)): such bends between two nodes show in the slope
first). The heaviest 256 rows holding more than 5e-4 of the probability each are nodes at
their peak density. Targets read the cubic of their half-interval, clipped to the values at
its ends (P and V are monotonic in the density). On the shared BAYESTAR map this takes 72
exact evaluations, on a broad single-detector-like map 96, and the largest error over 100,000
targets is 8e-4 in P and 0.5% in V (9e-4 and 0.5% on the other real maps of ``../shared``);
``tests/test_skymap_differential.py`` forces the interpolation on generated maps of 12 to
~3,000 rows (where a few rows carry much of the probability: the hard case) and compares it
with the exact values (over 300 such maps the largest error is 1.3e-3 in P). An exact
evaluation costs one pass over the rows whose peak density exceeds the node's: one square
root, one erf and one exp per row (``volume_rows``); rows more than e^40 above the node hold
all their probability (a prefix sum), only their volume is computed, and that in fewer passes
(their interval is clipped at r = 0 unless mu / sigma > 7). The nodes of many targets use
the fast variant (``fast=True``: erf to 4e-12 by ``special.erf_fast_nonneg``, and e^25
instead of e^40 for the far rows, which then miss at most 8e-11 of their probability): P
within 1e-10 of the closed form, V to rounding; ``credible_volume`` keeps the exact one. The
modules: ``volume_rows`` (the closed forms), ``volume_solve`` (credible volumes),
``volume_interp`` (many targets).

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
from .distance import require_distance, usable_rows
from .volume_interp import interpolate
from .volume_rows import FAR, FAR_FAST, main_part, neg_part, row_groups
from .volume_solve import solve

if TYPE_CHECKING:
    from .map import SkyMap

_LN_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_ELEMENTS = 8192  # (nodes x rows) per block: 64 kB temporaries, below the mmap threshold;
# and below OpenBLAS's threshold (9,216) for threading a matrix-vector product, whose threads
# cost 100x the arithmetic on a loaded machine
_SPARSE_ROWS = 64  # targets where at most this many rows take part are evaluated exactly
_EXACT_BUDGET = 1 << 22  # (targets x rows) evaluated exactly rather than interpolated


class VolumeModel:
    """The rows' constants for P(u), V(u) of the region ``ln rho >= u`` (a derived table).

    Rows are sorted by peak density; at ``u`` only the prefix of rows whose peak exceeds
    ``exp(u)`` takes part. Rows with ``mu < 0`` form a second group (upper-tail form)."""

    def __init__(self, sm: SkyMap) -> None:
        self.main, self.neg = m, n = row_groups(sm)
        total = float(np.sum(m["row_total"]) + np.sum(n["total"]))
        self.total = total if math.isfinite(total) else 0.0
        peaks = [g["neg_peak"][0] for g in (m, n) if g["neg_peak"].size]
        self.lnc_max = -float(min(peaks)) if peaks else -math.inf
        both = np.sort(
            np.concatenate([m["neg_peak"][: _SPARSE_ROWS + 1], n["neg_peak"][: _SPARSE_ROWS + 1]])
        )
        #: u above which at most _SPARSE_ROWS rows take part
        self.sparse_u = -float(both[_SPARSE_ROWS]) if both.size > _SPARSE_ROWS else -math.inf

    # ------------------------------------------------------------------ exact evaluation
    def evaluate(self, u: float, derivative: bool = False) -> tuple[float, float, float]:
        """(P, V, dV/du) of the region ``ln rho >= u``; ``dP/du = exp(u) dV/du``."""
        P, V, dV = self.evaluate_many(np.array([float(u)]), derivative)
        return float(P[0]), float(V[0]), float(dV[0])

    def evaluate_many(
        self, u: np.ndarray, derivative: bool = True, fast: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(P, V, dV/du) at each finite ``u`` (1-D), exactly, in blocks of nodes x rows
        (dV/du is 0 unless ``derivative``). Main rows more than ``FAR`` above every node of a
        block hold their whole probability there (a prefix sum); only their volume is
        computed. ``fast`` (many targets' levels): ``FAR_FAST`` instead of ``FAR`` and
        ``erf_fast_nonneg``: P within 1e-10 of the exact value (see ``volume_rows``)."""
        far_q = FAR_FAST if fast else FAR
        u = np.asarray(u, np.float64)
        P = np.zeros(u.size)
        V = np.zeros(u.size)
        dV = np.zeros(u.size)
        order = np.argsort(u)[::-1]  # nodes with similar active prefixes together
        for g, part in ((self.main, main_part), (self.neg, neg_part)):
            counts = np.searchsorted(g["neg_peak"], -u[order], side="left")
            i = 0
            while i < u.size:
                k = int(counts[i])
                if k == 0:
                    i += 1
                    continue
                nb = _block_nodes(counts, i)
                sel = order[i : i + nb]
                k = int(counts[i + nb - 1])  # the block's largest prefix
                far = 0
                if part is main_part:  # rows far above every node of the block
                    far = int(
                        np.searchsorted(g["neg_peak"], -(float(u[sel].max()) + far_q), side="right")
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
                        p_, v_, d_ = part(g, u[sel], a, b, derivative, is_far, fast)
                        P[sel] += p_
                        V[sel] += v_
                        dV[sel] += d_
                i += nb
        return P, V, dV

    def solve(self, levels: Sequence[float]) -> list[tuple[float, float]]:
        """(u, V) with P(u) = p for each p in ``levels`` (see ``volume_solve.solve``)."""
        return solve(self, levels)

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
            p, v, interpolated = interpolate(self, ul[dense])
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
            p, v, _ = self.evaluate_many(values, derivative=False, fast=True)
            P[live[exact]] = p[inverse]
            V[live[exact]] = v[inverse]
        return P, V


def _block_nodes(counts: np.ndarray, i: int) -> int:
    """How many nodes from ``i`` on (their active rows ``counts`` grow) form a block: as
    many as keep nodes x the largest count within _ELEMENTS, at least one. (A block sized
    by its first node alone took up to all nodes at the prefix of its last: a round's
    nodes near the peak pulled the others' rows into few-row chunks, without far rows.)"""
    window = counts[i : i + max(1, _ELEMENTS // max(int(counts[i]), 1))]
    fits = np.arange(1, window.size + 1) * window <= _ELEMENTS
    return max(1, int(np.argmin(fits)) if not fits.all() else window.size)


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
