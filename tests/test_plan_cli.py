"""gwalert plan on the command line: the tiles-only JSON interface, every shared map, bad input
(one line naming the input and the reason, exit status, no traceback)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_plan_schedule import case as schedule_case

from conftest import SKYMAPS, shared_file
from gwalert.cli import main

CWB = "G1028259_rrt_small_area_cwb.multiorder.fits"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["plan", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str, *words: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("gwalert: ")
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], (w, lines[0])


def maps() -> list[str]:
    return sorted(p.name for p in SKYMAPS.glob("*.fits*")) if SKYMAPS.is_dir() else []


@pytest.mark.parametrize("name", maps() or ["(none)"])
@pytest.mark.parametrize("fov", [["--fov", "6.86"], ["--fov-radius", "1"], ["--fov", "3x2"]])
def test_every_shared_map_plans(capsys, name, fov):
    path = shared_file("skymaps", name)
    code, out, err = run(capsys, str(path), *fov, "--tiles", "20", "--json")
    assert code == 0, err
    plan = json.loads(out)
    tiles = plan["tiles"]
    assert 1 <= len(tiles) <= 20
    cum = [t["cumulative"] for t in tiles]
    assert cum == sorted(cum) and 0 < cum[-1] <= 1 + 1e-9
    for t in tiles:
        assert 0 <= t["ra"] < 360 and -90 <= t["dec"] <= 90
        assert 0 <= t["probability"] <= t["cumulative"] + 1e-12 or t is not tiles[0]
    assert tiles[0]["probability"] == pytest.approx(tiles[0]["cumulative"])


def test_text_csv_and_milp(capsys, tmp_path):
    path = shared_file("skymaps", CWB)
    out_csv = tmp_path / "plan.csv"
    code, out, err = run(
        capsys, str(path), "--fov", "2", "--tiles", "5", "--method", "milp", "--csv", str(out_csv)
    )
    assert code == 0, err
    assert "optimality gap" in out and "fields of square 2°" in out
    rows = out_csv.read_text().splitlines()
    assert rows[0].startswith("id,ra,dec,probability,cumulative") and len(rows) == 6


def test_fields_file_and_observed(capsys, tmp_path):
    path = shared_file("skymaps", CWB)
    code, out, _ = run(capsys, str(path), "--fov", "2", "--tiles", "6", "--json")
    first = json.loads(out)["tiles"]
    grid = tmp_path / "grid.csv"
    grid.write_text(
        "id,ra,dec\n" + "".join(f"F{k},{t['ra']},{t['dec']}\n" for k, t in enumerate(first))
    )
    code, out, err = run(
        capsys, str(path), "--fov", "2", "--fields", str(grid), "--tiles", "6", "--json"
    )
    assert code == 0, err
    ids = [t["id"] for t in json.loads(out)["tiles"]]
    assert set(ids) <= {f"F{k}" for k in range(6)}
    done = tmp_path / "done.csv"
    done.write_text("F0,{},{}\n".format(first[0]["ra"], first[0]["dec"]))
    code, out, err = run(
        capsys, str(path), "--fov", "2", "--fields", str(grid), "--observed", str(done), "--json"
    )
    assert code == 0, err
    assert "F0" not in [t["id"] for t in json.loads(out)["tiles"]]


def test_2d_map_with_a_catalog_says_distances_are_unused(capsys):
    path = shared_file("skymaps", CWB)
    cat = shared_file("catalogs", "gwemopt_catalog_glade_S190814bv.csv")
    code, out, err = run(capsys, str(path), "--fov", "2", "--tiles", "3", "--catalog", str(cat))
    assert code == 0, err
    assert "distances are not used" in out


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--telescope", "ztff"], ["--telescope ztff", "did you mean 'ZTF'"]),
        (["--telescope", "hubble"], ["--telescope hubble", "unknown telescope"]),
        (["--fov", "0"], ["--fov 0", "between 0 and 180"]),
        (["--fov", "-3"], ["--fov -3"]),
        (["--fov", "180"], ["--fov 180"]),
        (["--fov", "200x2"], ["--fov 200"]),
        (["--fov", "abc"], ["--fov abc", "SIDE"]),
        (["--fov-radius", "0"], ["--fov-radius 0"]),
        (["--fov-radius", "95"], ["--fov-radius 95"]),
        (["--fov", "3", "--fov-radius", "1"], ["one field of view"]),
        ([], ["field of view"]),
        (["--fov", "3", "--tiles", "0"], ["--tiles"]),
        (["--fov", "3", "--coverage", "1.5"], ["--coverage"]),
        (["--fov", "3", "--site", "nowhere-land"], ["--site nowhere-land", "unknown site"]),
    ],
)
def test_bad_options(capsys, argv, words):
    path = shared_file("skymaps", CWB)
    code, _, err = run(capsys, str(path), *argv)
    assert code == 1
    one_line_error(err, *words)


@pytest.mark.parametrize(
    "text, words",
    [
        ("", ["--footprint", "no vertices"]),
        ("# only a comment\n", ["--footprint", "no vertices"]),
        ("1 2 3\n", ["line 1", "two numbers"]),
        ("0 0\n1 1\n", ["at least three"]),
        ("0 0\n1 0\n2 0\n", ["no area"]),
        ("0 0\n2 0\n1 0.2\n2 2\n0 2\n", ["not convex"]),
        ("a b\n", ["line 1"]),
        ("0 0\n1e9 0\n0 1\n", ["within 89"]),
        ("nan 0\n1 0\n0 1\n", ["finite"]),
    ],
)
def test_bad_footprint_files(capsys, tmp_path, text, words):
    path = shared_file("skymaps", CWB)
    fp = tmp_path / "fp.txt"
    fp.write_text(text)
    code, _, err = run(capsys, str(path), "--footprint", str(fp))
    assert code == 1
    one_line_error(err, *words)


@pytest.mark.parametrize(
    "text, words",
    [
        ("", ["--fields", "empty"]),
        ("id,ra,dec\n", ["--fields", "no fields"]),
        ("id,ra\nA,1\n", ["--fields", "needs both ra and dec"]),
        ("id,ra,dec\nA,x,3\n", ["line 2"]),
        ("id,ra,dec\nA,3,95\n", ["line 2", "out of range"]),
        ("\x00\x01binary", ["--fields"]),
    ],
)
def test_bad_fields_files(capsys, tmp_path, text, words):
    path = shared_file("skymaps", CWB)
    f = tmp_path / "f.csv"
    f.write_text(text)
    code, _, err = run(capsys, str(path), "--fov", "3", "--fields", str(f))
    assert code == 1
    one_line_error(err, *words)


def test_missing_files(capsys, tmp_path):
    path = shared_file("skymaps", CWB)
    for opt in ("--footprint", "--fields", "--observed"):
        argv = ["--fov", "3"] if opt != "--footprint" else []
        code, _, err = run(capsys, str(path), *argv, opt, str(tmp_path / "nope"))
        assert code == 1
        one_line_error(err, opt)
    code, _, err = run(capsys, str(tmp_path / "nope.fits"), "--fov", "3")
    assert code == 1 and "Traceback" not in err


def test_site_where_nothing_rises(capsys):
    """A small map region 60-odd degrees from the site's zenith at best: one honest line."""
    path = shared_file("skymaps", CWB)

    from gwalert.skymap import SkyMap

    dec = SkyMap.read(path).most_probable()[1]
    site = f"{dec - 64:g},0" if dec > 0 else f"{dec + 64:g},0"
    code, out, err = run(
        capsys,
        str(path),
        "--fov",
        "3",
        f"--site={site}",
        "--start",
        "2026-03-20T00:00",
        "--tiles",
        "5",
    )
    assert code == 1
    one_line_error(err, "nothing observable", "never rises above airmass 2")


