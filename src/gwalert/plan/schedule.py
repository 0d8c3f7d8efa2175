"""A night's schedule from a site: which field when, in which filter.

The night runs while the Sun is below the twilight altitude (its edges found to the second by
bisection on astropy's Sun). A field is observed only when, for the whole exposure, it is above
the airmass limit (altitude from the apparent sidereal time, as ``gwalert.observability``
computes it, with a small safety margin), the Sun is below the twilight altitude and the Moon
is at least the separation limit away. Between exposures the telescope reads out and slews
(angle / slew rate; the two overlap) and changes filter when the next exposure needs another.
Each field gets ``visits`` exposures at least ``gap`` apart (filters cycle between visits).
At each step the scheduler takes, among the observable fields whose new probability is at
least half the best available, the one that sets first. That night's fields are then
scheduled again nearer their lowest airmass: at each step the field closest to the best
altitude it will reach before the end (optionally waiting until one is within a few per cent
of it), the one that sets first among equals; time left over takes further fields as before.
The low-airmass schedule is kept only if it covers at least the first one's probability with
a lower mean airmass (at mid-exposure), so the probability covered never drops.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import GwalertError
from ..observability import Site
from ..skymap.arrays import rows_dot
from .night import Night

#: A low-airmass schedule replaces the first one only when its mean airmass is lower by this.
AIRMASS_GAIN = 0.002
#: How close to its best altitude of the rest of the night (ratio of sin(altitude)) a field
#: must be to be taken: each value is tried, ``inf`` never waits.
PATIENCE = (math.inf, 1.05, 1.01)


@dataclass(frozen=True)
class Constraints:
    max_airmass: float = 2.0
    twilight: float = -18.0
    moon_separation: float = 20.0
    exposure: float = 30.0  # s
    readout: float = 10.0  # s
    slew_rate: float = 2.0  # deg/s
    filters: tuple[str, ...] = ("r",)
    filter_change: float = 60.0  # s
    visits: int = 1
    gap: float = 1800.0  # s between visits of one field

    def check(self) -> None:
        if not self.max_airmass >= 1:
            raise GwalertError(f"--max-airmass {self.max_airmass:g}: must be at least 1")
        if not -90 <= self.twilight <= 0:
            raise GwalertError("the twilight altitude must be between -90 and 0 degrees")
        if not 0 <= self.moon_separation < 180:
            raise GwalertError("--moon-separation must be between 0 and 180 degrees")
        if not 0 < self.exposure <= 86400 or self.readout < 0 or self.filter_change < 0:
            raise GwalertError("--exposure must be positive; overheads must not be negative")
        if not self.slew_rate > 0:
            raise GwalertError("--slew-rate must be positive")
        if not 1 <= self.visits <= 20 or self.gap < 0:
            raise GwalertError("--visits must be 1 to 20 and --gap not negative")
        if not self.filters:
            raise GwalertError("give at least one filter")


@dataclass(frozen=True)
class Exposure:
    start: str  # ISO UTC
    end: str
    id: str
    ra: float
    dec: float
    filter: str
    exposure: float
    visit: int
    probability: float
    cumulative: float
    airmass: float  # the highest during the exposure
    t0: float = field(default=0.0, repr=False)  # seconds from the night's start
    t1: float = field(default=0.0, repr=False)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("t0")
        d.pop("t1")
        return d


@dataclass
class Schedule:
    site: Site
    night_start: Any  # astropy Time
    night_end: Any
    constraints: Constraints
    exposures: list[Exposure]
    considered: int  # fields offered
    observable: int  # fields above the limit at some time of the night
    notes: list[str] = field(default_factory=list)

    @property
    def probability(self) -> float:
        return self.exposures[-1].cumulative if self.exposures else 0.0

    def as_dict(self) -> dict[str, Any]:
        c = self.constraints
        return {
            "site": self.site.name,
            "lat": self.site.lat,
            "lon": self.site.lon,
            "night_start": self.night_start.utc.isot + "Z",
            "night_end": self.night_end.utc.isot + "Z",
            "max_airmass": c.max_airmass,
            "twilight": c.twilight,
            "moon_separation": c.moon_separation,
            "visits": c.visits,
            "gap": c.gap,
            "fields_considered": self.considered,
            "fields_observable": self.observable,
            "probability": self.probability,
            "notes": self.notes,
            "exposures": [e.as_dict() for e in self.exposures],
        }


@dataclass
class _Pick:
    field: int
    t0: float
    t1: float
    filter: str
    visit: int
    union: float


def _greedy(
    nt: Night,
    gains: Any,
    c: Constraints,
    budget_end: float,
    max_fields: int | None,
    *,
    allowed: np.ndarray | None = None,
    patience: float = math.inf,
    best: np.ndarray | None = None,
) -> list[_Pick]:
    """The night's exposures, step by step: revisits when due, else a new field. With
    ``allowed`` (a mask), those fields first, each nearest its best altitude (``best``: from
    :meth:`Night.best_after`), then any others."""
    n = nt.a.size
    observable = nt.up.any(axis=0)
    done_visits = np.zeros(n, int)
    last_end = np.full(n, -np.inf)
    taken = np.zeros(n, bool)  # first visit made
    picks: list[_Pick] = []
    now = 0.0
    pointing: np.ndarray | None = None
    current_filter: str | None = None
    restricted = allowed is not None

    def evaluate(pool: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        visit = done_visits[pool]
        filt = [c.filters[v % len(c.filters)] for v in visit]
        if pointing is None:
            setup = np.zeros(pool.size)
        else:
            cosang = np.clip(rows_dot(nt.fv[pool], pointing), -1, 1)
            setup = np.maximum(np.degrees(np.arccos(cosang)) / c.slew_rate, c.readout)
        setup = setup + np.array(
            [c.filter_change if current_filter not in (None, f) else 0.0 for f in filt]
        )
        t0 = now + setup
        t1 = t0 + c.exposure
        ok = (t1 <= budget_end) & (nt.lowest(t0, t1, pool) >= nt.sin_min) & nt.moon_ok(t0, t1, pool)
        if c.visits > 1:
            # a first visit only if the later visits can still be made tonight
            first = visit == 0
            later = t1 + (c.visits - 1) * (c.gap + c.exposure + c.filter_change + 60.0)
            ok &= ~first | ((later <= nt.span) & (nt.lowest(t0, later, pool) >= nt.sin_min))
        return ok, t0, t1, filt

    while now < budget_end:
        k0 = nt.sample(now)
        if restricted:
            assert allowed is not None and best is not None
            left = allowed & ~taken & (best[k0] >= nt.sin_min)
            restricted = bool(left.any())
        want_fields = max_fields is None or int(taken.sum()) < max_fields
        due = np.flatnonzero(taken & (done_visits < c.visits) & (now >= last_end + c.gap))
        if restricted:
            new = np.flatnonzero(left)
        else:
            new = np.flatnonzero(~taken & observable) if want_fields else np.zeros(0, np.int64)
        chosen = None
        for pool, revisit in ((due, True), (new, False)):
            if pool.size == 0:
                continue
            ok, t0, t1, filt = evaluate(pool)
            if not ok.any():
                continue
            # setting first: minutes until each field goes below the limit
            below = ~nt.up[k0:][:, pool]
            sets = np.where(below.any(axis=0), np.argmax(below, axis=0), below.shape[0])
            if restricted and not revisit:
                assert best is not None
                mid = (t0 + t1) / 2
                s_now = nt.sin_alt(mid, pool)
                k1 = np.minimum(np.ceil(mid / nt.samples[1]).astype(int), nt.samples.size - 1)
                ratio = np.maximum(best[k1, pool], s_now) / np.maximum(s_now, 1e-9)
                ok &= ratio <= patience
                if not ok.any():
                    continue
                ratio = np.where(ok, ratio, np.inf)
                near = ok & (ratio <= ratio.min() * 1.005)
            else:
                gain = np.ones(pool.size) if revisit else np.asarray(gains(taken), float)[pool]
                gain = np.where(ok, gain, -1.0)
                top = float(gain.max())
                if top <= 0:
                    continue
                near = ok & (gain >= 0.5 * top)
            cand = np.flatnonzero(near)
            chosen = (pool, int(cand[np.argmin(sets[cand])]), t0, t1, filt)
            break
        if chosen is None:
            waiting = taken & (done_visits < c.visits)
            if not new.size and not waiting.any():
                break
            now += 60.0
            continue
        pool, choice, t0, t1, filt = chosen
        i = int(pool[choice])
        taken[i] = True
        done_visits[i] += 1
        last_end[i] = float(t1[choice])
        pointing = nt.fv[i]
        current_filter = filt[choice]
        picks.append(
            _Pick(
                i,
                float(t0[choice]),
                float(t1[choice]),
                filt[choice],
                int(done_visits[i]),
                float(gains.union(taken)),
            )
        )
        now = float(t1[choice])
    return picks


def mean_airmass(nt: Night, picks: list[_Pick]) -> float:
    """Mean airmass of the exposures at their middle."""
    if not picks:
        return math.inf
    idx = np.array([p.field for p in picks])
    mid = np.array([(p.t0 + p.t1) / 2 for p in picks])
    return float(np.mean(1.0 / np.maximum(nt.sin_alt(mid, idx), 1e-9)))


def _low_airmass(
    nt: Night, gains: Any, c: Constraints, budget_end: float, max_fields: int | None, first: list
) -> list[_Pick]:
    """The first schedule's fields again, nearer their lowest airmass (then others), if that
    covers at least as much probability at a lower mean airmass; else the first schedule."""
    if not first:
        return first
    allowed = np.zeros(nt.a.size, bool)
    allowed[[p.field for p in first]] = True
    best = nt.best_after(budget_end)
    prob0, mean0 = first[-1].union, mean_airmass(nt, first)
    out, key = first, (-1.0, 0.0)
    k = int(allowed.sum())
    for patience in PATIENCE:
        picks = _greedy(
            nt, gains, c, budget_end, max_fields, allowed=allowed, patience=patience, best=best
        )
        tries = [picks]
        if c.visits == 1 and len(picks) > k:  # without the fields added after the first ones
            tries.append(picks[:k])
        for p in tries:
            if not p or p[-1].union < prob0 - 1e-12:
                continue
            m = mean_airmass(nt, p)
            this = (round(p[-1].union, 9), -m)
            if m <= mean0 - AIRMASS_GAIN and this > key:
                out, key = p, this
    return out


def schedule(
    ids: list[str],
    ra: np.ndarray,
    dec: np.ndarray,
    gains: Any,
    where: Site,
    start: Any,
    constraints: Constraints,
    *,
    max_fields: int | None = None,
    max_seconds: float | None = None,
    low_airmass: bool = True,
) -> Schedule:
    """Schedule fields (in priority order) over the first night after ``start`` (astropy Time).
    ``gains(done)`` returns each field's new probability given the fields already observed (a
    boolean array); ``gains.prob`` each field's own probability and ``gains.union(done)`` the
    probability of the union. ``low_airmass=False``: the first schedule only (setting first)."""
    import astropy.units as u

    c = constraints
    c.check()
    nt = Night(
        ra,
        dec,
        where,
        start,
        twilight=c.twilight,
        max_airmass=c.max_airmass,
        moon_separation=c.moon_separation,
    )
    budget_end = nt.span if max_seconds is None else min(nt.span, max_seconds)
    picks = _greedy(nt, gains, c, budget_end, max_fields)
    if low_airmass:
        picks = _low_airmass(nt, gains, c, budget_end, max_fields, picks)
    exposures = []
    for p in picks:
        i = p.field
        exposures.append(
            Exposure(
                (nt.start + p.t0 * u.s).utc.isot + "Z",
                (nt.start + p.t1 * u.s).utc.isot + "Z",
                ids[i],
                float(ra[i]),
                float(dec[i]),
                p.filter,
                c.exposure,
                p.visit,
                float(gains.prob[i]),
                p.union,
                1.0 / float(nt.lowest(p.t0, p.t1, np.array([i]))[0]),
                p.t0,
                p.t1,
            )
        )
    observable = int(nt.up.any(axis=0).sum())
    return Schedule(where, nt.start, nt.end, c, exposures, len(ids), observable, [])
