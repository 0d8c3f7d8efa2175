"""A night's schedule from a site: which field when, in which filter.

The night runs while the Sun is below the twilight altitude (its edges found to the second by
bisection on astropy's Sun). A field is observed only when, for the whole exposure, it is above
the airmass limit (altitude from the apparent sidereal time, as ``gwalert.observability``
computes it, with a small safety margin), the Sun is below the twilight altitude and the Moon
is at least the separation limit away. Between exposures the telescope reads out and slews
(angle / slew rate; the two overlap) and changes filter when the next exposure needs another.
Each field gets ``visits`` exposures at least ``gap`` apart (filters cycle between visits).
At each step the scheduler takes, among the observable fields whose new probability is at
least half the best available, the one that sets first.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..earth import installed_tables
from ..errors import GwalertError
from ..observability import Site, apparent, sun_altitude
from ..skymap.healpix import unit_vectors

_SIDEREAL = 2 * math.pi * 1.002737909350795 / 86400.0  # rad of sidereal angle per UT second
ALT_MARGIN = 0.05  # degrees kept above the airmass limit (refraction-free model vs astropy)
MOON_MARGIN = 1.5  # degrees: lunar parallax (<1°) and aberration on top of the limit


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


def night_edges(loc: Any, start: Any, twilight: float) -> tuple[Any, Any]:
    """The first night within 24 h of ``start`` (or the rest of the current one), edges to
    about a second (bisection of the Sun's altitude between 5-minute steps)."""
    import astropy.units as u

    from ..observability import find_night

    first, last = find_night(loc, start, twilight)

    def crossing(dark: Any, light: Any) -> Any:
        for _ in range(10):  # 300 s / 2**10 < 0.3 s
            mid = dark + (light - dark) / 2
            if sun_altitude(loc, mid) < twilight:
                dark = mid
            else:
                light = mid
        return dark

    step = 5 * u.min
    if first > start + 1 * u.s:
        first = crossing(first, first - step)
    end = crossing(last, last + step)
    return first, end


def _moon(loc: Any, times: Any) -> np.ndarray:
    from astropy.coordinates import get_body

    m = get_body("moon", times, location=loc)
    return unit_vectors(m.ra.deg, m.dec.deg)


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
) -> Schedule:
    """Schedule fields (in priority order) over the first night after ``start`` (astropy Time).
    ``gains(done)`` returns each field's new probability given the fields already observed (a
    boolean array); ``gains.prob`` each field's own probability and ``gains.union(done)`` the
    probability of the union."""
    import astropy.units as u

    c = constraints
    c.check()
    with installed_tables():
        loc = where.location()
        n0, n1 = night_edges(loc, start, c.twilight)
        span = float((n1 - n0).to_value(u.s))
        mid = n0 + span / 2 * u.s
        a, d = apparent(np.asarray(ra, float), np.asarray(dec, float), loc, mid)
        theta0 = float(n0.sidereal_time("apparent", longitude=loc.lon).rad)
        step = 900.0
        grid = np.arange(0.0, span + step, step)
        moon_t = n0 + grid * u.s
        moon = _moon(loc, moon_t)
    phi = math.radians(where.lat)
    min_alt = math.degrees(math.asin(1.0 / c.max_airmass)) + ALT_MARGIN
    sin_min = math.sin(math.radians(min_alt))
    sin_d, cos_d = np.sin(d), np.cos(d)
    fv = unit_vectors(np.asarray(ra, float), np.asarray(dec, float))
    cos_moon = math.cos(math.radians(min(c.moon_separation + MOON_MARGIN, 180.0)))

    def sin_alt(t: np.ndarray | float, idx: Any = slice(None)) -> np.ndarray:
        h = theta0 + _SIDEREAL * np.asarray(t) - a[idx]
        return math.sin(phi) * sin_d[idx] + math.cos(phi) * cos_d[idx] * np.cos(h)

    def lowest(t0: float, t1: float, idx: Any = slice(None)) -> np.ndarray:
        """Lowest sin(altitude) over [t0, t1]: at an end, or at lower culmination inside."""
        low = np.minimum(sin_alt(t0, idx), sin_alt(t1, idx))
        h0 = np.mod(theta0 + _SIDEREAL * t0 - a[idx] - math.pi, 2 * math.pi)
        inside = h0 + _SIDEREAL * (t1 - t0) >= 2 * math.pi  # hour angle passes 180°
        bottom = math.sin(phi) * sin_d[idx] - math.cos(phi) * cos_d[idx]
        return np.where(inside, np.minimum(low, bottom), low)

    def moon_ok(t0: Any, t1: Any, idx: Any = slice(None)) -> np.ndarray:
        ok = np.ones(fv[idx].shape[0], bool)
        for t in (t0, t1):
            t = np.broadcast_to(np.asarray(t, float), ok.shape)
            k = np.clip((t // step).astype(int), 0, grid.size - 2)
            w = ((t - grid[k]) / step)[:, None]
            m = (1 - w) * moon[k] + w * moon[k + 1]
            m /= np.linalg.norm(m, axis=1, keepdims=True)
            ok &= np.einsum("ij,ij->i", fv[idx], m) <= cos_moon
        return ok

    # when does each field set (sin alt falls below the limit) after a time: sampled
    samples = np.arange(0.0, span + 60.0, 60.0)
    up_grid = sin_alt(samples[:, None]) >= sin_min  # (times, fields)
    observable = up_grid.any(axis=0)
    n = len(ids)
    done_visits = np.zeros(n, int)
    last_end = np.full(n, -np.inf)
    taken = np.zeros(n, bool)  # first visit made
    exposures: list[Exposure] = []
    now = 0.0
    pointing: np.ndarray | None = None
    current_filter: str | None = None
    budget_end = span if max_seconds is None else min(span, max_seconds)
    notes: list[str] = []

    def evaluate(pool: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        visit = done_visits[pool]
        filt = [c.filters[v % len(c.filters)] for v in visit]
        if pointing is None:
            setup = np.zeros(pool.size)
        else:
            cosang = np.clip(fv[pool] @ pointing, -1, 1)
            setup = np.maximum(np.degrees(np.arccos(cosang)) / c.slew_rate, c.readout)
        setup = setup + np.array(
            [c.filter_change if current_filter not in (None, f) else 0.0 for f in filt]
        )
        t0 = now + setup
        t1 = t0 + c.exposure
        ok = (t1 <= budget_end) & (lowest(t0, t1, pool) >= sin_min) & moon_ok(t0, t1, pool)
        if c.visits > 1:
            # a first visit only if the later visits can still be made tonight
            first = visit == 0
            later = t1 + (c.visits - 1) * (c.gap + c.exposure + c.filter_change + 60.0)
            ok &= ~first | ((later <= span) & (lowest(t0, later, pool) >= sin_min))
        return ok, t0, t1, filt

    while now < budget_end:
        want_fields = max_fields is None or int(taken.sum()) < max_fields
        due = np.flatnonzero(taken & (done_visits < c.visits) & (now >= last_end + c.gap))
        new = np.flatnonzero(~taken & observable) if want_fields else np.zeros(0, np.int64)
        chosen = None
        for pool, revisit in ((due, True), (new, False)):
            if pool.size == 0:
                continue
            ok, t0, t1, filt = evaluate(pool)
            if not ok.any():
                continue
            gain = np.ones(pool.size) if revisit else np.asarray(gains(taken), float)[pool]
            gain = np.where(ok, gain, -1.0)
            best = float(gain.max())
            if best <= 0:
                continue
            near = ok & (gain >= 0.5 * best)
            # setting first: minutes until each near-best field goes below the limit
            k0 = min(int(now // 60.0), samples.size - 1)
            below = ~up_grid[k0:][:, pool]
            sets = np.where(below.any(axis=0), np.argmax(below, axis=0), below.shape[0])
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
        s0, s1 = float(t0[choice]), float(t1[choice])
        taken[i] = True
        done_visits[i] += 1
        last_end[i] = s1
        pointing = fv[i]
        current_filter = filt[choice]
        union = float(gains.union(taken))
        airmass = 1.0 / float(lowest(s0, s1, np.array([i]))[0])
        exposures.append(
            Exposure(
                (n0 + s0 * u.s).utc.isot + "Z",
                (n0 + s1 * u.s).utc.isot + "Z",
                ids[i],
                float(ra[i]),
                float(dec[i]),
                filt[choice],
                c.exposure,
                int(done_visits[i]),
                float(gains.prob[i]),
                union,
                airmass,
                s0,
                s1,
            )
        )
        now = s1
    return Schedule(where, n0, n1, c, exposures, n, int(observable.sum()), notes)
