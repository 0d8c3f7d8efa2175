"""Many targets' 3-D credible levels by adaptive cubic Hermite interpolation of the exact
P(u) and V(u) of ``VolumeModel`` (see ``volume``'s docstring for the scheme and its checks)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .arrays import TARGET_BLOCK

if TYPE_CHECKING:
    from .volume import VolumeModel

_P_CHECK = 5e-4  # midpoint check of the cubic Hermite interpolant in P
_V_CHECK = 8e-3  # and in ln V (4e-3 took 99 exact evaluations instead of 72 on the BAYESTAR
# map, for a largest volume error over 100,000 targets of 0.46% instead of 0.53%; P unchanged)
_HEAVY_ROW = 5e-4  # rows holding more than this become nodes at their own peak,
_HEAVY = 256  # the heaviest this many of those whose peak lies among the targets' densities.
# At most 1/_HEAVY_ROW = 2,000 rows can hold that much. 64 (then the highest peaks first, some
# of them outside the targets' range) let a coarse map with a few hundred such rows
# (hypothesis: seed 493, orders 2-12 with holes) bend between nodes (0.2% of targets off by
# > 2e-3); 128 of the heaviest inside the range, a map of 768 rows all that heavy (seed 5318,
# order 3, tied densities: 0.4% off by > 2e-3, 4.4e-4 at most with 256). Over 300 generated
# maps (tests/test_skymap_differential.py's, 3,000 targets each) the 256 heaviest inside the
# range keep the largest error at 1.3e-3 (the 256 highest peaks: 1.7e-3), at a cost of rows
# x 256 exact evaluations at most.


def interpolate(vm: VolumeModel, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    lnc_max = vm.lnc_max
    y = np.log(lnc_max - x)
    by_y = np.argsort(y)  # the targets are read in this order at the end (see below)
    ys = y[by_y]
    # distinct[i]: how many distinct values precede ys[i]
    distinct = np.concatenate([[0], np.cumsum(ys[1:] != ys[:-1])])

    def exact(yn: np.ndarray) -> tuple[np.ndarray, ...]:
        """(P, dP/dy, ln V, d ln V/dy) at the nodes ``yn``."""
        u = lnc_max - np.exp(yn)
        P, V, dV = vm.evaluate_many(u, derivative=True, fast=True)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            du_dy = u - lnc_max
            return P, np.exp(u) * dV * du_dy, np.log(V), dV / V * du_dy

    # Rows holding much probability bend P sharply where they start to count (at their
    # peak): those points are nodes, so that no such bend hides between two nodes.
    heavy = _heavy_nodes(vm, ys[0], ys[-1])
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
                (np.abs(hermite(0.5, h, pa, pb, dpa, dpb) - pm) <= _P_CHECK)
                & (np.abs(hermite(0.5, h, la, lb, dla, dlb) - lm) <= _V_CHECK)
                & (np.abs(slope(h, pa, pb, dpa, dpb) - h * dpm) <= 4 * _P_CHECK)
                & (np.abs(slope(h, la, lb, dla, dlb) - h * dlm) <= 4 * _V_CHECK)
            )
        left = (a, m, pa, pm, dpa, dpm, la, lm, dla, dlm)
        right = (m, b, pm, pb, dpm, dpb, lm, lb, dlm, dlb)
        accepted.append(
            tuple(np.concatenate([c[good], d[good]]) for c, d in zip(left, right, strict=True))
        )
        bad = ~good
        pending = tuple(np.concatenate([c[bad], d[bad]]) for c, d in zip(left, right, strict=True))
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
    h = b - a
    # Per interval, one row: its ends, 1/h, and the cubics of P and ln V in f = (y - a) / h
    # (lowest degree first; the first is the value at a) with their values at b (for the
    # clip): one gather of a row per target, Horner's rule.
    with np.errstate(divide="ignore"):
        table = np.stack(
            [a, b, 1.0 / h, *cubic(h, pa, pb, dpa, dpb), pb] + [*cubic(h, la, lb, dla, dlb), lb],
            axis=1,
        )
    ea = np.concatenate([c[0] for c in by_hand])
    # Every target lies in one final interval: interpolated, or exact (by_hand). The targets
    # in y order: each interval's first target by a binary search of its start (a few hundred
    # searches, not one per target: those in random order cost 50 ns each), the sorted
    # targets' intervals by a running count, read in that order (neighbouring table rows).
    starts = np.concatenate([a, ea])
    order = np.argsort(starts, kind="stable")
    first = np.searchsorted(ys, starts[order], side="left")
    k = np.cumsum(np.bincount(first, minlength=ys.size + 1)[: ys.size]) - 1
    Ps, lVs = np.empty(y.size), np.empty(y.size)  # in y order
    oks = np.empty(y.size, bool)
    for lo in range(0, y.size, TARGET_BLOCK):  # blocks: no mmap-sized temporaries
        sl = slice(lo, lo + TARGET_BLOCK)
        yb = ys[sl]
        j = order[np.maximum(k[sl], 0)]
        ok = j < a.size
        j[~ok] = 0
        ya, yb_end, inv_h, *coef = table.take(j, axis=0).T
        ok &= (yb >= ya) & (yb <= yb_end)
        oks[sl] = ok
        f = np.subtract(yb, ya)
        f *= inv_h
        Ps[sl] = _horner(f, coef[0:5])
        lVs[sl] = _horner(f, coef[5:10])
    done[by_y] = oks
    P[by_y] = np.where(oks, Ps, 0.0)
    V[by_y] = np.where(oks, np.exp(lVs), 0.0)
    return P, V, done


def cubic(
    h: np.ndarray, y0: np.ndarray, y1: np.ndarray, d0: np.ndarray, d1: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients (lowest degree first) in f of the cubic of ``hermite``."""
    hd0, hd1 = h * d0, h * d1
    dy = y1 - y0
    return y0, hd0, 3 * dy - 2 * hd0 - hd1, hd0 + hd1 - 2 * dy


def _horner(f: np.ndarray, c: list[np.ndarray]) -> np.ndarray:
    """The cubic with coefficients c[0:4] at f, clipped to [c[0], c[4]] (its values at the
    interval's ends: P and ln V are monotonic)."""
    out = c[3] * f
    out += c[2]
    out *= f
    out += c[1]
    out *= f
    out += c[0]
    np.maximum(out, c[0], out=out)
    return np.minimum(out, c[4], out=out)


def _heavy_nodes(vm: VolumeModel, lo: float, hi: float) -> np.ndarray:
    """y of the peaks inside (lo, hi) of the rows holding more than _HEAVY_ROW of the
    probability, the heaviest _HEAVY of them."""
    groups = (vm.main, vm.neg)
    total = np.concatenate([g["row_total"] for g in groups])
    heavy = total > _HEAVY_ROW
    with np.errstate(divide="ignore", invalid="ignore"):  # the top row: y = -inf, dropped
        y = np.log(vm.lnc_max + np.concatenate([g["neg_peak"] for g in groups])[heavy])
    inside = (y > lo) & (y < hi)
    y, weight = y[inside], total[heavy][inside]
    return y[np.argsort(-weight, kind="stable")[:_HEAVY]]


def slope(
    h: np.ndarray, y0: np.ndarray, y1: np.ndarray, d0: np.ndarray, d1: np.ndarray
) -> np.ndarray:
    """h times the slope at the midpoint of the cubic of ``hermite``."""
    return 1.5 * (y1 - y0) - 0.25 * h * (d0 + d1)


def hermite(
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