def test_schedule_json(capsys):
    path = shared_file("skymaps", "bayestar.multiorder.fits")
    code, out, err = run(
        capsys, str(path), "--telescope", "ztf", "--start", "2026-05-01T00:00", "--tiles", "5",
        "--visits", "2", "--gap", "20m", "--filters", "g,r", "--json",
    )  # fmt: skip
    assert code == 0, err
    plan = json.loads(out)
    assert plan["site"] == "Palomar" and len(plan["tiles"]) == 5
    assert {e["filter"] for e in plan["exposures"]} == {"g", "r"}
    assert all(e["airmass"] <= 2 for e in plan["exposures"])


@pytest.mark.parametrize("hours, exposure, readout", [(0.2, 30, 10), (1.0, 90, 20), (0.02, 60, 0)])
def test_hours_without_a_site_bounds_the_fields(capsys, hours, exposure, readout):
    path = shared_file("skymaps", CWB)
    code, out, err = run(
        capsys, str(path), "--fov", "1", "--hours", str(hours), "--exposure", str(exposure),
        "--readout", str(readout), "--json",
    )  # fmt: skip
    assert code == 0, err
    fit = max(1, int(hours * 3600 // (exposure + readout)))
    assert 1 <= len(json.loads(out)["tiles"]) <= fit


def test_hours_shorter_than_one_field_is_refused(capsys):
    path = shared_file("skymaps", CWB)
    code, _, err = run(
        capsys, str(path), "--fov", "1", "--hours", "0.01", "--exposure", "60", "--readout", "0"
    )
    assert code != 0
    one_line_error(err, "--hours 0.01", "shorter than one field")


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    name=st.sampled_from(maps() or ["(none)"]),
    fov=st.floats(0.5, 8.0),
    hours=st.floats(0.02, 3.0),
    slew=st.floats(0.05, 8),  # down to slews far longer than the readout
    method=st.sampled_from(["greedy", "greedy", "milp"]),
    **{k: schedule_case[k] for k in ("exposure", "readout", "visits")},
)
def test_hours_without_a_site_count_slews(capsys, name, fov, hours, exposure, readout, slew,
                                          visits, method):  # fmt: skip
    """Random maps, field sizes, overheads and slew rates: the fields' exposures, readouts and
    slews (at the given rate, angles from astropy; the fields observed in order, ``visits``
    rounds) never take more than --hours."""
    from astropy.coordinates import SkyCoord

    path = shared_file("skymaps", name)
    code, out, err = run(
        capsys, str(path), "--fov", f"{fov:.3f}", "--hours", f"{hours:.4f}", "--exposure",
        f"{exposure:.3f}", "--readout", f"{readout:.3f}", "--slew-rate", f"{slew:.4f}",
        "--visits", str(visits), "--method", method, "--time-limit", "2", "--json",
    )  # fmt: skip
    one = visits * (float(f"{exposure:.3f}") + float(f"{readout:.3f}"))
    if one > float(f"{hours:.4f}") * 3600:
        assert code != 0
        one_line_error(err, "--hours", "shorter than one field")
        return
    assert code == 0, err
    tiles = json.loads(out)["tiles"]
    assert tiles
    seq = SkyCoord(
        [t["ra"] for t in tiles] * visits, [t["dec"] for t in tiles] * visits, unit="deg"
    )
    slews = seq[:-1].separation(seq[1:]).deg / float(f"{slew:.4f}")
    r = float(f"{readout:.3f}")
    total = len(seq) * (float(f"{exposure:.3f}") + r) + float(slews.sum())
    assert total <= float(f"{hours:.4f}") * 3600 * (1 + 1e-9), (total, hours)


def notices() -> list[str]:
    from conftest import NOTICES

    return sorted(p.name for p in NOTICES.glob("*")) if NOTICES.is_dir() else ["(none)"]


@pytest.mark.parametrize("name", notices())
def test_every_shared_notice_plans_or_says_why_not(capsys, name):
    path = shared_file("notices", name)
    code, out, err = run(capsys, str(path), "--fov", "6.86", "--tiles", "5", "--json")
    if "retraction" in name:
        assert code == 1
        one_line_error(err, "retraction")
        return
    assert code == 0, err
    plan = json.loads(out)
    assert plan["superevent_id"] and 1 <= len(plan["tiles"]) <= 5
    if "ext-update" in name or "MS230425l" in name:
        code, out, err = run(capsys, str(path), "--combined", "--fov", "6.86", "--tiles", "5")
        assert code == 0, err
