"""The night's schedule never breaks a constraint (random sites, dates, maps and telescope
settings), checked with astropy's own Sun, Moon and AltAz at each exposure's start, middle and
end: above the airmass limit, Sun below the twilight altitude, Moon far enough, no two exposures
overlapping, readout + slew + filter change between exposures, visits of a field apart by the
gap."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_plan_coverage import random_map

from conftest import examples
from gwalert.errors import GwalertError
from gwalert.observability import Site
from gwalert.plan import footprints, schedule, tiles


@pytest.fixture(autouse=True, scope="module")
def offline_iers():
    from gwalert.earth import installed_tables

    with installed_tables():
        yield


def check(plan: schedule.Schedule, c: schedule.Constraints, where: Site) -> None:
    import warnings

    import astropy.units as u
    from astropy.coordinates import AltAz, SkyCoord, get_body
    from astropy.time import Time

    ex = plan.exposures
    if not ex:
        return
    loc = where.location()
    starts = Time([e.start.rstrip("Z") for e in ex], scale="utc")
    ends = Time([e.end.rstrip("Z") for e in ex], scale="utc")
    assert np.all((ends - starts).to_value(u.s) == pytest.approx(c.exposure, abs=1e-3))
    field = SkyCoord([e.ra for e in ex] * u.deg, [e.dec for e in ex] * u.deg)
    min_alt = math.degrees(math.asin(1 / c.max_airmass))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in (starts, starts + (ends - starts) / 2, ends):
            frame = AltAz(obstime=t, location=loc)
            alt = field.transform_to(frame).alt.deg
            assert np.all(alt >= min_alt), (alt.min(), min_alt)
            sun = get_body("sun", t, loc).transform_to(frame).alt.deg
            assert np.all(sun < c.twilight), sun.max()
            moon = get_body("moon", t, loc)
            sep = moon.separation(field, origin_mismatch="ignore").deg
            assert np.all(sep >= c.moon_separation), sep.min()
    order = np.argsort(starts.mjd)
    assert list(order) == list(range(len(ex)))  # in time order
    for a, b in zip(ex, ex[1:], strict=False):
        gap = (Time(b.start.rstrip("Z")) - Time(a.end.rstrip("Z"))).to_value(u.s)
        va = SkyCoord(a.ra * u.deg, a.dec * u.deg)
        angle = va.separation(SkyCoord(b.ra * u.deg, b.dec * u.deg)).deg
        need = max(c.readout, angle / c.slew_rate)
        if a.filter != b.filter:
            need += c.filter_change
        assert gap >= need - 1e-3, (gap, need)
    by_field: dict[str, list[schedule.Exposure]] = {}
    for e in ex:
        by_field.setdefault(e.id, []).append(e)
    for visits in by_field.values():
        assert len(visits) <= c.visits
        assert [v.visit for v in visits] == list(range(1, len(visits) + 1))
        for a, b in zip(visits, visits[1:], strict=False):
            assert (Time(b.start.rstrip("Z")) - Time(a.end.rstrip("Z"))).to_value(u.s) >= (
                c.gap - 1e-3
            )
    cum = [e.cumulative for e in ex]
    assert cum == sorted(cum) and cum[-1] <= 1 + 1e-9


NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
sites = st.tuples(st.floats(-70, 70), st.floats(-180, 180))
dates = st.datetimes(
    min_value=__import__("datetime").datetime(2024, 1, 1),
    max_value=__import__("datetime").datetime(2027, 12, 31),
)


def setup(seed, where, when, airmass, moon, exposure, readout, slew, visits, gap, filters,
          side=9.0, level=0.7):  # fmt: skip
    """A random map's candidate fields of a ``side``° square, a site and constraints: the
    positional arguments of ``schedule.schedule``."""
    from astropy.time import Time

    sm = random_map(seed, 2, 10)
    cand = tiles.candidates(sm, footprints.rectangle(side, side), coverage_level=level)
    site = Site("test", where[0], where[1], 1000.0)
    c = schedule.Constraints(
        max_airmass=airmass,
        moon_separation=moon,
        exposure=exposure,
        readout=readout,
        slew_rate=slew,
        filters=filters,
        filter_change=45.0,
        visits=visits,
        gap=gap,
    )
    ids = [str(i) for i in cand.grid.ids]
    gains = tiles.Gains(cand, list(range(len(cand.grid))))
    return ids, cand.grid.ra, cand.grid.dec, gains, site, Time(when), c


def run_case(*a, **kw):
    args = setup(*a, **kw)
    try:
        plan = schedule.schedule(*args, max_fields=15, max_seconds=3 * 3600)
    except GwalertError as exc:  # high-latitude summers have no astronomical night
        assert "no night" in str(exc)
        return None
    check(plan, args[-1], args[-3])
    return plan


case = dict(
    seed=st.integers(0, 2**31),
    where=sites,
    when=dates,
    airmass=st.floats(1.2, 3.0),
    moon=st.floats(0, 60),
    exposure=st.floats(10, 300),
    readout=st.floats(0, 40),
    slew=st.floats(0.3, 8),
    visits=st.integers(1, 3),
    gap=st.floats(0, 3600),
    filters=st.sampled_from([("r",), ("g", "r"), ("g", "r", "i")]),
)


def tiers(cases: dict, many: int):
    """A property as two tests: 3 examples always, ``many`` in the slow tier."""

    def make(prop):
        def body(**kw):
            prop(**kw)

        quick = settings(
            max_examples=3,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            phases=NO_SHRINK,
        )(given(**cases)(body))
        slow = settings(
            max_examples=many, deadline=None, suppress_health_check=[HealthCheck.too_slow]
        )(given(**cases)(body))
        return quick, pytest.mark.slow(slow)

    return make


test_schedule_keeps_every_constraint, test_schedule_keeps_every_constraint_many = tiers(
    case, examples(10, 40)
)(run_case)


def test_schedule_fills_a_night_when_the_region_is_up():
    """A map concentrated near the zenith of a site at midnight: the schedule is not empty."""
    from datetime import datetime

    plan = run_case(3, (-30.0, -70.0), datetime(2026, 6, 1, 0, 0), 2.5, 0, 30, 5, 3, 1, 0, ("r",))
    assert plan.observable > 0 and plan.exposures


def astropy_airmass(plan: schedule.Schedule, where: Site) -> float:
    """Mean airmass of the exposures at their middle, from astropy's AltAz."""
    import warnings

    import astropy.units as u
    from astropy.coordinates import AltAz, SkyCoord
    from astropy.time import Time

    ex = plan.exposures
    starts = Time([e.start.rstrip("Z") for e in ex], scale="utc")
    ends = Time([e.end.rstrip("Z") for e in ex], scale="utc")
    field = SkyCoord([e.ra for e in ex] * u.deg, [e.dec for e in ex] * u.deg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = AltAz(obstime=starts + (ends - starts) / 2, location=where.location())
        alt = field.transform_to(frame).alt.rad
    return float(np.mean(1 / np.sin(alt)))


def airmass_case(fields, hours, **kw):
    """The low-airmass schedule against the setting-first one alone (what the scheduler did
    before): never less probability, a mean airmass (astropy, mid-exposure) never higher, and
    every constraint kept."""
    args = setup(**kw, side=6.86, level=0.9)
    site, c = args[-3], args[-1]
    try:
        before = schedule.schedule(
            *args, max_fields=fields, max_seconds=hours * 3600, low_airmass=False
        )
    except GwalertError as exc:
        assert "no night" in str(exc)
        return
    after = schedule.schedule(*args, max_fields=fields, max_seconds=hours * 3600)
    check(after, c, site)
    assert after.probability >= before.probability - 1e-12
    if before.exposures:
        assert astropy_airmass(after, site) <= astropy_airmass(before, site) + 1e-4
        assert after.exposures[-1].t1 <= hours * 3600 + 1e-6


airmass_cases = {**case, "fields": st.integers(3, 60), "hours": st.floats(0.5, 12)}


(
    test_low_airmass_schedule_keeps_the_probability,
    test_low_airmass_schedule_keeps_the_probability_many,
) = tiers(airmass_cases, examples(8, 30))(airmass_case)


def test_low_airmass_schedule_observes_nearer_transit():
    """A broad map from a mid-latitude site on a long night: the mean airmass drops."""
    from datetime import datetime

    args = setup(7, (33.0, -117.0), datetime(2026, 1, 15), 2.0, 20, 30, 10, 2.5, 1, 0, ("r",),
                 side=6.86, level=0.9)  # fmt: skip
    site, c = args[-3], args[-1]
    before = schedule.schedule(*args, max_fields=40, low_airmass=False)
    after = schedule.schedule(*args, max_fields=40)
    check(after, c, site)
    assert after.probability >= before.probability - 1e-12
    assert astropy_airmass(after, site) < astropy_airmass(before, site) - 0.02
