"""``gwalert skymap`` end to end: FITS files and notices in, text/JSON/PNG/MOC out."""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pytest

from conftest import shared_file
from gwalert.alerts import encode
from gwalert.cli import main
from gwalert.samples import gaussian_skymap, make_record
from gwalert.skymap import SkyMap


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["skymap", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    cbc = gaussian_skymap(
        120.0, -30.0, 5.0, distance=(150.0, 30.0), max_level=6, meta={"OBJECT": "MS260101a"}
    )
    burst = gaussian_skymap(200.0, 40.0, 8.0, distance=None, max_level=5)
    combined = gaussian_skymap(121.0, -29.0, 3.0, max_level=6)
    ext = {
        "gcn_notice_id": "1",
        "ivorn": "ivo://x",
        "observatory": "Fermi",
        "search": "GRB",
        "time_difference": 1.0,
        "time_coincidence_far": 1e-9,
        "time_sky_position_coincidence_far": 1e-10,
        "combined_skymap": combined,
    }
    files = {
        "cbc.fits": cbc,
        "cbc.fits.gz": gzip.compress(cbc),
        "burst.fits": burst,
        "prelim.avro": encode(make_record(skymap=cbc)),
        "prelim.json": encode(make_record(skymap=cbc), "json"),
        "burst.avro": encode(make_record("MS260102b", group="Burst", pipeline="CWB", skymap=burst)),
        "update.avro": encode(make_record(alert_type="UPDATE", skymap=cbc, external_coinc=ext)),
        "retraction.avro": encode(make_record(alert_type="RETRACTION")),
    }
    for name, data in files.items():
        (d / name).write_bytes(data)
    return d


def test_json_on_fits_matches_the_engine(capsys, sample_files):
    rc, out, err = _run(capsys, str(sample_files / "cbc.fits"), "--json")
    assert rc == 0, err
    facts = json.loads(out)
    sm = SkyMap.read(sample_files / "cbc.fits")
    assert (facts["ra"], facts["dec"]) == sm.most_probable()
    assert facts["area_50"] == sm.credible_area(0.5)
    assert facts["area_90"] == sm.credible_area(0.9)
    assert facts["vol_90"] == sm.credible_volume(0.9)
    assert facts["distmean"] == 150.0 and facts["has_distance"] is True
    assert [c["probability"] for c in facts["contours"]] == [0.5, 0.9]
    # gzip is read too, with the same answers.
    rc, out_gz, _ = _run(capsys, str(sample_files / "cbc.fits.gz"), "--json")
    assert rc == 0
    assert json.loads(out_gz)["area_90"] == facts["area_90"]


def test_matches_ligo_skymap(capsys, sample_files):
    crossmatch = pytest.importorskip("ligo.skymap.postprocess.crossmatch").crossmatch
    read_sky_map = pytest.importorskip("ligo.skymap.io").read_sky_map

    rc, out, _ = _run(
        capsys, str(sample_files / "cbc.fits"), "--json", "--contours", "50", "90", "95"
    )
    assert rc == 0
    facts = json.loads(out)
    ref = crossmatch(
        read_sky_map(str(sample_files / "cbc.fits"), moc=True), contours=(0.5, 0.9, 0.95)
    )
    np.testing.assert_allclose([c["area"] for c in facts["contours"]], ref.contour_areas, rtol=1e-6)
    np.testing.assert_allclose(
        [c["volume"] for c in facts["contours"]], ref.contour_vols, rtol=0.01
    )
    assert facts["vol_95"] == facts["contours"][2]["volume"]


def test_real_bayestar_map_text_and_json(capsys):
    path = str(shared_file("skymaps", "bayestar.multiorder.fits"))
    rc, out, _ = _run(capsys, path)
    assert rc == 0
    assert "M351927" in out and "19200 pixels" in out and "3-D" in out
    assert "90% region:    1,078.7 deg²" in out
    assert "distance:      157.7 ± 44.1 Mpc" in out
    rc, out, _ = _run(capsys, path, "--json")
    facts = json.loads(out)
    # ligo.skymap's crossmatch(contours=(0.5, 0.9)) on this file gives 338.781111 and
    # 1078.651030 deg², and 308,650 / 1,193,615 Mpc³ (tests/test_skymap_analysis.py).
    assert facts["area_50"] == pytest.approx(338.78111099, rel=1e-8)
    assert facts["area_90"] == pytest.approx(1078.65103027, rel=1e-8)
    assert facts["vol_90"] == pytest.approx(1193615.18, rel=1e-3)
    assert facts["distmean"] == pytest.approx(157.657265, rel=1e-6)
    assert (facts["ra"], facts["dec"]) == pytest.approx((38.84765625, -37.92165078), abs=1e-7)


def test_notices_in(capsys, sample_files):
    for name in ("prelim.avro", "prelim.json"):
        rc, out, _ = _run(capsys, str(sample_files / name), "--json")
        assert rc == 0
        facts = json.loads(out)
        assert facts["superevent_id"] == "MS260101a" and facts["alert_type"] == "PRELIMINARY"
        assert facts["vol_90"] > 0
    rc, out, _ = _run(capsys, str(sample_files / "burst.avro"))
    assert rc == 0 and "2-D (no distance)" in out and "Mpc" not in out
    rc, out, _ = _run(capsys, str(sample_files / "update.avro"), "--combined", "--json")
    assert rc == 0
    combined = json.loads(out)
    assert combined["combined_with"] == "Fermi"
    rc, out, _ = _run(capsys, str(sample_files / "update.avro"), "--json")
    assert combined["area_90"] < json.loads(out)["area_90"]  # the GRB sharpens the map


def test_errors_are_one_line(capsys, sample_files, tmp_path):
    retraction = str(sample_files / "retraction.avro")
    rc, out, err = _run(capsys, retraction)
    assert rc == 1 and out == ""
    assert err.strip() == (
        f"gwalert: {retraction}: MS260101a RETRACTION carries no sky map (a retraction)"
    )
    rc, _, err = _run(capsys, str(tmp_path / "missing.fits"))
    assert rc == 1 and "No such file" in err and err.count("\n") == 1
    rc, _, err = _run(capsys, str(sample_files / "prelim.avro"), "--combined")
    assert rc == 1 and "no external_coinc combined sky map" in err
    rc, _, err = _run(capsys, str(sample_files / "cbc.fits"), "--contours", "0", "90")
    assert rc == 1 and "between 0 and 100" in err
    bad = tmp_path / "bad.fits"
    bad.write_bytes(b"SIMPLE  =                    T" + b" " * 3000)
    rc, _, err = _run(capsys, str(bad))
    assert rc == 1 and err.startswith(f"gwalert: {bad}: ")
    cat = tmp_path / "cat.csv"
    cat.write_text("name,x,y\na,1,2\n")
    rc, _, err = _run(capsys, str(sample_files / "cbc.fits"), "--catalog", str(cat))
    assert rc == 1 and "needs 'ra' and 'dec' columns" in err
    cat.write_text("ra,dec\n10,95\n")
    rc, _, err = _run(capsys, str(sample_files / "cbc.fits"), "--catalog", str(cat))
    assert rc == 1 and "outside ±90°" in err
    out_png = tmp_path / "no" / "such" / "dir.png"
    rc, out, err = _run(capsys, str(sample_files / "cbc.fits"), "--plot", str(out_png))
    assert rc == 1 and out == ""
    assert err == f"gwalert: {out_png}: cannot write: no such directory {out_png.parent}\n"


def test_catalog_ranking(capsys, sample_files, tmp_path):
    rng = np.random.default_rng(4)
    n = 200
    ra = rng.normal(120.0, 6.0, n)
    dec = rng.normal(-30.0, 6.0, n)
    dist = rng.uniform(20, 400, n)
    cat = tmp_path / "galaxies.csv"
    lines = ["name,ra,dec,distmpc,magb"]
    lines += [
        f"g{i},{a:.6f},{b:.6f},{c:.3f},15"
        for i, (a, b, c) in enumerate(zip(ra, dec, dist, strict=True))
    ]
    lines.append("nodist,120.0,-30.0,,15")
    cat.write_text("\n".join(lines) + "\n")
    rc, out, err = _run(
        capsys, str(sample_files / "cbc.fits"), "--catalog", str(cat), "--top", "7", "--json"
    )
    assert rc == 0, err
    rows = json.loads(out)["catalog"]
    assert [r["rank"] for r in rows] == list(range(1, 8))
    sm = SkyMap.read(sample_files / "cbc.fits")
    res = sm.crossmatch(ra, dec, dist)
    best = np.argsort(-res.probdensity_vol)[:7]
    assert [r["name"] for r in rows] == [f"g{i}" for i in best]
    dens = [r["probdensity_vol"] for r in rows]
    assert dens == sorted(dens, reverse=True)
    assert all(0 <= r["searched_prob_vol"] <= 1 for r in rows)
    # Text output: a table with the 3-D credible level.
    rc, out, _ = _run(capsys, str(sample_files / "cbc.fits"), "--catalog", str(cat), "--top", "3")
    assert rc == 0 and "P(<=) 3-D" in out and f" g{best[0]} " in out
    # Without distances, or on a 2-D map: ranked by 2-D density.
    cat2 = tmp_path / "radec.csv"
    cat2.write_text("RA,Dec\n200,40\n120,-30\n10,10\n")
    rc, out, _ = _run(capsys, str(sample_files / "burst.fits"), "--catalog", str(cat2), "--json")
    rows = json.loads(out)["catalog"]
    assert rows[0]["row"] == 1 and "probdensity_vol" not in rows[0]
    assert rows[0]["searched_prob"] < rows[1]["searched_prob"]


@pytest.mark.slow
def test_plot_and_moc_files(capsys, sample_files, tmp_path):
    png = tmp_path / "sky.png"
    moc = tmp_path / "region.json"
    rc, out, err = _run(
        capsys,
        str(sample_files / "prelim.avro"),
        "--plot",
        str(png),
        "--moc",
        str(moc),
        "--contours",
        "50",
        "90",
    )
    assert rc == 0, err
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 30_000
    from matplotlib.image import imread

    img = imread(str(png))
    assert img.shape[0] > 600 and img.shape[1] > 1200
    cells = json.loads(moc.read_text())
    assert cells and all(k.isdigit() for k in cells)
    assert "MOC (90%)" in out and str(png) in out
    sm = SkyMap.read(sample_files / "cbc.fits")
    assert sm.moc(0.9).to_json() == cells
    area = sum(len(v) * 4 * math.pi / (12 * 4 ** int(k)) for k, v in cells.items())
    assert area * (180 / math.pi) ** 2 == pytest.approx(sm.moc(0.9).area, rel=1e-12)


def test_help_lists_the_verb(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "skymap" in capsys.readouterr().out
