"""What tripped a follow-up astronomer (issue 12): each trip-up, end to end through the CLI or
the Python API, on real stores, real files and the real responder."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwalert import samples
from gwalert.alerts import decode
from gwalert.cli import main
from gwalert.errors import GwalertError
from gwalert.responder import Responder
from gwalert.rules import ConfigError, parse_config
from gwalert.store import Store, ledger


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        rc = main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        rc = int(exc.code or 0)
    out, err = capsys.readouterr()
    return rc, out, err


def _recent(minutes: float = 5) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def sample_dir(tmp_path) -> Path:
    d = tmp_path / "samples"
    d.mkdir()
    for name, data in samples.sample_set().items():
        (d / name).write_bytes(data)
    return d


@pytest.fixture
def filled_store(tmp_path, sample_dir, capsys) -> str:
    store = str(tmp_path / "s.sqlite")
    assert main(["listen", str(sample_dir), "--store", store, "-q"]) == 0
    capsys.readouterr()
    return store


# ---------------------------------------------------------------- 3: read-only verbs, no store
@pytest.mark.parametrize(
    "verb",
    [
        ["notices"],
        ["events"],
        ["show", "S1"],
        ["rules", "status"],
        ["notices", "--dead-letters"],
        ["skymap", "MS181101ab"],
    ],
)
def test_read_only_verbs_do_not_create_a_store(capsys, tmp_path, verb):
    missing = tmp_path / "nonexist.sqlite"
    rc, out, err = _run(capsys, *verb, "--store", str(missing))
    assert rc == 1 and out == ""
    assert f"no store at {missing}" in err and err.count("\n") == 1
    assert not missing.exists()
    rc, out, err = _run(capsys, *verb, "--store", "/nonexistent/dir/x.sqlite")
    assert rc == 1 and "no store at /nonexistent/dir/x.sqlite" in err


# ---------------------------------------------------------------- 4: permanent errors
def _make(sid="MS260101a", alert_type="PRELIMINARY", **kw):
    rec = samples.make_record(sid, alert_type, time_created=_recent(), **kw)
    return decode(samples.encode(rec))[0]


def _ledger(store: Store) -> list[dict]:
    with store.engine.connect() as conn:
        return [dict(r) for r in ledger.iter_rows(conn)]


def test_unset_webhook_variable_and_handler_bug_fail_at_once(sqlite_store, caplog, monkeypatch):
    monkeypatch.delenv("GWALERT_TEST_UNSET_HOOK", raising=False)
    calls: list[str] = []

    def buggy(notice):
        calls.append("bug")
        raise ValueError("bad column")

    def flaky(notice):
        calls.append("net")
        if calls.count("net") < 2:
            raise ConnectionResetError("peer went away")

    config = parse_config(
        {
            "responder": {"backoff": 0.05, "backoff_max": 0.1, "attempts": 4},
            "rule": [
                {
                    "name": "r",
                    "max_age": False,
                    "action": [
                        {"type": "webhook", "url_env": "GWALERT_TEST_UNSET_HOOK"},
                        {"type": "python", "callable": buggy, "name": "bug"},
                        {"type": "python", "callable": flaky, "name": "net"},
                    ],
                }
            ],
        }
    )
    caplog.set_level(logging.INFO, logger="gwalert")
    responder = Responder(sqlite_store, config, poll_interval=0.02)
    with responder:
        sqlite_store.add(_make(), source="t", hooks=[responder.schedule])
        assert responder.wait_idle(120)
    rows = {r["action"]: r for r in _ledger(sqlite_store)}
    assert (rows["webhook"]["state"], rows["webhook"]["attempts"]) == ("failed", 1)
    assert "GWALERT_TEST_UNSET_HOOK is not set" in rows["webhook"]["last_error"]
    assert (rows["bug"]["state"], rows["bug"]["attempts"]) == ("failed", 1)
    assert rows["bug"]["last_error"].endswith("raised ValueError: bad column")
    assert (rows["net"]["state"], rows["net"]["attempts"]) == ("done", 2)  # OSError: retried
    assert calls.count("bug") == 1  # a bug is not retried
    assert "Traceback (most recent call last)" in caplog.text and "bad column" in caplog.text


def test_handlers_replay_raises_when_a_handler_fails(sample_dir):
    from gwalert.handlers import Handlers

    h = Handlers()
    seen = []

    @h.handler(mock=True, alert_type="PRELIMINARY")
    def broken(notice):
        seen.append(notice.superevent_id)
        raise KeyError("ra")

    with pytest.raises(
        GwalertError, match=r"2 handler run\(s\) failed; first: .*broken raised KeyError"
    ):
        h.replay(sample_dir)
    assert sorted(seen) == ["MS260101a", "MS260102b"]


def test_rules_check_reports_unset_variables(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("GWALERT_TEST_HOOK", raising=False)
    cfg = tmp_path / "g.toml"
    cfg.write_text(
        '[[rule]]\nname = "r"\n[[rule.action]]\ntype = "webhook"\nurl_env = "GWALERT_TEST_HOOK"\n'
    )
    rc, out, err = _run(capsys, "rules", "check", str(cfg))
    assert rc == 1 and out == ""
    assert err == (
        f"gwalert: {cfg}: rule 'r': action 'webhook': url_env names "
        "$GWALERT_TEST_HOOK, which is not set in this environment\n"
    )
    monkeypatch.setenv("GWALERT_TEST_HOOK", "https://example.org/hook")
    rc, out, _ = _run(capsys, "rules", "check", str(cfg))
    assert rc == 0 and out.startswith(f"{cfg}: OK, 1 rule(s)")


# ---------------------------------------------------------------- 5: listen URL schemes
@pytest.mark.parametrize(
    "url,expect",
    [
        ("https://kafka.scimma.org/igwn.gwalert", "unknown scheme 'https://'; use kafka://"),
        ("kafk://kafka.scimma.org/igwn.gwalert", "unknown scheme 'kafk://'; use kafka://"),
        (
            "igwn.gwalert",
            "no such file or directory; to listen to the topic write "
            "kafka://kafka.scimma.org/igwn.gwalert or gcn://igwn.gwalert",
        ),
    ],
)
def test_listen_names_the_scheme_problem(capsys, tmp_path, url, expect):
    rc, out, err = _run(capsys, "listen", url, "--store", str(tmp_path / "s.sqlite"))
    assert rc == 1 and err == f"gwalert: {url}: {expect}" + err.split(expect, 1)[1]
    assert "https:/kafka" not in err and err.count("\n") == 1


# ---------------------------------------------------------------- 6: replay, dry-run, ledger
def test_replay_says_already_done_and_dry_run_counts_each_notice_once(capsys, tmp_path, sample_dir):
    out_dir = tmp_path / "saved"
    cfg = tmp_path / "g.toml"
    cfg.write_text(
        f'[[rule]]\nname = "drills"\nmock = true\nalert_type = "PRELIMINARY"\n'
        f'[[rule.action]]\ntype = "save"\ndir = "{out_dir}"\nplot = false\n'
    )
    store = str(tmp_path / "s.sqlite")
    common = ["--config", str(cfg), "--store", store, "--ignore-age", "--no-progress"]
    rc, out, err = _run(capsys, "replay", str(sample_dir), *common, "--dry-run")
    assert rc == 0 and err.strip().endswith("2 action(s) would fire")
    assert out.count("drills -> save") == 2 and len(out.splitlines()) == 5  # 10 files
    assert not Path(store).exists()  # a dry run creates nothing
    rc, out, _ = _run(capsys, "replay", str(sample_dir), *common)
    assert rc == 0 and sorted(out.splitlines()) == [
        "MS260101a PRELIMINARY drills/save: done",
        "MS260102b PRELIMINARY drills/save: done",
    ]
    rc, out, _ = _run(capsys, "replay", str(sample_dir), *common)
    assert rc == 0 and sorted(out.splitlines()) == [
        "MS260101a PRELIMINARY drills/save: already done (earlier run)",
        "MS260102b PRELIMINARY drills/save: already done (earlier run)",
    ]
    rc, out, err = _run(capsys, "replay", str(sample_dir), *common, "--dry-run")
    assert rc == 0 and err.strip().endswith("0 action(s) would fire")
    assert "(drills already in the ledger: save (done))" in out
    rc, out, err = _run(capsys, "replay", *common, "--dry-run")  # from the store
    assert rc == 0 and err.strip().endswith("0 action(s) would fire")


# ---------------------------------------------------------------- 7: impossible rules
@pytest.mark.parametrize(
    "rule,message",
    [
        (
            {"classification_min": {"BNs": 0.5}},
            "key 'classification_min.BNs': unknown name (did you mean 'BNS'?)",
        ),
        ({"properties_min": {"hasns": 0.5}}, "unknown name (did you mean 'HasNS'?)"),
        ({"real": True, "mock": True}, "real = true and mock = true"),
        ({"real": False, "mock": False, "test": False}, "nothing can match"),
        ({"classification_min": {"BNS": 0.6, "BBH": 0.6}}, "thresholds add up to 1.2"),
        ({"group": "Burst", "classification_min": {"BNS": 0.5}}, "Burst notices carry no"),
        ({"group": "CBS"}, "unknown group 'cbs' (did you mean 'cbc'?)"),
        ({"alert_type": "RETRACTION", "far_max": 1e-9}, "a RETRACTION carries no event"),
        ({"alert_type": "PRELIMNARY"}, "(did you mean 'PRELIMINARY'?)"),
        ({"area_90max": 10}, "unknown key (did you mean 'area_90_max'?)"),
        ({"far_max": 0}, "every event has a false alarm rate above 0"),
    ],
)
def test_rules_that_can_never_match_are_refused(rule, message):
    with pytest.raises(ConfigError) as info:
        parse_config(
            {"rule": [{"name": "r", **rule, "action": [{"type": "python", "callable": print}]}]}
        )
    assert message in str(info.value)


def test_possible_rules_still_pass():
    parse_config(
        {
            "rule": [
                {
                    "name": "r",
                    "real": False,
                    "group": ["CBC", "Burst"],
                    "classification_min": {"BNS": 0.5, "NSBH": 0.5},
                    "properties_min": {"HasNS": 0.9},
                    "action": [{"type": "python", "callable": print}],
                }
            ]
        }
    )


# ---------------------------------------------------------------- 8: doctor checks the rules
def test_doctor_checks_the_rules_file(capsys, tmp_path):
    cfg = tmp_path / "g.toml"
    cfg.write_text(
        '[[rule]]\nname = "r"\nclassification_min = { BNs = 0.5 }\n'
        '[[rule.action]]\ntype = "python"\ncallable = "builtins:print"\n'
    )
    rc, out, _ = _run(
        capsys,
        "doctor",
        "gwalert-samples",
        "--config",
        str(cfg),
        "--store",
        str(tmp_path / "s.sqlite"),
    )
    assert rc == 1
    line = next(x for x in out.splitlines() if x.startswith("PROBLEM rules"))
    assert "did you mean 'BNS'?" in line and "listen would refuse to start" in line


# ---------------------------------------------------------------- 9: plain words
def test_wrong_kind_of_file_in_plain_words(capsys, tmp_path):
    fits = tmp_path / "map.fits"
    fits.write_bytes(samples.gaussian_skymap(max_level=4))
    csv = tmp_path / "cat.csv"
    csv.write_text("ra,dec\n1,2\n")
    rc, _, err = _run(capsys, "parse", str(fits))
    assert rc == 1 and err == (
        f"gwalert: {fits}: not an LVK notice (Avro or GCN JSON): a FITS "
        "file (a sky map? use 'gwalert skymap')\n"
    )
    rc, _, err = _run(capsys, "skymap", str(csv))
    assert rc == 1 and err == (
        f"gwalert: {csv}: not a FITS sky map or an LVK notice: a text (CSV?) file\n"
    )
    for e in (err,):
        assert "Error" not in e and "index" not in e


# ---------------------------------------------------------------- 10: catalogs
def test_catalog_rows_counted_alike_and_option_mistakes(capsys, tmp_path):
    fits = tmp_path / "map.fits"
    fits.write_bytes(samples.gaussian_skymap(120.0, -30.0, 3.0, max_level=6))
    cat = tmp_path / "cat.csv"
    cat.write_text("name,ra,dec\n\nfar,300,40\nnear,120,-30\nbad,abc,1\n")
    rc, _, err = _run(capsys, "skymap", str(fits), "--catalog", str(cat))
    assert rc == 1 and "row 3 (line 5): ra 'abc' is not a number" in err
    cat.write_text("name,ra,dec\nfar,300,40\nnear,120,-30\n")
    rc, out, _ = _run(capsys, "skymap", str(fits), "--catalog", str(cat), "--json")
    rows = json.loads(out)["catalog"]
    assert [(r["name"], r["row"]) for r in rows] == [("near", 2), ("far", 1)]
    rc, _, err = _run(capsys, "skymap", str(fits), "--top", "3")
    assert rc == 2 and "--top needs --catalog" in err
    rc, _, err = _run(capsys, "skymap", str(fits), "--contours", "0.9")
    assert rc == 1 and "levels are percentages; did you mean 90?" in err
    rc, out, err = _run(capsys, "skymap", "--contours", "50", "90", str(fits), "--json")
    assert rc == 0, err
    assert json.loads(out)["file"] == str(fits)
    cat.write_text("name,ra,dec\nfar,300,40\n")
    rc, out, err = _run(capsys, "skymap", str(fits), "--catalog", str(cat))
    assert rc == 0 and "0 catalog row(s) inside the 90% region" in out
    assert "warning: no catalog row lies inside the 90% region" in err
    ranked = tmp_path / "ranked.csv"
    cat.write_text("name,ra,dec\nfar,300,40\nnear,120,-30\nmid,121,-29\n")
    rc, out, err = _run(
        capsys,
        "skymap",
        str(fits),
        "--catalog",
        str(cat),
        "--top",
        "1",
        "--catalog-out",
        str(ranked),
    )
    assert rc == 0, err
    lines = ranked.read_text().splitlines()
    assert lines[0].startswith("rank,row,name,ra,dec") and len(lines) == 4  # every row
    assert [x.split(",")[2] for x in lines[1:]] == ["near", "mid", "far"]


# ---------------------------------------------------------------- 11: defaults and usage
def test_default_config_for_rules_check_and_replay(capsys, tmp_path, monkeypatch, sample_dir):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "conf"))
    from gwalert.config import default_config_path

    path = default_config_path()
    assert str(path).startswith(str(tmp_path / "conf"))
    rc, _, err = _run(capsys, "rules", "check")
    assert rc == 1 and f"{path}: no config file" in err
    path.parent.mkdir(parents=True)
    path.write_text(
        '[[rule]]\nname = "all"\n[[rule.action]]\ntype = "python"\ncallable = "builtins:len"\n'
    )
    rc, out, _ = _run(capsys, "rules", "check", "--debug")
    assert rc == 0 and out.startswith(f"{path}: OK, 1 rule(s)")
    rc, out, err = _run(
        capsys,
        "replay",
        str(sample_dir),
        "--dry-run",
        "--ignore-age",
        "--store",
        str(tmp_path / "s.sqlite"),
        "-v",
    )
    assert rc == 0 and err.strip().endswith("5 action(s) would fire")


def test_usage_errors_exit_2_with_suggestions(capsys, tmp_path):
    rc, _, err = _run(capsys, "lisen")
    assert rc == 2 and "unknown verb 'lisen' (did you mean 'listen'?)" in err
    rc, _, err = _run(capsys, "--debug", "evnts")
    assert rc == 2 and "(did you mean 'events'?)" in err
    rc, _, err = _run(
        capsys,
        "listen",
        str(tmp_path),
        "--start-at",
        "yesterday",
        "--store",
        str(tmp_path / "s.sqlite"),
    )
    assert rc == 2 and "--start-at" in err and "expected earliest, latest" in err
    rc, out, _ = _run(capsys, "rules", "--help")
    assert rc == 0 and "status" in out and "check" in out


# ---------------------------------------------------------------- 12: smaller things
def test_parse_headers_and_directories(capsys, sample_dir):
    a = sample_dir / "MS260101a-preliminary.avro"
    b = sample_dir / "MS260101a-retraction.json"
    rc, out, _ = _run(capsys, "parse", str(a))
    assert rc == 0 and "==>" not in out
    rc, out, _ = _run(capsys, "parse", str(a), str(b))
    assert rc == 0 and out.startswith(f"==> {a} <==\n")
    assert f"\n==> {b} <==\nMS260101a was retracted" in out
    rc, out, _ = _run(capsys, "parse", str(sample_dir))
    assert rc == 0 and out.count("==> ") == 10
    rc, out, _ = _run(capsys, "parse", str(sample_dir), "--json")
    assert rc == 0 and len(out.splitlines()) == 10 and "==>" not in out


def test_dead_letters_printed_once_and_listed_with_a_header(capsys, tmp_path, sample_dir):
    (sample_dir / "junk.avro").write_bytes(b"Obj\x01 this is not avro")
    store = str(tmp_path / "s.sqlite")
    rc, out, err = _run(capsys, "listen", str(sample_dir), "--store", store)
    assert rc == 0
    assert (out + err).count("junk.avro") == 1 and "dead-letter 1" in out
    rc, out, _ = _run(capsys, "notices", "--dead-letters", "--store", store)
    lines = out.splitlines()
    assert lines[0] == "id\treceived_at\tsource\terror" and len(lines) == 2


def test_skymap_repr_is_one_short_line():
    from gwalert.skymap import SkyMap

    sm = SkyMap.read(samples.gaussian_skymap(max_level=5, meta={"OBJECT": "MS1"}))
    text = repr(sm)
    assert text == f"<SkyMap 'MS1', {len(sm)} rows, order <= 5, 3-D>" and len(text) < 80


def test_skymap_many_files_and_table(capsys, tmp_path):
    from gwalert.skymap import SkyMap

    paths = []
    for i, (ra, dec) in enumerate([(10, 20), (200, -40), (300, 60)]):
        p = tmp_path / f"m{i}.fits"
        p.write_bytes(samples.gaussian_skymap(ra, dec, 4.0, max_level=5))
        paths.append(str(p))
    rc, out, _ = _run(capsys, "skymap", *paths, "--json")
    assert rc == 0 and [json.loads(x)["file"] for x in out.splitlines()] == paths
    rc, out, err = _run(
        capsys,
        "skymap",
        *paths,
        str(tmp_path / "missing.fits"),
        "--table",
        "--contours",
        "50",
        "90",
    )
    assert rc == 1 and "missing.fits" in err
    head, *rows = out.splitlines()
    assert head.split("\t") == [
        "file",
        "object",
        "ra",
        "dec",
        "distmean",
        "diststd",
        "area(50)",
        "area(90)",
        "vol(50)",
        "vol(90)",
    ]
    assert len(rows) == 3
    for line, path in zip(rows, paths, strict=True):
        cells = line.split("\t")
        sm = SkyMap.read(path)
        assert cells[0] == path
        assert float(cells[7]) == pytest.approx(float(sm.credible_area(0.9)), rel=1e-5)
    rc, _, err = _run(capsys, "skymap", *paths, "--plot", str(tmp_path / "x.png"))
    assert rc == 2 and "--plot takes one FILE (3 given)" in err


# ---------------------------------------------------------------- the stored event, key numbers
@settings(max_examples=50, deadline=None)
@given(st.floats(1e-20, 1e3))
def test_far_text_round_trips(far):
    from gwalert.cli._facts import YEAR_S, far_text

    text = far_text(far)
    n, unit = text.split()[2:4]
    seconds = {"yr": YEAR_S, "d": 86400.0, "h": 3600.0, "s": 1.0}[unit]
    assert float(n.replace(",", "")) * seconds == pytest.approx(1 / far, rel=0.06)
    assert float(n.replace(",", "")) >= 1 or unit == "s"


def test_key_numbers_in_listen_events_show(capsys, tmp_path, sample_dir):
    store = str(tmp_path / "s.sqlite")
    rc, out, _ = _run(capsys, "listen", str(sample_dir), "--store", store)
    new = [
        x
        for x in out.splitlines()
        if x.startswith("new ") and "PRELIMINARY" in x and "MS260101a" in x
    ]
    assert new and "FAR 1 per 31.7 yr" in new[0] and "significant" in new[0]
    assert "Mpc" in new[0] and "90% " in new[0] and "deg²" in new[0]
    rc, out, _ = _run(capsys, "events", "--store", store)
    head, *rows = out.splitlines()
    assert head.split("\t")[-5:] == ["far", "significant", "classification", "distance", "area_90"]
    row = next(r.split("\t") for r in rows if r.startswith("MS260101a"))
    assert row[6] == "1 per 31.7 yr" and row[7] == "yes"
    rc, out, _ = _run(capsys, "show", "MS260101a", "--store", store)
    update = next(x for x in out.splitlines() if "UPDATE" in x)
    assert "+ Fermi coincidence" in update and "FAR 1 per 31.7 yr" in update


@pytest.mark.slow
def test_stored_skymap_by_id_and_show_save(capsys, tmp_path, filled_store):
    rc, out, err = _run(capsys, "skymap", "MS260101a", "--store", filled_store, "--json")
    assert rc == 0, err
    facts = json.loads(out)
    assert facts["alert_type"] == "UPDATE"  # the latest notice with a map (not the retraction)
    rc, out, _ = _run(
        capsys, "skymap", "MS260101a", "--store", filled_store, "--alert-type", "initial", "--json"
    )
    assert rc == 0 and json.loads(out)["alert_type"] == "INITIAL"
    rc, out, _ = _run(
        capsys, "skymap", "MS260101a", "--store", filled_store, "--combined", "--json"
    )
    assert rc == 0 and json.loads(out)["combined_with"] == "Fermi"
    rc, _, err = _run(
        capsys, "skymap", "MS260101a", "--store", filled_store, "--alert-type", "EARLYWARNING"
    )
    assert rc == 1 and "has no EARLYWARNING notice" in err
    rc, _, err = _run(capsys, "skymap", "MS260101a", "--store", filled_store, "--notice", "999")
    assert rc == 1 and "no stored notice #999" in err
    save = tmp_path / "out"
    rc, out, err = _run(
        capsys, "show", "MS260101a", "--store", filled_store, "--save", str(save), "--json"
    )
    assert rc == 0, err
    notices = json.loads(out)["notices"]
    assert len(notices) == 4
    update = next(n for n in notices if n["alert_type"] == "UPDATE")
    for key in ("notice", "skymap", "plot", "combined_skymap", "combined_plot"):
        assert Path(update["files"][key]).stat().st_size > 0
    assert Path(update["files"]["plot"]).read_bytes().startswith(b"\x89PNG")
    retraction = next(n for n in notices if n["alert_type"] == "RETRACTION")
    assert set(retraction["files"]) == {"notice"}


@pytest.mark.slow
def test_save_action_writes_the_combined_map(sqlite_store, tmp_path):
    combined = samples.gaussian_skymap(121.0, -29.0, 3.0, max_level=5)
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
    notice = _make(
        alert_type="UPDATE", skymap=samples.gaussian_skymap(max_level=5), external_coinc=ext
    )
    config = parse_config(
        {"rule": [{"name": "r", "action": [{"type": "save", "dir": str(tmp_path / "saved")}]}]}
    )
    with Responder(sqlite_store, config, poll_interval=0.02) as responder:
        sqlite_store.add(notice, source="t", hooks=[responder.schedule])
        assert responder.wait_idle(60)
    (row,) = _ledger(sqlite_store)
    assert row["state"] == "done", row["last_error"]
    (folder,) = [p for p in (tmp_path / "saved").rglob("summary.json")]
    files = json.loads(folder.read_text())["files"]
    assert Path(files["combined_skymap"]).read_bytes() == combined
    assert Path(files["combined_plot"]).read_bytes().startswith(b"\x89PNG")
    assert np.isfinite(json.loads(folder.read_text())["area_90"])


# ---------------------------------------------------------------- 8: a DNS failure is not auth
@pytest.mark.parametrize(
    "reason,expect",
    [
        (
            "Failed to acquire SASL OAUTHBEARER token: Could not resolve host: auth.gcn.nasa.gov",
            "a host name does not resolve",
        ),
        (
            "SASL authentication error: Authentication failed during authentication due to invalid "
            "credentials with SASL mechanism SCRAM-SHA-512",
            "authentication failed",
        ),
    ],
)
def test_dns_failure_is_not_called_authentication(reason, expect):
    import confluent_kafka

    from gwalert.sources.liveness import BrokerState, wait_for_broker
    from gwalert.sources.url import parse_url

    state = BrokerState(log_changes=False)
    consumer = confluent_kafka.Consumer(
        {
            "bootstrap.servers": "127.0.0.1:1",
            "group.id": "t",
            "socket.connection.setup.timeout.ms": 1000,
        }
    )
    try:
        state.error(confluent_kafka.KafkaError(confluent_kafka.KafkaError._AUTHENTICATION, reason))
        with pytest.raises(GwalertError) as info:
            wait_for_broker(consumer, state, parse_url("kafka://127.0.0.1:1/t"), 10)
    finally:
        consumer.close()
    assert expect in str(info.value)
    assert ("authentication failed" in str(info.value)) == (expect == "authentication failed")
