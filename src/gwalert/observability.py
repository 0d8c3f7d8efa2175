"""Can a site observe the credible region tonight? (what ``ligo-skymap-plot-observability`` and
``ligo-skymap-plot-airmass`` answer).

A site is a name from a small built-in table of major observatories (astropy's own site
registry is downloaded from the network; gwalert stays offline) or ``LAT,LON[,HEIGHT]``
(degrees, degrees east, metres). The night is the run of time when the Sun is below the
twilight altitude (astronomical, -18°, by default), found with astropy's Sun ephemeris and
AltAz frame. Positions: the centres of the rows of the map's credible region, carried once to
the true equator and equinox of the night (astropy, TETE: precession and nutation), then
altitudes from the apparent sidereal time for every time step (the same rotation astropy's
AltAz applies, without refraction and diurnal aberration: well under 0.01° of airmass-relevant
altitude, checked against astropy in the tests). Airmass is sec z.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .earth import installed_tables, staleness
from .errors import GwalertError
from .util import suggest

if TYPE_CHECKING:
    from .skymap import SkyMap

#: Major optical/infrared observatories: names (the first is shown), latitude (deg), east
#: longitude (deg), height (m). Positions from the observatories' published coordinates.
SITES: tuple[tuple[tuple[str, ...], float, float, float], ...] = (
    (
        ("Rubin Observatory", "lsst", "rubin", "cerro pachon", "gemini south", "soar"),
        -30.2444,
        -70.7494,
        2663.0,
    ),
    (("Cerro Tololo", "ctio", "blanco"), -30.1690, -70.8063, 2207.0),
    (("La Silla", "lasilla", "eso la silla"), -29.2567, -70.7300, 2347.0),
    (("Paranal", "vlt", "eso paranal", "cerro paranal"), -24.6272, -70.4042, 2635.0),
    (("Las Campanas", "lco", "magellan", "las campanas observatory"), -29.0146, -70.6926, 2380.0),
    (("Mauna Kea", "keck", "subaru", "gemini north", "cfht", "ukirt"), 19.8261, -155.4747, 4160.0),
    (("Haleakala", "pan-starrs", "panstarrs", "ps1"), 20.7075, -156.2561, 3052.0),
    (("Palomar", "ztf", "palomar observatory", "p48"), 33.3563, -116.8648, 1712.0),
    (
        ("Kitt Peak", "kpno", "kitt peak national observatory", "wiyn", "desi"),
        31.9583,
        -111.5967,
        2120.0,
    ),
    (("Mount Graham", "lbt", "large binocular telescope", "mgio"), 32.7013, -109.8891, 3221.0),
    (("Apache Point", "apo", "sdss"), 32.7803, -105.8203, 2798.0),
    (("McDonald", "mcdonald observatory", "het", "hobby-eberly"), 30.6714, -104.0225, 2075.0),
    (("Lick", "lick observatory", "mount hamilton"), 37.3414, -121.6429, 1283.0),
    (
        ("Roque de los Muchachos", "lapalma", "la palma", "orm", "gtc", "wht", "lt"),
        28.7606,
        -17.8792,
        2396.0,
    ),
    (("Teide", "observatorio del teide", "tenerife"), 28.3003, -16.5122, 2390.0),
    (("Calar Alto", "caha"), 37.2236, -2.5463, 2168.0),
    (("Siding Spring", "sso", "aat", "siding spring observatory"), -31.2733, 149.0617, 1165.0),
    (("SAAO Sutherland", "saao", "salt", "sutherland"), -32.3794, 20.8107, 1798.0),
    (("Hanle", "iao", "indian astronomical observatory", "growth-india"), 32.7794, 78.9642, 4500.0),
    (("Lulin", "lulin observatory"), 23.4686, 120.8731, 2862.0),
    (("Xinglong", "xinglong station"), 40.3958, 117.5775, 900.0),
    (("Observatorio San Pedro Martir", "spm", "san pedro martir"), 31.0446, -115.4638, 2830.0),
)

TWILIGHT = {"civil": -6.0, "nautical": -12.0, "astronomical": -18.0}


@dataclass(frozen=True)
class Site:
    name: str
    lat: float
    lon: float
    height: float

    def location(self) -> Any:
        import astropy.units as u
        from astropy.coordinates import EarthLocation

        return EarthLocation.from_geodetic(self.lon * u.deg, self.lat * u.deg, self.height * u.m)

    def __str__(self) -> str:
        return f"{self.name} ({self.lat:+.4f}°, {self.lon:+.4f}°, {self.height:.0f} m)"


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def site(text: str) -> Site:
    """A site by name (case and punctuation ignored) or ``LAT,LON[,HEIGHT]``."""
    numbers = [t for t in re.split(r"[,\s]+", text.strip()) if t]
    try:
        values = [float(t) for t in numbers]
    except ValueError:
        values = []
    if values and len(values) in (2, 3):
        lat, lon = values[0], values[1]
        height = values[2] if len(values) == 3 else 0.0
        if not (-90 <= lat <= 90 and -360 <= lon <= 360 and -500 <= height <= 9000):
            raise GwalertError(
                f"--site {text}: expected LAT,LON[,HEIGHT] with latitude "
                "within ±90°, longitude in degrees east, height in metres"
            )
        if not -180 <= lon <= 180:
            lon = (lon + 180.0) % 360.0 - 180.0
        return Site(f"{lat:g},{lon:g}", lat, lon, height)
    key = _key(text)
    for names, lat, lon, height in SITES:
        if key in {_key(n) for n in names}:
            return Site(names[0], lat, lon, height)
    hint = suggest(text, {n: names[0] for names, *_ in SITES for n in names}, key=_key)
    raise GwalertError(
        f"--site {text}: unknown site{hint}; give LAT,LON[,HEIGHT] or one of: "
        f"{', '.join(names[0] for names, *_ in SITES)}"
    )


def sun_altitude(location: Any, times: Any) -> np.ndarray:
    """Altitude of the Sun's centre (degrees, astropy AltAz, no refraction)."""
    from astropy.coordinates import AltAz, get_body

    frame = AltAz(obstime=times, location=location)
    return np.asarray(get_body("sun", times).transform_to(frame).alt.deg)


