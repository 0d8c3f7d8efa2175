"""Crossmatch: where each target (RA, Dec, optional distance) falls in the map, with
ligo.skymap's ``crossmatch`` per-target fields (see :class:`CrossmatchResult`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from .arrays import TARGET_BLOCK, flat_positions, shaped, wrap_ra
from .credible import mode
from .distance import cdf_apply, cdf_table, distance_cdf
from .healpix import in_range, positions
from .lookup import Fine, block_rows, resolve_fine
from .volume import log_density_vol

if TYPE_CHECKING:
    from .map import SkyMap

_DEG = 180 / math.pi  # what np.degrees multiplies by


@dataclass(frozen=True)
class CrossmatchResult:
    """Per-target results with ligo.skymap's ``CrossmatchResult`` field names and meanings.

    Each field has the targets' broadcast shape (a Python float for scalar inputs). Areas in
    deg², angles in degrees, distances in Mpc, volumes in Mpc³ (Euclidean, in luminosity
    distance). Every field is NaN for a target the map does not cover (no row holds it), except
    ``offset`` and ``searched_prob_dist``; the 3-D fields are NaN when no distances were given
    or the map is 2-D.
    """

    #: Area of the smallest 2-D credible region containing the target (rows ranked by
    #: descending density, ties by descending NUNIQ, as ligo.skymap).
    searched_area: Any
    #: Probability of that region: the target's 2-D credible level.
    searched_prob: Any
    #: Angle between the target and the most probable pixel's centre (ligo.skymap's mode:
    #: the first row of its ranking).
    offset: Any
    #: Probability per steradian at the target.
    probdensity: Any
    #: Probability of the smallest 3-D region (``dP/dV >= `` the target's) containing the
    #: target: its 3-D credible level. Exact integral of the distance ansatz (the total where
    #: the density is 0), where ligo.skymap reads a 1,000-shell grid.
    searched_prob_vol: Any
    #: Volume of that region (inf where the density at the target is 0).
    searched_vol: Any
    #: Probability per Mpc³ at the target (exact, 0 at ``r <= 0``).
    probdensity_vol: Any
    #: Marginal distance CDF at the target's distance (sky-averaged).
    searched_prob_dist: Any

    def __len__(self) -> int:
        return int(np.size(self.searched_prob))


_FIELDS = tuple(f.name for f in fields(CrossmatchResult))
_FIELDS_3D = ("searched_prob_vol", "searched_vol", "probdensity_vol", "searched_prob_dist")
_FIELDS_2D = tuple(k for k in _FIELDS if k not in _FIELDS_3D)


def crossmatch(
    sm: SkyMap, ra_deg: Any, dec_deg: Any, distance: Any | None = None
) -> CrossmatchResult:
    """Where each target (RA, Dec in degrees, optional luminosity distance in Mpc; scalars,
    lists or arrays broadcast together) falls in the map: ligo.skymap's
    ``crossmatch(sky_map, coordinates)`` per-target fields."""
    more = () if distance is None else (distance,)
    shape, ra, dec, rest = flat_positions(ra_deg, dec_deg, *more)
    ra = wrap_ra(ra)
    n = ra.size
    rk = sm.ranking
    lk = sm.lookup
    three_d = bool(rest) and sm.has_distance
    keys = [k for k in _FIELDS if three_d or k in _FIELDS_2D]
    if three_d:
        out = {k: np.empty(n) for k in keys}
    else:
        # The 2-D fields are the rows of one block: one allocation, which glibc serves again
        # to the next crossmatch of as many targets (no fresh pages to fault in, ~1.5 us each
        # here: 800 per 100,000 targets), where four arrays could be returned to the OS each
        # time. (The 3-D fields keep their own arrays: a block of eight faulted in more.)
        out = dict(zip(keys, np.empty((len(keys), n)), strict=True))
    area_deg = rk.searched_area_deg
    # Positions: pixel look-up and offset from the mode share their trigonometry, block by
    # block; the per-row fields are gathered after the blocks, once for all targets.
    ra0, dec0 = (math.radians(v) for v in mode(sm))
    h0 = 0.5 * ra0
    h_z0, h_c0 = 0.5 * math.sin(dec0), 0.5 * math.cos(dec0)
    reduced = in_range(float(ra.max())) if n else True
    rows = np.empty(n, np.int64)
    fine: list[Fine] = []
    offset = out["offset"]
    for lo in range(0, n, TARGET_BLOCK):
        sl = slice(lo, lo + TARGET_BLOCK)
        h, z, cd = positions(ra[sl], dec[sl])
        rows[sl] = block_rows(lk, h, z, cd, dec[sl], lo, fine, reduced)
        # Angular distance (Vincenty's formula, as astropy's separation), every term halved
        # (exact; the constants carry the halves): with t = tan(d/2) for the RA difference d,
        # cos(Dec) sin(d) / 2 = t w and cos(Dec) cos(d) = (1 - t^2) w, w = cos(Dec) / (1 + t^2).
        h -= h0
        t = np.tan(h, out=h)
        t2 = t * t
        w = t2 + 1.0
        np.divide(cd, w, out=w)
        across = np.multiply(t, w, out=t)  # cos(Dec) sin(d) / 2
        np.subtract(1.0, t2, out=t2)
        cd_cos_d = np.multiply(t2, w, out=t2)  # cos(Dec) cos(d)
        along = h_c0 * z
        along -= h_z0 * cd_cos_d
        across *= across
        along *= along
        across += along
        np.sqrt(across, out=across)
        z *= h_z0
        cd_cos_d *= h_c0
        z += cd_cos_d
        np.arctan2(across, z, out=offset[sl])
    offset *= _DEG
    # the few positions in cells split finer, at once
    unmatched = resolve_fine(lk, rows, fine) or lk.gaps
    # Targets outside the map (row -1) read the last row here (mode="wrap": no buffered
    # copy as with the default "raise"), set to NaN at the end.
    area_deg.take(rows, out=out["searched_area"], mode="wrap")
    rk.searched_prob.take(rows, out=out["searched_prob"], mode="wrap")
    sm.probdensity.take(rows, out=out["probdensity"], mode="wrap")
    if three_d:
        _crossmatch_3d(sm, rows, rest[0], out)
    else:  # no 3-D answer: one read-only NaN array shared by the four fields
        nan = np.broadcast_to(np.nan, (n,))
        for key in _FIELDS_3D:
            out[key] = nan
    outside = rows < 0 if unmatched else None  # no position outside every row otherwise
    if outside is not None and np.any(outside):
        for key, values in out.items():
            if key not in ("offset", "searched_prob_dist") and (three_d or key in _FIELDS_2D):
                values[outside] = np.nan
    return CrossmatchResult(**{k: shaped(v, shape) for k, v in out.items()})


def _crossmatch_3d(sm: SkyMap, rows: np.ndarray, r: np.ndarray, out: dict[str, np.ndarray]) -> None:
    """The 3-D fields of ``crossmatch`` for targets in ``rows`` at distances ``r``."""
    u = np.empty(rows.size)
    density = out["probdensity_vol"]
    rmax = 0.0
    finite = 0
    for lo in range(0, rows.size, TARGET_BLOCK):  # blocks: no mmap-sized temporaries
        sl = slice(lo, lo + TARGET_BLOCK)
        u[sl] = log_density_vol(sm, rows[sl], r[sl])
        with np.errstate(under="ignore"):
            np.exp(u[sl], out=density[sl])
        rb = r[sl]
        ok = np.isfinite(rb) & (rb > 0)
        n_ok = int(np.count_nonzero(ok))
        if n_ok:
            finite += n_ok
            rmax = max(rmax, float(rb[ok].max()))
    out["searched_prob_vol"][:], out["searched_vol"][:] = sm.volume_model.searched(u)
    if finite > 48:
        table = cdf_table(sm, rmax)
        for lo in range(0, rows.size, TARGET_BLOCK):
            sl = slice(lo, lo + TARGET_BLOCK)
            out["searched_prob_dist"][sl] = cdf_apply(table, r[sl])
    else:
        out["searched_prob_dist"][:] = np.asarray(distance_cdf(sm, r), float).reshape(-1)
    unknown = np.isnan(r)  # no distance given for these targets: no 3-D answer
    if np.any(unknown):
        for key in ("searched_prob_vol", "searched_vol", "probdensity_vol", "searched_prob_dist"):
            out[key][unknown] = np.nan
