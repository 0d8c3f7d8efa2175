"""Rules: strict config validation (file, rule and key named) and matching on real notices."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gwalert import samples
from gwalert.alerts import decode
from gwalert.cli import main
from gwalert.rules import ConfigError, load_config, match_all, parse_config

SAVE = [{"type": "save", "dir": "out"}]


def notice(
    sid: str = "S260101a",
    alert_type: str = "PRELIMINARY",
    *,
    skymap: bytes | None = None,
    created: str = "2026-01-01T00:10:00Z",
    **kw,
):
    rec = samples.make_record(sid, alert_type, time_created=created, skymap=skymap, **kw)
    return decode(samples.encode(rec, "avro"))[0]


@pytest.fixture(scope="module")
def small_map() -> bytes:  # ~360 deg2 at 90%, 150 Mpc
    return samples.gaussian_skymap(120.0, -30.0, 5.0, max_level=6)


@pytest.fixture(scope="module")
def big_map() -> bytes:  # thousands of deg2, 400 Mpc
    return samples.gaussian_skymap(200.0, 10.0, 25.0, distance=(400.0, 80.0), max_level=4)


def rules(*tables: dict, base: Path | str = ".") -> list:
    return list(
        parse_config(
            {"rule": [dict(t, action=t.get("action", SAVE)) for t in tables]}, base=base
        ).rules
    )


def fired(rule_tables: list[dict] | list, n) -> list[str]:
    rs = (
        rule_tables if rule_tables and not isinstance(rule_tables[0], dict) else rules(*rule_tables)
    )
    return [m.rule.name for m in match_all(rs, n) if m.matched]


# ------------------------------------------------------------------------ validation
ISSUE_CONFIG = """
[[rule]]
name = "bns-small"
real = true
group = "CBC"
classification_min = { BNS = 0.5 }
area_90_max = 1000

[[rule.action]]
type = "command"
argv = ["true"]

[[rule]]
name = "retraction"
alert_type = "RETRACTION"

[[rule.action]]
type = "webhook"
url = "https://hooks.slack.test/services/T000/B000/SECRETTOKEN"
mode = "slack"

[[rule]]
name = "mock-preliminary"
mock = true
alert_type = ["PRELIMINARY"]
max_age = "12h"

