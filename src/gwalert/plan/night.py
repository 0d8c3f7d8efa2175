"""A night at a site, as the scheduler sees it: its edges, and each field's altitude and Moon
distance at any time of it.

The night runs while the Sun is below the twilight altitude (its edges found to the second by
bisection on astropy's Sun). Altitudes come from the apparent sidereal time, as
``gwalert.observability`` computes them: the fields are carried once to the true equator and
equinox of the middle of the night. The Moon is interpolated between 15-minute positions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..earth import installed_tables
from ..observability import Site, apparent, sun_altitude
from ..skymap.vectors import unit_vectors

_SIDEREAL = 2 * math.pi * 1.002737909350795 / 86400.0  # rad of sidereal angle per UT second
ALT_MARGIN = 0.05  # degrees kept above the airmass limit (refraction-free model vs astropy)
MOON_MARGIN = 1.5  # degrees: lunar parallax (<1°) and aberration on top of the limit
SAMPLE = 60.0  # s between the samples of when fields are up
_MOON_STEP = 900.0  # s between the Moon's computed positions


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


class Night:
    """Fields' altitudes and Moon distances over the first night after ``start``; times are
    seconds from the night's start."""

    def __init__(
        self,
        ra: np.ndarray,
        dec: np.ndarray,
        where: Site,
        start: Any,
        *,
        twilight: float,
        max_airmass: float,
        moon_separation: float,
    ) -> None:
        import astropy.units as u

        ra, dec = np.asarray(ra, float), np.asarray(dec, float)
        with installed_tables():
            loc = where.location()
            self.start, self.end = night_edges(loc, start, twilight)
            self.span = float((self.end - self.start).to_value(u.s))
            mid = self.start + self.span / 2 * u.s
            self.a, d = apparent(ra, dec, loc, mid)
            self.theta0 = float(self.start.sidereal_time("apparent", longitude=loc.lon).rad)
            self.moon_grid = np.arange(0.0, self.span + _MOON_STEP, _MOON_STEP)
            self.moon = _moon(loc, self.start + self.moon_grid * u.s)
        self.phi = math.radians(where.lat)
        min_alt = math.degrees(math.asin(1.0 / max_airmass)) + ALT_MARGIN
        self.sin_min = math.sin(math.radians(min_alt))
        self.sin_d, self.cos_d = np.sin(d), np.cos(d)
        self.fv = unit_vectors(ra, dec)
        self.cos_moon = math.cos(math.radians(min(moon_separation + MOON_MARGIN, 180.0)))
        self.samples = np.arange(0.0, self.span + SAMPLE, SAMPLE)
        #: (times, fields): above the airmass limit at each sample
        self.up = self.sin_alt(self.samples[:, None]) >= self.sin_min

    def sin_alt(self, t: np.ndarray | float, idx: Any = slice(None)) -> np.ndarray:
        h = self.theta0 + _SIDEREAL * np.asarray(t) - self.a[idx]
        return math.sin(self.phi) * self.sin_d[idx] + math.cos(self.phi) * self.cos_d[idx] * np.cos(
            h
        )

    def lowest(self, t0: Any, t1: Any, idx: Any = slice(None)) -> np.ndarray:
        """Lowest sin(altitude) over [t0, t1]: at an end, or at lower culmination inside."""
        low = np.minimum(self.sin_alt(t0, idx), self.sin_alt(t1, idx))
        h0 = np.mod(self.theta0 + _SIDEREAL * t0 - self.a[idx] - math.pi, 2 * math.pi)
        inside = h0 + _SIDEREAL * (t1 - t0) >= 2 * math.pi  # hour angle passes 180°
        bottom = math.sin(self.phi) * self.sin_d[idx] - math.cos(self.phi) * self.cos_d[idx]
        return np.where(inside, np.minimum(low, bottom), low)

    def moon_ok(self, t0: Any, t1: Any, idx: Any = slice(None)) -> np.ndarray:
        """Far enough from the Moon at both ends of [t0, t1]."""
        fv = self.fv[idx]
        ok = np.ones(fv.shape[0], bool)
        step, grid = _MOON_STEP, self.moon_grid
        for t in (t0, t1):
            t = np.broadcast_to(np.asarray(t, float), ok.shape)
            k = np.clip((t // step).astype(int), 0, grid.size - 2)
            w = ((t - grid[k]) / step)[:, None]
            m = (1 - w) * self.moon[k] + w * self.moon[k + 1]
            m /= np.linalg.norm(m, axis=1, keepdims=True)
            ok &= np.einsum("ij,ij->i", fv, m) <= self.cos_moon
        return ok

    def sample(self, t: float) -> int:
        """The index of the last sample at or before ``t``."""
        return min(int(t // SAMPLE), self.samples.size - 1)

    def best_after(self, end: float) -> np.ndarray:
        """(times, fields): the highest sin(altitude) of each field from each sample to
        ``end`` (-1 past it)."""
        s = self.sin_alt(self.samples[:, None]).astype(np.float32)
        s[self.samples > end] = -1.0
        return np.maximum.accumulate(s[::-1], axis=0)[::-1]
