"""Credible volumes: the threshold ``u`` where the 3-D region ``ln rho >= u`` holds
probability ``p`` (``P(u) = p``) and the region's volume, from the exact evaluation of
``VolumeModel`` (see ``volume``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .volume_interp import hermite

if TYPE_CHECKING:
    from .volume import VolumeModel

_GRID_FRACTIONS = (0.5, 0.9)  # first nodes of the credible-volume bracketing grid


def solve(vm: VolumeModel, levels: Sequence[float]) -> list[tuple[float, float]]:
    """(u, V) with P(u) = p for each p in ``levels`` (to about 1e-10 relative in P): a
    growing grid of exact (P, dP/du) brackets each level, the bracket's cubic Hermite gives
    the first guess, safeguarded Newton steps the rest."""
    grid: list[tuple[float, float, float]] = [(vm.lnc_max, 0.0, 0.0)]  # u, P, dP/du
    top = max((p for p in levels if p < vm.total), default=0.0)
    # Nodes: first the peaks of the rows where the main rows' totals (by peak) reach 0.5
    # and 0.9 (P is below those there, and usually not far: the rows above hold it at
    # lower densities), then 1.6 times further down each time. The nodes do not depend
    # on the levels asked for: each level's result is the same alone or with others.
    m = vm.main
    rows = (
        np.searchsorted(m["cum_total"], _GRID_FRACTIONS)
        if math.isfinite(vm.lnc_max)
        else np.zeros(0, np.intp)
    )
    known = sorted(
        {
            d
            for d in (
                vm.lnc_max + float(m["neg_peak"][k - 1])
                for k in rows
                if 1 < k < m["cum_total"].size
            )
            if d > 0
        }
    )
    delta = 0.5 / 1.6
    while grid[-1][1] < top and delta < 1e6:  # P reaches its total well before
        delta = known.pop(0) if known else delta * 1.6
        u = vm.lnc_max - delta
        P, _, dV = vm.evaluate(u, True)
        grid.append((u, P, math.exp(u) * dV))
    return [_solve_one(vm, p, grid) for p in levels]


def _solve_one(
    vm: VolumeModel, p: float, grid: list[tuple[float, float, float]]
) -> tuple[float, float]:
    if p <= 0 or not math.isfinite(vm.lnc_max):
        return (vm.lnc_max, 0.0) if p <= 0 else (-math.inf, math.inf)
    above = [i for i, (_, P, _) in enumerate(grid) if P >= p]
    if p >= vm.total or not above:
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
            if hermite(f, h, P_hi, P_lo, dP_hi, dP_lo) < p:
                f0 = f
            else:
                f1 = f
    u = hi + 0.5 * (f0 + f1) * h
    if not lo < u < hi:
        u = 0.5 * (lo + hi)
    V = math.nan
    for _ in range(200):
        P, V, dV = vm.evaluate(u, True)
        f = P - p
        if abs(f) <= 1e-10 * p:
            break
        if f > 0:
            lo = u
        else:
            hi = u
        dP = math.exp(u) * dV
        # The volume returned is always the one evaluated at the u returned: a last Newton
        # step taken without evaluating (V moved along dV/du) missed V by 1e-6 relative where
        # a row starts to count just there (P bends: hypothesis, seed 2, orders 0-2).
        new = u - f / dP if dP < 0 else math.nan
        if not (lo < new < hi):
            new = 0.5 * (lo + hi)
        if hi - lo <= 1e-14 * max(1.0, abs(u)):
            break
        u = new
    return u, V
