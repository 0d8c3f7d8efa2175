"""The filter table (:mod:`gwalert.rules.filters`) and the shared position reader
(:mod:`gwalert.rules.targets`): a new filter is one entry; one CSV reader serves rules and
``skymap --catalog``."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gwalert import samples
from gwalert.alerts import decode
from gwalert.cli import main
from gwalert.options import OptionError
from gwalert.rules import FILTERS, ConfigError, Filter, match_all, parse_config, register
from gwalert.rules.targets import CsvError, read_positions, read_targets

SAVE = [{"type": "save", "dir": "out"}]


def notice(sid: str, alert_type: str = "PRELIMINARY"):
    rec = samples.make_record(sid, alert_type, time_created="2026-01-01T00:10:00Z")
    return decode(samples.encode(rec, "avro"))[0]


@pytest.fixture()
def toy_filter():
    """``id_prefix = "S26"``: the superevent id starts with one of the given prefixes."""

    def parse(raw, base):
        if not isinstance(raw, str) or not raw:
            raise OptionError("id_prefix", "must be a non-empty string")
        return raw

    def match(value, facts, rule, details):
        sid = facts.notice.superevent_id
        if not sid.startswith(value):
            return f"{sid} does not start with {value}"
        details["id_prefix"] = value
        return None

    register(Filter("id_prefix", parse, match, describe=lambda v: f"{v}*", event=False))
    try:
        yield
    finally:
        del FILTERS["id_prefix"]


def test_a_filter_is_one_table_entry(toy_filter, tmp_path, capsys):
    config = parse_config(
        {
            "rule": [
                {"name": "s26", "id_prefix": "S26", "action": SAVE},
                {"name": "ms", "id_prefix": "MS", "action": SAVE},
            ]
        }
    )
    s26, ms = config.rules
    assert s26.filters == {"id_prefix": "S26"}
    # parse + match: the notice's facts decide, the reason names the value
    m26, mms = match_all(config.rules, notice("S260101a"))
    assert m26.matched and m26.details == {"id_prefix": "S26"}
    assert not mms.matched and mms.reason == "S260101a does not start with MS"
    assert [m.matched for m in match_all(config.rules, notice("MS260101a"))] == [False, True]
    # a registered filter is checked after the built-in ones, in table order
    both = parse_config({"rule": [{"name": "b", "id_prefix": "MS", "real": False, "action": SAVE}]})
    assert match_all(both.rules, notice("S260101a"))[0].reason == "S260101a is real (real = false)"
    # describe: rules check --json and the text listing show it
    assert s26.describe()["id_prefix"] == "S26*"
    path = tmp_path / "toy.toml"
    path.write_text(
        '[[rule]]\nname = "s26"\nid_prefix = "S26"\n[[rule.action]]\ntype = "save"\ndir = "out"\n'
    )
    assert main(["rules", "check", str(path)]) == 0
    assert "s26: id_prefix;" in capsys.readouterr().out
    assert main(["rules", "check", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rules"][0]["id_prefix"] == "S26*"
    # its errors name the file, the rule and the key, like every filter's
    with pytest.raises(
        ConfigError,
        match=r"^<config>: rule 'x': key 'id_prefix': must be a "
        r"non-empty string$",
    ):
        parse_config({"rule": [{"name": "x", "id_prefix": 3, "action": SAVE}]})
    # a RETRACTION-only rule accepts it (event=False), unlike an event filter
    parse_config(
        {"rule": [{"name": "r", "alert_type": "RETRACTION", "id_prefix": "S", "action": SAVE}]}
    )


def test_unregistered_key_is_refused():
    assert "id_prefix" not in FILTERS
    with pytest.raises(ConfigError, match="key 'id_prefix': unknown key"):
        parse_config({"rule": [{"name": "x", "id_prefix": "S", "action": SAVE}]})


def test_every_filter_entry_is_complete():
    for key, flt in FILTERS.items():
        assert flt.key == key and callable(flt.parse) and callable(flt.match)
        assert callable(flt.describe)
    # the order a rule checks them: sky-map filters last (one "no usable sky map" check)
    sky = [flt.skymap for flt in FILTERS.values()]
    assert sky == sorted(sky)


# ------------------------------------------------------------------ one position reader
_finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
_names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=12
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(_names, st.floats(0, 360), st.floats(-90, 90), _finite), min_size=1, max_size=20
    ),
    delimiter=st.sampled_from([",", ";"]),
    header=st.sampled_from(
        [
            ("name", "ra", "dec", "distance"),
            ("ID", "RAJ2000", "DEJ2000", "Dist"),
            ("GLADE_id", "ra_deg", "dec_deg", "lumdist"),
        ]
    ),
)
@pytest.mark.slow
def test_positions_match_astropy_csv(tmp_path, rows, delimiter, header):
    """Differential: what astropy's CSV reader makes of the same file."""
    import csv

    from astropy.table import Table

    path = tmp_path / "pos.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    pos = read_positions(path)
    ref = Table.read(path, format="ascii.csv", delimiter=delimiter, fill_values=[])
    assert list(pos.ra) == [float(v) for v in ref[header[1]]]
    assert list(pos.dec) == [float(v) for v in ref[header[2]]]
    assert list(pos.distance) == [float(v) for v in ref[header[3]]]
    assert len(pos.names) == len(rows)
    ra, dec, names = read_targets(path)
    assert ra == tuple(pos.ra) and dec == tuple(pos.dec)
    assert all(
        n == (p or f"#{i + 1}") for i, (n, p) in enumerate(zip(names, pos.names, strict=True))
    )


def test_positions_errors_worded_by_each_caller(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("ra,dec\n10,20\n\n11,x\n")
    with pytest.raises(CsvError) as info:
        read_positions(bad)
    assert info.value.kind == "number" and info.value.row == 2 and info.value.line == 4
    with pytest.raises(OptionError, match=r"bad.csv:4: ra/dec are not numbers"):
        read_targets(bad)
    nocols = tmp_path / "nocols.csv"
    nocols.write_text("x,y\n1,2\n")
    with pytest.raises(OptionError, match=r"needs a header with 'ra' and 'dec'"):
        read_targets(nocols)
    with pytest.raises(CsvError, match=r"needs 'ra' and 'dec' columns \(degrees\); found x, y"):
        read_positions(nocols)
    far = tmp_path / "far.csv"
    far.write_text("ra,dec\n400,0\n")
    with pytest.raises(OptionError, match=r"far.csv:2: ra/dec out of range"):
        read_targets(far)
    assert math.isclose(read_positions(far).ra[0], 400)  # the catalog wraps RA itself
