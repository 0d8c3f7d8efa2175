"""The sky-map picture: its zoom panel holds every requested contour of every mode, formats
follow the file name, markers land where they belong; contour exports enclose the credible
areas."""

from __future__ import annotations

import json

import astropy_healpix as ah
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import modes_map, shared_file
from gwalert.cli import main
from gwalert.samples import write_skymap
from gwalert.skymap import SkyMap
from gwalert.skymap import contour as contour_mod
from gwalert.skymap.plot import zoom_grid, zoom_wcs, zoom_window, zoom_windows


def _modes_map(modes: list[tuple[float, float, float, float]], level: int = 6) -> SkyMap:
    """A single-order map of Gaussian blobs (ra, dec, sigma, weight), as a SkyMap."""
    return SkyMap.read(modes_map(modes, level))


def _check_window_holds(sm: SkyMap, levels: list[float]) -> list | None:
    """The zoom panels hold every pixel of the largest region and cut no contour."""
    from gwalert.skymap.plot import region_pixels

    windows = zoom_windows(sm, levels[-1])
    if windows is None:
        return None
    rows, _, ipix, nside = region_pixels(sm, levels[-1])
    lon, lat = ah.healpix_to_lonlat(ipix, nside, order="nested")
    held = np.zeros(rows.size, bool)
    for window in windows:
        wcs = zoom_wcs(*window, npix=200)
        _, level = zoom_grid(sm, wcs)
        border = np.concatenate([level[0], level[-1], level[:, 0], level[:, -1]])
        # No contour may leave the panel: the border lies outside the largest region.
        assert border.min() > levels[-1]
        x, y = wcs.world_to_pixel_values(lon.deg, lat.deg)
        held |= (x > -0.5) & (x < 199.5) & (y > -0.5) & (y < 199.5)
    assert held.all()  # every mode, every pixel of the region
    ra, dec = sm.most_probable()
    assert sm.searched_prob(np.array([ra]), np.array([dec]))[0] <= levels[0]
    return windows


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.floats(0, 360), st.floats(-89, 89), st.floats(1.5, 8), st.floats(0.3, 1.0)),
        min_size=1,
        max_size=3,
    ),
    st.sampled_from([[0.5, 0.9], [0.5, 0.9, 0.99], [0.9]]),
)
def test_zoom_holds_every_contour_of_every_mode(modes, levels):
    _check_window_holds(_modes_map(modes, level=5), levels)


def test_zoom_on_the_guide_maps_holds_the_99_percent_contour():
    from gwalert.alerts import read_notices

    for name, combined in (
        ("MS181101ab-preliminary.json", False),
        ("MS230425l-preliminary.json", True),
    ):
        notice = read_notices(shared_file("notices", name))[0]
        sm = notice.combined_skymap if combined else notice.skymap
        _check_window_holds(sm, [0.5, 0.9, 0.99])
    # MS230425l's own map: two modes 160° apart, one panel each (the hidden mode).
    sm = read_notices(shared_file("notices", "MS230425l-preliminary.json"))[0].skymap
    assert len(_check_window_holds(sm, [0.5, 0.9])) == 2
    # MS181101ab: the 90% region reaches Dec -27.4°; the panel shows all of it.
    sm = read_notices(shared_file("notices", "MS181101ab-preliminary.json"))[0].skymap
    ra, dec, radius = zoom_window(sm, 0.9)
    assert radius < 40


def test_two_far_modes_get_a_panel_each():
    sm = _modes_map([(80, -30, 3, 1.0), (270, 40, 3, 0.5)])
    assert zoom_window(sm, 0.9) is None  # no single panel holds both
    first, second = _check_window_holds(sm, [0.5, 0.9])
    assert abs(first[0] - 80) < 3 and abs(first[1] + 30) < 3  # most probable first
    assert abs(second[0] - 270) < 3 and abs(second[1] - 40) < 3
    three = _modes_map([(80, -30, 3, 1.0), (270, 40, 3, 1.0), (170, 0, 3, 1.0)])
    assert zoom_windows(three, 0.9) is None  # at most two panels
    near = _modes_map([(80, -30, 2, 1.0), (95, -10, 2, 1.0)])
    ra, dec, radius = zoom_window(near, 0.9)
    assert 80 < ra < 95 and -30 < dec < -10 and radius < 25
    _check_window_holds(near, [0.5, 0.9])


def test_zoom_is_gnomonic_with_true_shapes_at_high_declination():
    """A round blob at Dec +60 stays round in the panel (RA scaled by cos Dec)."""
    sm = _modes_map([(30, 60, 4, 1.0)])
    wcs = zoom_wcs(*zoom_window(sm, 0.9), npix=200)
    assert wcs.wcs.ctype[0] == "RA---TAN"
    _, level = zoom_grid(sm, wcs)
    inside = level <= 0.5
    ys, xs = np.nonzero(inside)
    assert abs((xs.max() - xs.min()) / (ys.max() - ys.min()) - 1) < 0.15  # not 2 or 0.5
    # East (growing RA) to the left.
    x_east, _ = wcs.world_to_pixel_values(33.0, 60.0)
    x_west, _ = wcs.world_to_pixel_values(27.0, 60.0)
    assert x_east < x_west