def find_night(
    location: Any, start: Any, twilight: float = -18.0, step_minutes: float = 5.0
) -> tuple[Any, Any]:
    """The first run of time within 24 h of ``start`` when the Sun is below ``twilight``
    (beginning at ``start`` itself if it is already dark); edges to the nearest step."""
    import astropy.units as u

    n = int(24 * 60 / step_minutes) + 1
    times = start + np.arange(n) * step_minutes * u.min
    dark = sun_altitude(location, times) < twilight
    if not dark.any():
        raise GwalertError(
            f"no night (Sun below {twilight:g}°) in the 24 h from {start.utc.isot[:16]} UTC"
        )
    first = int(np.argmax(dark))
    last = first + int(np.argmin(dark[first:])) - 1 if not dark[first:].all() else n - 1
    return times[first], times[last]


@dataclass
class Observability:
    site: Site
    start: Any  # astropy Time
    end: Any
    twilight: float
    max_airmass: float
    level: float  # the credible level of the region (0.9)
    times: Any  # astropy Time array over the night
    sun_alt: np.ndarray
    #: per time: probability (of the whole map) in region rows above the airmass limit
    prob_visible: np.ndarray
    #: per time: probability-weighted airmass quantiles (5, 25, 50, 75, 95%) of the region
    #: rows above the horizon, NaN when none is up
    airmass_quantiles: np.ndarray
    region_prob: float  # probability of the region rows
    region_area: float  # deg²
    prob_ever: float  # probability of region rows above the limit at some time of the night
    area_ever: float  # deg² of region rows above the limit at some time
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fraction_prob(self) -> float:
        """Fraction of the region's probability observable at some time tonight."""
        return self.prob_ever / self.region_prob if self.region_prob > 0 else 0.0

    @property
    def fraction_area(self) -> float:
        return self.area_ever / self.region_area if self.region_area > 0 else 0.0

    def best(self) -> tuple[Any, float]:
        i = int(np.argmax(self.prob_visible))
        return self.times[i], float(self.prob_visible[i])

    def as_dict(self) -> dict[str, Any]:
        t, p = self.best()
        return {
            "site": self.site.name,
            "lat": self.site.lat,
            "lon": self.site.lon,
            "height": self.site.height,
            "night_start": self.start.utc.isot + "Z",
            "night_end": self.end.utc.isot + "Z",
            "twilight": self.twilight,
            "max_airmass": self.max_airmass,
            "credible_level": self.level,
            "region_area": self.region_area,
            "region_prob": self.region_prob,
            "fraction_area": self.fraction_area,
            "fraction_prob": self.fraction_prob,
            "best_time": t.utc.isot + "Z",
            "best_prob": p,
            "note": self.extra.get("note"),
        }


