"""Choosing fields: the largest probability covered by the union of N fields (maximum
coverage), by a fast greedy and by an exact MILP (scipy.optimize.milp, i.e. HiGHS).

The sky is cut into atoms: the pieces on which every candidate field is either wholly in or
wholly out (from the fields' pixelised ranges, see ``coverage``); atoms covered by exactly the
same fields are merged. Covering is then a weighted set-cover problem over atoms, so the union's
probability counts every overlap once.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .coverage import Cells, MapIntegral


@dataclass(frozen=True)
class Incidence:
    """Fields × atoms: ``matrix[i, j]`` = 1 when field i covers atom j (CSR), atom
    probabilities ``prob``."""

    matrix: Any  # scipy.sparse.csr_matrix
    prob: np.ndarray

    @property
    def n_fields(self) -> int:
        return int(self.matrix.shape[0])


def incidence(integral: MapIntegral, cells: Cells) -> Incidence:
    from scipy import sparse

    if cells.start.size == 0:
        return Incidence(sparse.csr_matrix((cells.n_fields, 0)), np.zeros(0))
    cuts = np.unique(np.concatenate([cells.start, cells.stop]))
    cum = integral.cumulative(cuts)
    atom_prob = np.diff(cum)
    a = np.searchsorted(cuts, cells.start)
    b = np.searchsorted(cuts, cells.stop)
    lengths = b - a
    rows = np.repeat(cells.field, lengths)
    offsets = np.repeat(a - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    cols = np.arange(rows.size, dtype=np.int64) + offsets
    # merge atoms covered by the same set of fields: hash each atom's set as a sum of random
    # 64-bit keys of its fields (wrapping), two independent keys against collisions
    rng = np.random.default_rng(20240601)
    keys = rng.integers(1, 2**62, size=(2, cells.n_fields), dtype=np.int64)
    h1 = np.zeros(atom_prob.size, np.int64)
    h2 = np.zeros(atom_prob.size, np.int64)
    with np.errstate(over="ignore"):
        np.add.at(h1, cols, keys[0, rows])
        np.add.at(h2, cols, keys[1, rows])
    covered = np.zeros(atom_prob.size, bool)
    covered[cols] = True
    _, group = np.unique(np.column_stack([h1, h2]), axis=0, return_inverse=True)
    group = group.reshape(-1)
    keep = np.unique(group[covered])
    remap = np.full(int(group.max()) + 1, -1, np.int64)
    remap[keep] = np.arange(keep.size)
    gprob = np.bincount(remap[group[covered]], atom_prob[covered], minlength=keep.size)
    gcol = remap[group[cols]]
    m = sparse.csr_matrix((np.ones(rows.size), (rows, gcol)), shape=(cells.n_fields, keep.size))
    m.data[:] = 1.0  # duplicates summed by the constructor: back to 0/1
    return Incidence(m, gprob)


def greedy(inc: Incidence, n: int, exclude: np.ndarray | None = None) -> list[int]:
    """Fields in the order a greedy picks them: each adds the most new probability. Stops at
    ``n`` fields or when no field adds any."""
    m = inc.matrix
    left = inc.prob.copy()
    banned = np.zeros(inc.n_fields, bool)
    if exclude is not None:
        banned[exclude] = True
    csr = m
    chosen: list[int] = []
    for _ in range(min(n, inc.n_fields)):
        gain = csr @ left
        gain[banned] = -1.0
        best = int(np.argmax(gain))
        if gain[best] <= 0:
            break
        chosen.append(best)
        banned[best] = True
        lo, hi = csr.indptr[best], csr.indptr[best + 1]
        left[csr.indices[lo:hi]] = 0.0
    return chosen


def order_by_gain(inc: Incidence, fields: list[int]) -> list[int]:
    """Put a set of fields in greedy order (most new probability first)."""
    sub = Incidence(inc.matrix[fields], inc.prob)
    picked = greedy(sub, len(fields))
    rest = [i for i in range(len(fields)) if i not in set(picked)]
    return [fields[i] for i in picked + rest]


def covered(inc: Incidence, fields: list[int]) -> float:
    if not fields:
        return 0.0
    hit = np.asarray(inc.matrix[fields].sum(axis=0)).reshape(-1) > 0
    return float(inc.prob[hit].sum())


@dataclass
class Selection:
    fields: list[int]  # in observing (greedy-gain) order
    probability: float  # of the union
    method: str  # "greedy" or "milp"
    bound: float | None = None  # proven upper bound on the best union (MILP)
    gap: float | None = None  # (bound - probability) / bound
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def select(
    inc: Incidence,
    n: int,
    *,
    method: str = "greedy",
    time_limit: float = 10.0,
    exclude: np.ndarray | None = None,
) -> Selection:
    """The fields to observe (at most ``n``)."""
    t0 = time.perf_counter()
    g = greedy(inc, n, exclude)
    pg = covered(inc, g)
    if method != "milp" or not g:
        return Selection(g, pg, "greedy", seconds=time.perf_counter() - t0)
    fields, value, bound = milp(inc, n, time_limit=time_limit, exclude=exclude)
    secs = time.perf_counter() - t0
    bound = min(max(bound, value, pg), simple_bound(inc, n, exclude))
    if fields is None or value + 1e-12 < pg:
        # no MILP solution in time, or one below the greedy's: keep the greedy set
        sel = Selection(g, pg, "greedy", bound=bound, seconds=secs)
        sel.notes.append(
            "MILP found no solution within its time limit; greedy kept"
            if fields is None
            else "MILP stopped at its time limit below the greedy; greedy kept"
        )
    else:
        sel = Selection(order_by_gain(inc, fields), covered(inc, fields), "milp", bound, secs)
    sel.gap = max(0.0, (bound - sel.probability) / bound) if bound > 0 else 0.0
    return sel


def simple_bound(inc: Incidence, n: int, exclude: np.ndarray | None = None) -> float:
    """An upper bound on any n fields' union: the sum of the n largest fields' probabilities,
    and the probability of all atoms."""
    own = np.asarray(inc.matrix @ inc.prob).reshape(-1)
    if exclude is not None and len(exclude):
        own[np.asarray(exclude)] = 0.0
    top = float(np.sort(own)[::-1][:n].sum())
    return min(top, float(inc.prob.sum()))


def milp(
    inc: Incidence, n: int, *, time_limit: float = 10.0, exclude: np.ndarray | None = None
) -> tuple[list[int] | None, float, float]:
    """Exact maximum coverage: maximise sum p_j y_j with y_j <= sum_{i covers j} x_i,
    sum x_i <= n, x binary, 0 <= y <= 1. Returns (fields or None when it found none in time,
    their probability, a proven upper bound on the optimum (inf when none))."""
    from scipy import sparse
    from scipy.optimize import Bounds, LinearConstraint
    from scipy.optimize import milp as run_milp

    nf, na = inc.matrix.shape
    if na == 0:
        return [], 0.0, 0.0
    # y_j - sum_i A_ij x_i <= 0
    cover = sparse.hstack([-inc.matrix.T, sparse.identity(na)], format="csr")
    count = sparse.csr_matrix(
        (np.ones(nf), (np.zeros(nf, np.int64), np.arange(nf))), shape=(1, nf + na)
    )
    c = np.concatenate([np.zeros(nf), -inc.prob])
    upper = np.ones(nf + na)
    if exclude is not None and len(exclude):
        upper[np.asarray(exclude)] = 0.0
    res = run_milp(
        c,
        constraints=[
            LinearConstraint(cover, -np.inf, 0.0),
            LinearConstraint(count, 0.0, float(n)),
        ],
        integrality=np.concatenate([np.ones(nf), np.zeros(na)]),
        bounds=Bounds(np.zeros(nf + na), upper),
        options={"time_limit": float(time_limit), "mip_rel_gap": 1e-9, "disp": False},
    )
    dual = getattr(res, "mip_dual_bound", None)
    dual_bound = -float(dual) if dual is not None and math.isfinite(dual) else math.inf
    if res.x is None:
        return None, 0.0, dual_bound
    x = res.x[:nf] > 0.5
    fields = [int(i) for i in np.flatnonzero(x)]
    value = covered(inc, fields)
    bound = max(dual_bound, value) if res.status == 0 else dual_bound  # 0: proven optimal
    return fields, value, bound