def _cli(capsys, *argv):
    rc = main(["skymap", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def wrap_map(tmp_path_factory):
    """A map across RA 0/360 with a date (for the Sun and Moon)."""
    path = tmp_path_factory.mktemp("plot") / "wrap.fits"
    sm = _modes_map([(359.0, 40.0, 3.0, 1.0)])
    path.write_bytes(
        write_skymap(
            sm.uniq, sm.probdensity, meta={"OBJECT": "wrap", "DATE-OBS": "2026-03-01T03:00:00"}
        )
    )
    return path


@pytest.mark.parametrize("ext,magic", [(".png", b"\x89PNG"), (".pdf", b"%PDF"), (".svg", b"<?xml")])
@pytest.mark.slow
def test_format_follows_the_extension(capsys, tmp_path, wrap_map, ext, magic):
    out = tmp_path / f"sky{ext}"
    rc, text, err = _cli(
        capsys,
        str(wrap_map),
        "--plot",
        str(out),
        "--radec",
        "10",
        "35",
        "--galactic-plane",
        "--sun-moon",
    )
    assert rc == 0, err
    assert out.read_bytes().startswith(magic)
    assert str(out) in text


def test_unknown_picture_format_is_refused_before_work(capsys, tmp_path, wrap_map):
    rc, out, err = _cli(capsys, str(wrap_map), "--plot", str(tmp_path / "x.jpgg"))
    assert rc == 1 and out == "" and "use a .png, .pdf or .svg" in err


def test_sun_and_moon_positions_match_astropy():
    from astropy.coordinates import get_body
    from astropy.time import Time

    from gwalert.skymap.plot import sun_and_moon

    sm = _modes_map([(10, 10, 5, 1.0)])
    sm.meta["DATE-OBS"] = "2018-11-01T22:22:46.654"
    marks = {m.kind: m for m in sun_and_moon(sm)}
    t = Time("2018-11-01T22:22:46.654")
    sun = get_body("sun", t)
    assert marks["sun"].ra == pytest.approx(sun.ra.deg) and marks["sun"].dec < -10
    # The Sun on 1 November: RA about 14h 27m, Dec about -14.5 (almanac values).
    assert abs(marks["sun"].ra - 216.7) < 1.0 and abs(marks["sun"].dec + 14.5) < 0.5
    assert set(marks) == {"sun", "moon"}
    sm.meta.pop("DATE-OBS")
    assert sun_and_moon(sm) == []


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=False
)
@given(st.floats(0, 360), st.floats(-75, 75), st.floats(2, 6))
def test_contours_enclose_the_credible_area(ra, dec, sigma):
    sm = _modes_map([(ra, dec, sigma, 1.0)], level=6)
    lines = contour_mod.credible_contours(sm, [0.5, 0.9], pixels=300)
    for p, rings in lines.items():
        # one main ring; the pixel staircase of a single-order map may add tiny islands
        assert all(np.allclose(r[0], r[-1]) for r in rings)  # closed
        areas = sorted((contour_mod.enclosed_area(r) for r in rings), reverse=True)
        assert sum(areas[1:]) < 0.02 * areas[0]
        assert sum(areas) == pytest.approx(float(sm.credible_area(p)), rel=0.06)
        # The main ring passes through points whose credible level is p.
        ring = max(rings, key=len)
        levels = sm.searched_prob(ring[:, 0], ring[:, 1])
        assert np.median(np.abs(levels - p)) < 0.08


def test_contour_files(capsys, tmp_path, wrap_map):
    gj = tmp_path / "c.geojson"
    reg = tmp_path / "c.reg"
    rc, out, err = _cli(capsys, str(wrap_map), "--contours-out", str(gj))
    assert rc == 0, err
    data = json.loads(gj.read_text())
    assert [f["properties"]["credible_level"] for f in data["features"]] == [50, 90]
    for f in data["features"]:
        assert f["geometry"]["type"] == "MultiLineString"
        for line in f["geometry"]["coordinates"]:
            assert all(0 <= lon < 360 and -90 <= lat <= 90 for lon, lat in line)
    rc, out, err = _cli(capsys, str(wrap_map), "--contours-out", str(reg), "--contours", "90")
    assert rc == 0, err
    text = reg.read_text().splitlines()
    assert text[1] == "icrs" and text[2].startswith("polygon(") and "text={90%}" in text[2]
    ring = np.array([float(v) for v in text[2].split("(")[1].split(")")[0].split(",")])
    assert ring.size % 2 == 0 and ring.size >= 40


@pytest.mark.slow
def test_api_plot_to_a_file_object_or_a_bare_name_is_png(tmp_path):
    import io

    from gwalert.errors import GwalertError

    sm = _modes_map([(10, 10, 5, 1.0)], level=4)
    buf = io.BytesIO()
    sm.plot(buf)
    assert buf.getvalue().startswith(b"\x89PNG")
    sm.plot(tmp_path / "bare")
    assert (tmp_path / "bare").read_bytes().startswith(b"\x89PNG")
    with pytest.raises(GwalertError, match="unknown picture format '.jpg'"):
        sm.plot(tmp_path / "x.jpg")
