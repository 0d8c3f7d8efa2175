"""Observability from a site: sites offline, night boundaries and altitudes against astropy,
the fraction of the region above an airmass limit, the chart."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwalert import observability as ob
from gwalert.cli import main
from gwalert.errors import GwalertError
from gwalert.samples import gaussian_skymap


def test_sites_by_name_alias_and_coordinates():
    assert ob.site("Rubin Observatory").name == "Rubin Observatory"
    assert ob.site("LSST") == ob.site("rubin observatory")
    assert ob.site("keck").name == "Mauna Kea"
    s = ob.site("-30.5, 21.4, 1800")
    assert (s.lat, s.lon, s.height) == (-30.5, 21.4, 1800.0)
    assert ob.site("40,350").lon == -10.0
    with pytest.raises(GwalertError, match="did you mean 'Paranal'"):
        ob.site("paranall")
    with pytest.raises(GwalertError, match="latitude within"):
        ob.site("95,10")
    lat = [ob.site(names[0]).location().lat.deg for names, *_ in ob.SITES]
    assert all(-35 < x < 41 for x in lat)  # every entry builds a location


@settings(max_examples=15, deadline=None)
@given(st.floats(0, 360), st.floats(-89, 89), st.floats(0, 1))
@pytest.mark.slow
def test_altitudes_match_astropy_altaz(ra, dec, frac):
    import astropy.units as u
    from astropy.coordinates import AltAz, SkyCoord
    from astropy.time import Time

    loc = ob.site("Paranal").location()
    times = Time("2026-06-01T00:00:00") + np.linspace(0, 10, 6) * u.hour + frac * u.day
    handles = ob._quiet_iers()
    try:
        mine = ob.altitudes(np.array([ra]), np.array([dec]), loc, times)[:, 0]
        ref = (
            SkyCoord(ra * u.deg, dec * u.deg)
            .transform_to(AltAz(obstime=times, location=loc))
            .alt.deg
        )
    finally:
        ob._release(handles)
    # refraction off in both; what differs is diurnal aberration and polar motion (< 1")
    assert np.max(np.abs(mine - ref)) < 0.01


def test_night_is_dark_and_bounded_by_twilight():
    import astropy.units as u
    from astropy.time import Time

    loc = ob.site("La Silla").location()
    handles = ob._quiet_iers()
    try:
        start, end = ob.find_night(loc, Time("2026-03-01T12:00:00"))
        inside = start + np.linspace(0, (end - start).to_value(u.min), 20) * u.min
        assert (ob.sun_altitude(loc, inside) < -18).all()
        edges = ob.sun_altitude(loc, Time([start - 10 * u.min, end + 10 * u.min]))
    finally:
        ob._release(handles)
    assert (edges > -18).all()
    assert 6 < (end - start).to_value(u.hour) < 11  # a southern-summer night at -29°


@pytest.mark.slow
def test_fraction_above_airmass_and_chart(capsys, tmp_path):
    south = tmp_path / "south.fits"
    south.write_bytes(
        gaussian_skymap(45.0, -35.0, 4.0, distance=None, max_level=6, meta={"OBJECT": "south"})
    )
    north = tmp_path / "north.fits"
    north.write_bytes(gaussian_skymap(45.0, 75.0, 4.0, distance=None, max_level=6))
    chart = tmp_path / "airmass.png"
    rc = main(
        [
            "skymap",
            str(south),
            "--site",
            "rubin",
            "--night-of",
            "2018-11-01T18:00",
            "--observability",
            str(chart),
            "--json",
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0, err
    obs = json.loads(out)["observability"]
    assert obs["site"] == "Rubin Observatory" and obs["fraction_prob"] == 1.0
    assert obs["night_start"].startswith("2018-11-02T00:")
    assert 0.85 < obs["best_prob"] <= 0.91  # the whole region up at once
    assert chart.read_bytes().startswith(b"\x89PNG")
    rc = main(["skymap", str(north), "--site", "rubin", "--night-of", "2018-11-01T18:00", "--json"])
    obs = json.loads(capsys.readouterr()[0])["observability"]
    assert rc == 0 and obs["fraction_prob"] == 0.0 and obs["best_prob"] == 0.0
    rc = main(
        [
            "skymap",
            str(north),
            "--site",
            "rubin",
            "--night-of",
            "2018-11-01T18:00",
            "--max-airmass",
            "20",
            "--json",
        ]
    )
    assert json.loads(capsys.readouterr()[0])["observability"]["fraction_prob"] == 0.0
    rc = main(["skymap", str(north), "--site", "palomar", "--night-of", "2018-11-01T18:00"])
    out = capsys.readouterr()[0]
    assert rc == 0 and "at some time: 100% of its area, 100% of its probability" in out


def test_observability_options_need_a_site(capsys, tmp_path):
    f = tmp_path / "m.fits"
    f.write_bytes(gaussian_skymap(max_level=4))
    rc = main(["skymap", str(f), "--observability", str(tmp_path / "x.png")])
    assert rc == 2 and "need --site" in capsys.readouterr()[1]
    rc = main(["skymap", str(f), "--site", "nowhere-at-all"])
    assert rc == 1 and "unknown site" in capsys.readouterr()[1]
