"""A tiles-only plan: which fields, in which order, and the probability each adds."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import GwalertError
from . import coverage, selection, tiling
from .footprints import Footprint

if TYPE_CHECKING:
    from ..skymap import SkyMap


@dataclass(frozen=True)
class Tile:
    id: str
    ra: float
    dec: float
    probability: float  # inside this field alone
    cumulative: float  # inside the union of the fields so far (overlaps once)


@dataclass
class TilePlan:
    tiles: list[Tile]
    footprint: str
    area: float  # deg² of one field
    candidates: int
    method: str
    bound: float | None = None
    gap: float | None = None
    coverage: float = 0.99
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def probability(self) -> float:
        return self.tiles[-1].cumulative if self.tiles else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "footprint": self.footprint,
            "field_area": self.area,
            "candidates": self.candidates,
            "method": self.method,
            "probability": self.probability,
            "upper_bound": self.bound,
            "gap": self.gap,
            "coverage": self.coverage,
            "notes": self.notes,
            "tiles": [asdict(t) for t in self.tiles],
        }


@dataclass
class Candidates:
    """Candidate fields, their pixelised footprints, the atoms between them."""

    grid: tiling.Grid
    cells: coverage.Cells
    integral: coverage.MapIntegral
    inc: selection.Incidence
    field_prob: np.ndarray
    n_observed: int = 0  # the last fields are observed ones (pre-covered, never chosen)


def auto_coverage(sm: SkyMap, footprint: Footprint, n: int, factor: float = 4.0) -> float:
    """The credible level worth tiling for ``n`` fields: the region ``factor`` times the area
    the fields can cover (at least the 50% and at most the 99% region)."""
    want = factor * n * footprint.area
    rank = sm.ranking
    k = int(np.searchsorted(rank.cum_area * (180 / np.pi) ** 2, want))
    level = float(rank.cum_prob[min(k, rank.cum_prob.size - 1)])
    return float(min(0.99, max(0.5, level)))


def candidates(
    sm: SkyMap,
    footprint: Footprint,
    *,
    grid: tiling.Grid | None = None,
    coverage_level: float = 0.99,
    observed: tiling.Grid | None = None,
    level: int | None = None,
) -> Candidates:
    if not 0 < coverage_level <= 1:
        raise GwalertError("--coverage must be a probability in (0, 1], e.g. 0.9")
    base = tiling.own_grid(footprint) if grid is None else grid
    if coverage_level < 1:
        base = tiling.near_region(base, sm, footprint, coverage_level)
    n_obs = 0
    ra, dec = base.ra, base.dec
    if observed is not None and len(observed):
        ra = np.concatenate([ra, observed.ra])
        dec = np.concatenate([dec, observed.dec])
        n_obs = len(observed)
    integral = coverage.MapIntegral(sm)
    cells = coverage.footprint_cells(footprint, ra, dec, level)
    inc = selection.incidence(integral, cells)
    fprob = coverage.field_probabilities(integral, cells)
    if n_obs:
        done = inc.matrix[len(base) :]
        hit = np.asarray(done.sum(axis=0)).reshape(-1) > 0
        inc.prob[hit] = 0.0
    return Candidates(base, cells, integral, inc, fprob, n_obs)


def plan_tiles(
    sm: SkyMap,
    footprint: Footprint,
    n: int,
    *,
    grid: tiling.Grid | None = None,
    coverage_level: float | None = None,
    method: str = "greedy",
    time_limit: float = 10.0,
    observed: tiling.Grid | None = None,
    level: int | None = None,
) -> TilePlan:
    """Up to ``n`` fields covering the most probability, in greedy-gain order."""
    if n < 1:
        raise GwalertError("--tiles must be at least 1")
    t0 = time.perf_counter()
    if coverage_level is None:
        coverage_level = auto_coverage(sm, footprint, n)
    cand = candidates(
        sm, footprint, grid=grid, coverage_level=coverage_level, observed=observed, level=level
    )
    nb = len(cand.grid)
    exclude = np.arange(nb, nb + cand.n_observed) if cand.n_observed else None
    sel = selection.select(cand.inc, n, method=method, time_limit=time_limit, exclude=exclude)
    tiles = tiles_in_order(cand, sel.fields)
    plan = TilePlan(
        tiles,
        footprint.name,
        footprint.area,
        nb,
        sel.method,
        sel.bound,
        sel.gap,
        coverage_level,
        time.perf_counter() - t0,
        sel.notes,
    )
    if cand.n_observed:
        plan.notes.append(f"{cand.n_observed} observed fields excluded (their area counts as done)")
    return plan


def tiles_in_order(cand: Candidates, fields: list[int]) -> list[Tile]:
    out = []
    m = cand.inc.matrix
    seen = np.zeros(cand.inc.prob.size, bool)
    total = 0.0
    for i in fields:
        lo, hi = m.indptr[i], m.indptr[i + 1]
        cols = m.indices[lo:hi]
        new = cols[~seen[cols]]
        total += float(cand.inc.prob[new].sum())
        seen[new] = True
        out.append(
            Tile(
                str(cand.grid.ids[i]),
                float(cand.grid.ra[i]),
                float(cand.grid.dec[i]),
                float(cand.field_prob[i]),
                total,
            )
        )
    return out


class Gains:
    """New probability each of some candidate fields would add, given those already done
    (what the scheduler asks at each step)."""

    def __init__(self, cand: Candidates, fields: list[int]) -> None:
        self.matrix = cand.inc.matrix[fields]
        self.atoms = cand.inc.prob
        self.prob = cand.field_prob[fields]

    def _covered(self, done: np.ndarray) -> np.ndarray:
        if not done.any():
            return np.zeros(self.atoms.size, bool)
        return np.asarray(self.matrix[np.flatnonzero(done)].sum(axis=0)).reshape(-1) > 0

    def __call__(self, done: np.ndarray) -> np.ndarray:
        left = np.where(self._covered(done), 0.0, self.atoms)
        return np.asarray(self.matrix @ left).reshape(-1)

    def union(self, done: np.ndarray) -> float:
        return float(self.atoms[self._covered(done)].sum())


def observing_seconds(
    ra: np.ndarray, dec: np.ndarray, exposure: float, readout: float, slew_rate: float, visits: int
) -> np.ndarray:
    """Seconds to observe the first 1, 2, ... fields in order, ``visits`` rounds of them: each
    exposure and its readout, and the slew to it from the field before (not overlapping the
    readout: an upper bound without a site's schedule)."""
    from ..skymap.vectors import unit_vectors

    v = unit_vectors(np.asarray(ra, float), np.asarray(dec, float))
    if v.shape[0] == 0:
        return np.zeros(0)

    def slew(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        cos = np.clip(np.einsum("ij,ij->i", a, b), -1.0, 1.0)
        return np.degrees(np.arccos(cos)) / slew_rate

    steps = np.concatenate([[0.0], np.cumsum(slew(v[:-1], v[1:]))])  # within a round
    back = slew(v, np.broadcast_to(v[0], v.shape))  # from the last field to the first
    n = np.arange(1, v.shape[0] + 1)
    return visits * n * (exposure + readout) + visits * steps + (visits - 1) * back