def region_rows(sm: SkyMap, p: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(RA, Dec) in degrees of the centres of the rows of the ``p`` credible region, and
    their probability."""
    from astropy_healpix import healpix_to_lonlat

    from .skymap.healpix import uniq_to_level_ipix

    rank = sm.ranking
    prob = sm.prob
    rows = np.flatnonzero(rank.searched_prob - prob < p)
    level, ipix = uniq_to_level_ipix(sm.uniq[rows])
    lon, lat = healpix_to_lonlat(ipix, np.left_shift(1, level), order="nested")
    return np.asarray(lon.deg), np.asarray(lat.deg), prob[rows]


def apparent(
    ra: np.ndarray, dec: np.ndarray, location: Any, when: Any
) -> tuple[np.ndarray, np.ndarray]:
    """ICRS positions (degrees) carried to the true equator and equinox of ``when`` (astropy,
    TETE: precession, nutation, aberration), as (RA, Dec) in radians."""
    import astropy.units as u
    from astropy.coordinates import TETE, SkyCoord

    c = SkyCoord(ra * u.deg, dec * u.deg, frame="icrs").transform_to(
        TETE(obstime=when, location=location)
    )
    return np.asarray(c.ra.rad), np.asarray(c.dec.rad)


def altitudes(ra: np.ndarray, dec: np.ndarray, location: Any, times: Any) -> np.ndarray:
    """Altitude (degrees, no refraction) of ICRS positions at each time: array
    (len(times), len(ra)). The positions are carried to the true equator and equinox of the
    middle time; the hour angle comes from the apparent sidereal time of each time."""
    a, d = apparent(ra, dec, location, times[len(times) // 2])
    lst = np.asarray(times.sidereal_time("apparent", longitude=location.lon).rad)
    phi = math.radians(location.lat.deg)
    sin_d, cos_d = np.sin(d), np.cos(d)
    out = np.empty((len(lst), a.size))
    for i, theta in enumerate(lst):
        out[i] = np.degrees(
            np.arcsin(
                np.clip(math.sin(phi) * sin_d + math.cos(phi) * cos_d * np.cos(theta - a), -1, 1)
            )
        )
    return out


def observability(
    sm: SkyMap,
    where: Site,
    *,
    start: Any = None,
    max_airmass: float = 2.0,
    p: float = 0.9,
    twilight: float = -18.0,
    step_minutes: float = 10.0,
) -> Observability:
    """Observability of the ``p`` credible region from ``where`` during the first night after
    ``start`` (an astropy Time; default now)."""
    import astropy.units as u
    from astropy.time import Time

    if not max_airmass >= 1.0:
        raise GwalertError("--max-airmass must be at least 1")
    with installed_tables():
        loc = where.location()
        start = Time.now() if start is None else start
        night_start, night_end = find_night(loc, start, twilight)
        span = max((night_end - night_start).to_value(u.min), 0.0)
        n = max(2, int(math.ceil(span / step_minutes)) + 1)
        times = night_start + np.linspace(0.0, span, n) * u.min
        sun = sun_altitude(loc, times)
        ra, dec, prob = region_rows(sm, p)
        rows_area = _row_areas(sm, p)
        alt = altitudes(ra, dec, loc, times)
        note = staleness(times, max(max_airmass, 1.5))
    min_alt = math.degrees(math.asin(1.0 / max_airmass))
    visible = alt >= min_alt
    prob_visible = (visible * prob).sum(axis=1)
    ever = visible.any(axis=0)
    quantiles = np.full((len(times), 5), np.nan)
    with np.errstate(divide="ignore"):
        airmass = 1.0 / np.sin(np.radians(alt))
    for i in range(len(times)):
        up = alt[i] > 0
        if up.any():
            quantiles[i] = _weighted_quantiles(
                airmass[i, up], prob[up], (0.05, 0.25, 0.5, 0.75, 0.95)
            )
    return Observability(
        where,
        night_start,
        night_end,
        twilight,
        max_airmass,
        p,
        times,
        sun,
        prob_visible,
        quantiles,
        float(prob.sum()),
        float(rows_area.sum()),
        float(prob[ever].sum()),
        float(rows_area[ever].sum()),
        {"note": note} if note else {},
    )


def _row_areas(sm: SkyMap, p: float) -> np.ndarray:

    rank = sm.ranking
    rows = np.flatnonzero(rank.searched_prob - sm.prob < p)
    return sm.pixel_area[rows] * (180.0 / math.pi) ** 2


def _weighted_quantiles(x: np.ndarray, w: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order])
    cw /= cw[-1]
    idx = np.minimum(np.searchsorted(cw, qs), x.size - 1)
    return x[order][idx]


def text(obs: Observability) -> list[str]:
    t, p = obs.best()
    best = (
        f"    best at {t.utc.isot[11:16]} UTC: {100 * p:.0f}% of the map's probability "
        "observable at once"
        if p > 0
        else f"    nothing of the region rises above airmass {obs.max_airmass:g} this night"
    )
    return [
        f"  observability from {obs.site}:",
        f"    night (Sun below {obs.twilight:g}°): {obs.start.utc.isot[:16]} -> "
        f"{obs.end.utc.isot[:16]} UTC",
        f"    {100 * obs.level:g}% region above airmass {obs.max_airmass:g} at some time: "
        f"{100 * obs.fraction_area:.0f}% of its area, {100 * obs.fraction_prob:.0f}% of its "
        "probability",
        best,
    ] + ([f"    {obs.extra['note']}"] if obs.extra.get("note") else [])


def plot(obs: Observability, path: str | os.PathLike, *, title: str = "") -> None:
    """A probability-weighted airmass chart over the night: median airmass with 50% and 90%
    bands of the region's probability, the probability above the airmass limit, and twilight
    shading (PNG, PDF or SVG by extension)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import DateFormatter
    from matplotlib.figure import Figure

    from .skymap.plot import plot_format

    fmt = plot_format(path)
    t = obs.times.to_datetime()
    fig = Figure(figsize=(9, 5.2))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.09, 0.13, 0.78, 0.74))
    q = obs.airmass_quantiles
    ax.fill_between(
        t,
        q[:, 0],
        q[:, 4],
        color="#64d2ff",
        alpha=0.25,
        lw=0,
        label="airmass, 90% of the probability",
    )
    ax.fill_between(
        t,
        q[:, 1],
        q[:, 3],
        color="#0a84ff",
        alpha=0.35,
        lw=0,
        label="airmass, 50% of the probability",
    )
    ax.plot(t, q[:, 2], color="#0040dd", lw=1.8, label="probability-weighted median")
    ax.axhline(
        obs.max_airmass,
        color="#ff453a",
        ls="--",
        lw=1.2,
        label=f"airmass limit {obs.max_airmass:g}",
    )
    ax.set_ylim(3.0 if obs.max_airmass < 3 else obs.max_airmass + 0.5, 1.0)  # low is good
    ax.set_ylabel("airmass")
    ax.set_xlabel("time (UTC)")
    ax.xaxis.set_major_formatter(DateFormatter("%H:%M"))
    ax.set_xlim(t[0], t[-1])
    ax.grid(alpha=0.3)
    twin = ax.twinx()
    twin.plot(t, obs.prob_visible, color="#ff9f0a", lw=1.8, label="probability above the limit")
    twin.set_ylim(0, max(0.05, float(obs.prob_visible.max()) * 1.15))
    twin.set_ylabel("probability observable at once", color="#c36b00")
    dark = obs.sun_alt < obs.twilight
    if not dark.all():
        ax.fill_between(t, 1.0, 10.0, where=~dark, color="grey", alpha=0.15, lw=0, label="twilight")
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="lower left", fontsize=8, framealpha=0.9)
    fig.suptitle(title or f"{100 * obs.level:g}% region from {obs.site.name}", fontsize=12)
    fig.text(
        0.5,
        0.905,
        f"night {obs.start.utc.isot[:16]} → {obs.end.utc.isot[:16]} UTC · "
        f"{100 * obs.fraction_prob:.0f}% of the region's probability above airmass "
        f"{obs.max_airmass:g} at some time",
        ha="center",
        fontsize=9,
    )
    fig.savefig(os.fspath(path), format=fmt, dpi=110)