[[rule.action]]
type = "save"
dir = "saved"
"""


def test_issue_config_loads_and_hides_secrets(tmp_path):
    path = tmp_path / "gwalert.toml"
    path.write_text(ISSUE_CONFIG)
    config = load_config(path)
    assert [r.name for r in config.rules] == ["bns-small", "retraction", "mock-preliminary"]
    assert config.rules[0].max_age == timedelta(days=1)
    assert config.rules[2].max_age == timedelta(hours=12)
    save = config.rules[2].actions[0]
    assert save.options["dir"] == str(tmp_path / "saved")  # relative to the config file
    text = json.dumps(config.describe())
    assert "SECRETTOKEN" not in text and "***" in text


@pytest.mark.parametrize(
    ("rule", "where", "why"),
    [
        ({"far_mx": 1e-7}, "rule 'r': key 'far_mx'", "unknown key"),
        ({"far_max": "1e-7"}, "rule 'r': key 'far_max'", "must be a number, not a string"),
        ({"far_max": -1}, "key 'far_max'", "at least 0"),
        ({"real": "yes"}, "key 'real'", "true or false"),
        ({"alert_type": ["PRELIM"]}, "key 'alert_type'", "unknown alert type 'PRELIM'"),
        ({"group": []}, "key 'group'", "non-empty array"),
        ({"classification_min": {"BNS": 2}}, "key 'classification_min.BNS'", "at most 1"),
        ({"classification_min": 0.5}, "key 'classification_min'", "table"),
        ({"max_age": "3 fortnights"}, "key 'max_age'", "duration"),
        ({"max_age": 0}, "key 'max_age'", "positive"),
        ({"field": {"ra": 10, "dec": 0, "radius": 5}}, "key 'field.prob_min'", "missing"),
        (
            {"field": {"ra": 10, "dec": 95, "radius": 5, "prob_min": 0.1}},
            "key 'field.dec'",
            "at most 90",
        ),
        (
            {"field": {"ra": 10, "dec": 0, "radius": 5, "prob_min": 0.1, "r": 1}},
            "key 'field.r'",
            "unknown key",
        ),
        ({"targets": {"file": "t.csv"}}, "key 'targets'", "either credible_level"),
        (
            {"targets": {"file": "none.csv", "credible_level": 0.9}},
            "key 'targets.file'",
            "No such file",
        ),
        ({"action": []}, "key 'action'", "at least one"),
        ({"action": [{"type": "carrier-pigeon"}]}, "key 'action[0].type'", "unknown action type"),
        (
            {"action": [{"type": "save", "directory": "x"}]},
            "key 'action[0].directory'",
            "unknown key",
        ),
        (
            {"action": [{"type": "command", "argv": "ls -l"}]},
            "key 'action[0].argv'",
            "array of strings",
        ),
        (
            {"action": [{"type": "command", "argv": ["/no/such/program"]}]},
            "key 'action[0].argv'",
            "not found",
        ),
        ({"action": [{"type": "webhook", "url": "ftp://x"}]}, "key 'action[0].url'", "http"),
        (
            {"action": [{"type": "webhook", "url": "http://x", "mode": "teams"}]},
            "key 'action[0].mode'",
            "one of",
        ),
        (
            {"action": [{"type": "email", "host": "h", "from": "a@b", "to": ["nobody"]}]},
            "key 'action[0].to'",
            "not an e-mail address",
        ),
        (
            {
                "action": [
                    {
                        "type": "email",
                        "host": "h",
                        "from": "a@b",
                        "to": "c@d",
                        "tls": "none",
                        "password": "pw",
                    }
                ]
            },
            "key 'action[0].tls'",
            "clear text",
        ),
        (
            {"action": [{"type": "python", "callable": "no_such_module_xyz:f"}]},
            "key 'action[0].callable'",
            "cannot import",
        ),
        (
            {"action": [{"type": "python", "callable": "json:no_such"}]},
            "key 'action[0].callable'",
            "no attribute",
        ),
        ({"action": [{"type": "save", "timeout": "soon"}]}, "key 'action[0].timeout'", "number"),
    ],
)
def test_errors_name_file_rule_and_key(tmp_path, rule, where, why):
    path = tmp_path / "bad.toml"
    table = {"name": "r", "action": SAVE, **rule}
    path.write_text(_toml({"rule": [table]}))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    if not where.startswith("rule "):
        where = f"rule 'r': {where}"
    assert message.startswith(f"{path}: {where}: "), message
    assert why in message, message


def _toml(data: dict) -> str:
    """A tiny TOML writer for the shapes these tests use."""

    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        return repr(v)

    lines = []
    for rule in data["rule"]:
        lines.append("[[rule]]")
        lines += [f"{k} = {value(v)}" for k, v in rule.items() if k != "action"]
        if rule.get("action") == []:
            lines.append("action = []")
            continue
        for action in rule.get("action", []):
            lines.append("[[rule.action]]")
            lines += [f"{k} = {value(v)}" for k, v in action.items()]
    return "\n".join(lines) + "\n"


def test_file_level_errors(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        "[[rule]]\nname = 'a'\n[[rule.action]]\ntype = 'save'\n"
        "[[rule]]\nname = 'a'\n[[rule.action]]\ntype = 'save'\n"
    )
    with pytest.raises(ConfigError, match=r"rule 'a': key 'name': two rules"):
        load_config(path)
    path.write_text("[[rule]]\n[[rule.action]]\ntype = 'save'\n")
    with pytest.raises(ConfigError, match=r"rule '#1': key 'name': missing"):
        load_config(path)
    path.write_text("[rules]\n")
    with pytest.raises(ConfigError, match=r"key 'rules': unknown key"):
        load_config(path)
    path.write_text("[responder]\nworkers = 0\n")
    with pytest.raises(ConfigError, match=r"key 'responder.workers'"):
        load_config(path)
    path.write_text("[[rule]\n")
    with pytest.raises(ConfigError, match=r"invalid TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match="No such file"):
        load_config(tmp_path / "missing.toml")
    # the listener's own sections may share the file
    path.write_text("[gcn]\nclient_id = 'x'\n[store]\nurl = 'x.sqlite'\n")
    assert load_config(path).rules == ()


def test_rules_check_cli(tmp_path, capsys):
    good = tmp_path / "good.toml"
    good.write_text(ISSUE_CONFIG)
    assert main(["rules", "check", str(good)]) == 0
    out = capsys.readouterr().out
    assert "OK, 3 rule(s)" in out and "bns-small" in out
    assert main(["rules", "check", str(good), "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["rules"][1]["actions"][0]["url"] == "***"
    assert "SECRETTOKEN" not in out
    bad = tmp_path / "bad.toml"
    bad.write_text(ISSUE_CONFIG.replace("area_90_max", "area90_max"))
    assert main(["rules", "check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        f"gwalert: {bad}: rule 'bns-small': key 'area90_max': unknown key "
        "(did you mean 'area_90_max'?)"
    )


# -------------------------------------------------------------------------- matching
def test_identity_filters():
    n = notice("S260101a", "PRELIMINARY", far=1e-10, significant=True)
    m = notice("MS260101a", "PRELIMINARY")
    t = notice("TS260101a", "INITIAL")
    r = notice("S260101a", "RETRACTION")
    table = [
        {"name": "real", "real": True},
        {"name": "not-mock", "mock": False},
        {"name": "mock-or-test", "real": False},
        {"name": "prelim", "alert_type": ["PRELIMINARY", "INITIAL"]},
        {"name": "retraction", "alert_type": "RETRACTION"},
        {"name": "cbc", "group": "cbc", "pipeline": ["GSTLAL", "pycbc"], "search": "AllSky"},
        {"name": "burst", "group": "Burst"},
        {"name": "significant", "significant": True},
        {"name": "insignificant", "significant": False},
        {"name": "far", "far_max": 1e-9},
    ]
    rs = rules(*table)
    assert fired(rs, n) == ["real", "not-mock", "prelim", "cbc", "significant", "far"]
    assert fired(rs, m) == ["mock-or-test", "prelim", "cbc", "significant", "far"]
    assert fired(rs, t) == ["not-mock", "mock-or-test", "prelim", "cbc", "significant", "far"]
    assert fired(rs, r) == ["real", "not-mock", "retraction"]
    weak = notice(far=1e-6, significant=False)
    assert "far" not in fired(rs, weak) and "insignificant" in fired(rs, weak)
    reasons = {m.rule.name: m.reason for m in match_all(rs, weak)}
    assert reasons["far"] == "far 1e-06 > far_max 1e-09"


def test_classification_and_properties():
    rs = rules(
        {"name": "bns", "classification_min": {"BNS": 0.5}},
        {"name": "nsbh", "classification_min": {"NSBH": 0.5}},
        {"name": "hasns", "properties_min": {"HasNS": 0.9, "HasRemnant": 0.5}},
    )
    n = notice(
        classification={"BNS": 0.6, "NSBH": 0.3, "BBH": 0.0, "Terrestrial": 0.1},
        properties={"HasNS": 0.95, "HasRemnant": 0.4},
    )
    assert fired(rs, n) == ["bns"]
    assert fired(rs, notice("S1", "RETRACTION")) == []


def test_skymap_filters(small_map, big_map):
    rs = rules(
        {"name": "small", "area_90_max": 1000},
        {"name": "near", "distance_max": 200},
        {"name": "field", "field": {"ra": 121, "dec": -29, "radius": 10, "prob_min": 0.5}},
        {"name": "far-field", "field": {"ra": 300, "dec": 40, "radius": 10, "prob_min": 0.01}},
    )
    small = notice(skymap=small_map)
    big = notice(skymap=big_map)
    assert fired(rs, small) == ["small", "near", "field"]
    assert fired(rs, big) == []
    why = {m.rule.name: m.reason for m in match_all(rs, big)}
    assert why["small"].startswith("area_90 ") and "> area_90_max 1000" in why["small"]
    assert why["near"].startswith("distance 400")
    assert fired(rs, notice()) == []  # no sky map: sky-map filters cannot pass
    assert {m.reason for m in match_all(rs, notice())} == {"no usable sky map"}
    details = match_all(rs, small)[0].details
    assert 200 < details["area_90"] < 600


def test_targets(tmp_path, small_map):
    (tmp_path / "galaxies.csv").write_text("name,RA,Dec\nNGC-in,120.5,-30.5\nfar,300,40\n")
    (tmp_path / "none.csv").write_text("ra,dec\n300,40\n10,80\n")
    table = [
        {"name": "in90", "targets": {"file": "galaxies.csv", "credible_level": 0.9}},
        {"name": "none90", "targets": {"file": "none.csv", "credible_level": 0.9}},
        {"name": "circle", "targets": {"file": "galaxies.csv", "prob_min": 0.3, "radius": 5}},
    ]
    rs = rules(*table, base=tmp_path)
    matches = match_all(rs, notice(skymap=small_map))
    assert [m.rule.name for m in matches if m.matched] == ["in90", "circle"]
    assert matches[0].details["targets"] == ["NGC-in"]
    (tmp_path / "bad.csv").write_text("ra,dec\n10,x\n")
    with pytest.raises(ConfigError, match=r"bad.csv:2: ra/dec are not numbers"):
        rules({"name": "b", "targets": {"file": "bad.csv", "credible_level": 0.5}}, base=tmp_path)


def test_max_age():
    (rule,) = rules({"name": "r"})
    now = datetime(2026, 1, 3, tzinfo=UTC)
    assert rule.too_old(notice(created="2026-01-01T00:00:00Z"), now)
    assert not rule.too_old(notice(created="2026-01-02T12:00:00Z"), now)
    (forever,) = rules({"name": "r", "max_age": False})
    assert not forever.too_old(notice(created="2020-01-01T00:00:00Z"), now)
    (hours,) = rules({"name": "r", "max_age": "90m"})
    assert hours.too_old(notice(created="2026-01-02T22:00:00Z"), now)


def test_replay_dry_run(tmp_path, capsys):
    samples_dir = tmp_path / "samples"
    samples_dir.mkdir()
    for name, data in samples.sample_set().items():
        if name.endswith(".avro"):
            (samples_dir / name).write_bytes(data)
    config = tmp_path / "gwalert.toml"
    config.write_text(ISSUE_CONFIG.replace('max_age = "12h"', "max_age = false"))
    assert (
        main(["replay", str(samples_dir), "--config", str(config), "--dry-run", "--no-progress"])
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "MS260101a INITIAL 2026-01-01T00:20:00Z: no rule",
        "MS260101a PRELIMINARY 2026-01-01T00:01:00Z: mock-preliminary -> save",
        "MS260101a RETRACTION 2026-01-01T00:50:00Z: "
        "(retraction: older than max_age, would not fire)",
        "MS260101a UPDATE 2026-01-01T00:40:00Z: no rule",
        "MS260102b PRELIMINARY 2026-01-01T00:05:00Z: mock-preliminary -> save",
    ]
    assert (
        main(
            [
                "replay",
                str(samples_dir),
                "--config",
                str(config),
                "--dry-run",
                "--ignore-age",
                "--json",
                "--no-progress",
            ]
        )
        == 0
    )
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert reports[2]["fire"] == [{"rule": "retraction", "actions": ["webhook"]}]
    assert "SECRETTOKEN" not in json.dumps(reports)


def test_replay_dry_run_bad_file_exit_1(tmp_path, capsys):
    (tmp_path / "bad.avro").write_bytes(b"junk")
    (tmp_path / "good.json").write_bytes(samples.encode(samples.make_record(), "json"))
    config = tmp_path / "gwalert.toml"
    config.write_text(ISSUE_CONFIG)
    assert (
        main(
            [
                "replay",
                str(tmp_path / "bad.avro"),
                str(tmp_path / "good.json"),
                "--config",
                str(config),
                "--dry-run",
                "--no-progress",
            ]
        )
        == 1
    )
    captured = capsys.readouterr()
    assert "bad.avro: not a notice" in captured.err
    assert captured.out.startswith("MS260101a PRELIMINARY")
