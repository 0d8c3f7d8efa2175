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
from gwalert.earth import installed_tables
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
    with installed_tables():
        mine = ob.altitudes(np.array([ra]), np.array([dec]), loc, times)[:, 0]
        ref = (
            SkyCoord(ra * u.deg, dec * u.deg)
            .transform_to(AltAz(obstime=times, location=loc))
            .alt.deg
        )
    # refraction off in both; what differs is diurnal aberration and polar motion (< 1")
    assert np.max(np.abs(mine - ref)) < 0.01


def test_night_is_dark_and_bounded_by_twilight():
    import astropy.units as u
    from astropy.time import Time

    loc = ob.site("La Silla").location()
    with installed_tables():
        start, end = ob.find_night(loc, Time("2026-03-01T12:00:00"))
        inside = start + np.linspace(0, (end - start).to_value(u.min), 20) * u.min
        assert (ob.sun_altitude(loc, inside) < -18).all()
        edges = ob.sun_altitude(loc, Time([start - 10 * u.min, end + 10 * u.min]))
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


@pytest.fixture
def stale_offline_astropy():
    """astropy as on an offline server whose installed IERS table is older than astropy's
    age limit: no internet, auto_max_age below the table's age (astropy itself then refuses
    every time past the table's predictions)."""
    from astropy.time import Time
    from astropy.utils import iers
    from astropy.utils.data import conf as data_conf

    with installed_tables():
        table = iers.IERS_Auto.open()
    age = Time.now().mjd - float(table.meta["predictive_mjd"])
    with (
        data_conf.set_temp("allow_internet", False),
        iers.conf.set_temp("auto_max_age", max(age / 2, 1e-3)),
    ):
        yield


def test_astropy_alone_fails_in_the_stale_offline_setting(stale_offline_astropy):
    """The precondition: without gwalert's installed_tables, astropy fails here."""
    from astropy.time import Time

    with pytest.raises(ValueError):
        Time("2045-06-01T00:00:00").sidereal_time("apparent", longitude=0.0)


@pytest.mark.parametrize("night", ["2045-06-01", "now"])
@pytest.mark.parametrize("where", ["Mauna Kea", "-30.24,-70.74,2663"])
def test_site_offline_far_past_the_table_never_fails(
    stale_offline_astropy, capsys, tmp_path, night, where
):
    """skymap --site works offline whatever the date; past the installed table it says once,
    in one line, what that costs, and nothing when the table covers the night."""
    from gwalert.earth import table_end

    path = tmp_path / "m.fits"
    path.write_bytes(gaussian_skymap(200.0, -20.0, 5.0, distance=None, max_level=6))
    args = ["skymap", str(path), f"--site={where}", "--max-airmass", "3"]
    if night != "now":
        args += ["--night-of", night]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "unexpected error" not in out + err and "Traceback" not in err
    notes = [line for line in (out + err).splitlines() if "IERS" in line]
    past = night != "now" and table_end().utc.isot[:10] < night
    # past the table: one line; tonight: one line only if the table is older than 30 days
    assert len(notes) == 1 if past else len(notes) <= 1, out + err
    assert all("negligible" in n for n in notes)
    if past:
        assert table_end().utc.isot[:10] in notes[0]
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert bool(report["observability"]["note"]) == bool(notes)


@settings(max_examples=10, deadline=None)
@given(st.floats(0, 360), st.floats(-89, 89), st.integers(1, 40))
def test_past_the_table_altitudes_stay_within_the_stated_error(ra, dec, years):
    """The stated cost is honest: past the table, the altitude error is bounded by the
    clipped UT1-UTC, which is what the note's arcseconds assume (|UT1-UTC| < 0.9 s)."""
    import astropy.units as u

    from gwalert.earth import POLAR_MOTION, UT1_ERROR_PAST_TABLE, table_end

    loc = ob.site("Paranal").location()
    t = table_end() + years * 365.25 * u.day + np.linspace(0, 10, 5) * u.hour
    with installed_tables():
        alt = ob.altitudes(np.array([ra]), np.array([dec]), loc, t)[:, 0]
        shifted = ob.altitudes(
            np.array([ra]), np.array([dec]), loc, t + UT1_ERROR_PAST_TABLE * u.s
        )[:, 0]
    bound = (UT1_ERROR_PAST_TABLE * 15.0 + POLAR_MOTION) / 3600.0
    assert np.all(np.isfinite(alt))
    assert np.max(np.abs(shifted - alt)) <= bound
