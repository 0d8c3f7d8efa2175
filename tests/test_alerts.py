"""Decoding, validation and the Notice model (issue: offline core)."""

from __future__ import annotations

import dataclasses
import io

import pytest

import gwalert
from conftest import shared_file
from gwalert.alerts import AlertType, Format, decode, detect_format, encode, read_notice
from gwalert.errors import NoticeError
from gwalert.report import guide_report, printable_record
from gwalert.samples import gaussian_skymap, make_record

GOLDEN = """\
Most probable sky location (RA, Dec) = (194.30419921874997, -17.856895095545468)
Distance = 39.76999609489013 +/- 8.308435058808886
Record:
{'alert_type': 'PRELIMINARY',
 'event': {'central_frequency': None,
           'classification': {'BBH': 0.03,
                              'BNS': 0.95,
                              'NSBH': 0.01,
                              'Terrestrial': 0.01},
           'duration': None,
           'far': 9.11069936486e-14,
           'group': 'CBC',
           'instruments': ['H1', 'L1', 'V1'],
           'pipeline': 'gstlal',
           'properties': {'HasMassGap': 0.01,
                          'HasNS': 0.95,
                          'HasRemnant': 0.91},
           'search': 'MDC',
           'significant': True,
           'time': '2018-11-01T22:22:46.654Z'},
 'external_coinc': None,
 'superevent_id': 'MS181101ab',
 'time_created': '2018-11-01T22:34:49Z',
 'urls': {'gracedb': 'https://example.org/superevents/MS181101ab/view/'}}
"""

KINDS = ["earlywarning", "preliminary", "initial", "update", "ext-update", "retraction"]
FORMATS = ["avro", "avro-datum", "json"]


@pytest.fixture(scope="module")
def cbc_map() -> bytes:
    return gaussian_skymap(30.0, 20.0, 4.0, distance=(80.0, 15.0), max_level=5)


@pytest.fixture(scope="module")
def burst_map() -> bytes:
    return gaussian_skymap(250.0, -10.0, 10.0, distance=None, max_level=4)


def test_golden_report_of_the_user_guide():
    notice = read_notice(shared_file("notices", "MS181101ab-preliminary.avro"))
    assert guide_report(notice) == GOLDEN


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("ext", ["avro", "json"])
def test_user_guide_samples_first_lines(kind, ext):
    notice = read_notice(shared_file("notices", f"MS181101ab-{kind}.{ext}"))
    lines = guide_report(notice).splitlines()
    if kind == "retraction":
        assert lines == ["MS181101ab was retracted"]
        assert notice.event is None and notice.is_retraction
    else:
        assert lines[:2] == GOLDEN.splitlines()[:2]
        assert notice.alert_type == kind.split("-")[-1].upper()


@pytest.mark.parametrize("kind", KINDS)
def test_avro_and_json_samples_are_the_same_notice(kind):
    a = read_notice(shared_file("notices", f"MS181101ab-{kind}.avro"))
    j = read_notice(shared_file("notices", f"MS181101ab-{kind}.json"))
    assert (a.format, j.format) == (Format.AVRO, Format.JSON)
    assert a.record == j.record
    assert a.content_hash == j.content_hash
    assert guide_report(a) == guide_report(j)
    assert dataclasses.replace(a, format=j.format, raw=j.raw) == j


def test_mock_gcn_json_with_external_coincidence():
    notice = read_notice(shared_file("notices", "MS230425l-preliminary.json"))
    assert notice.external_coinc.observatory == "Fermi"
    assert notice.combined_skymap is not None
    text = guide_report(notice)
    assert "'combined_skymap': <combined sky map: " in text
    assert "\\x" not in text  # no sky-map bytes dumped


@pytest.mark.parametrize("fmt", FORMATS)
def test_newest_schema_fields_in_every_format(fmt, cbc_map):
    record = make_record(
        "S260101ab",
        "EARLYWARNING",
        skymap=cbc_map,
        search="EarlyWarning",
        mchirp_source={"bin_edges": [0.0, 1.2, 3.0], "probabilities": [0.9, 0.1]},
        external_coinc={
            "gcn_notice_id": "GRB-42",
            "ivorn": "ivo://x",
            "observatory": "Swift",
            "search": "GRB",
            "time_difference": -1.0,
            "time_coincidence_far": None,
            "time_sky_position_coincidence_far": None,
            "combined_skymap": None,
        },
    )
    data = encode(record, fmt)
    assert detect_format(data) == fmt
    notice = read_notice(data)
    assert notice.is_real and not notice.is_mock and not notice.is_test
    assert notice.alert_type is AlertType.EARLYWARNING
    assert notice.event.mchirp_source.bin_edges == (0.0, 1.2, 3.0)
    assert notice.external_coinc.gcn_notice_id == "GRB-42"
    assert notice.skymap.has_distance
    assert notice.skymap.distmean == 80.0


@pytest.mark.parametrize("fmt", FORMATS)
def test_formats_decode_to_equal_notices(fmt, cbc_map):
    record = make_record("MS260101x", "UPDATE", skymap=cbc_map)
    ref = read_notice(encode(record, "avro"))
    notice = read_notice(encode(record, fmt))
    assert notice.content_hash == ref.content_hash
    assert dataclasses.replace(notice, format=ref.format, raw=ref.raw) == ref


@pytest.mark.parametrize("fmt", FORMATS)
def test_retraction(fmt):
    notice = read_notice(encode(make_record("S260101ab", "RETRACTION"), fmt))
    assert notice.is_retraction and notice.event is None and notice.skymap is None
    assert guide_report(notice) == "S260101ab was retracted\n"


@pytest.mark.parametrize("fmt", FORMATS)
def test_burst_without_distance(fmt, burst_map):
    record = make_record("TS260101c", group="Burst", pipeline="CWB", skymap=burst_map)
    notice = read_notice(encode(record, fmt))
    assert notice.is_test
    assert notice.event.classification == {} and notice.event.duration == 0.1
    assert not notice.skymap.has_distance
    assert notice.skymap.distmean is None
    lines = guide_report(notice).splitlines()
    assert lines[0].startswith("Most probable sky location (RA, Dec) = (")
    assert lines[1] == "Distance = unknown (the sky map has no distance information)"


def test_subsolar_search_with_empty_classification(cbc_map):
    record = make_record("S260101d", search="SSM", classification={}, properties={}, skymap=cbc_map)
    notice = read_notice(encode(record, "json"))
    assert dict(notice.event.classification) == {}
    assert gwalert.summarize(notice)["classification"] == {}


def test_notice_is_immutable(cbc_map):
    notice = read_notice(encode(make_record(skymap=cbc_map)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        notice.superevent_id = "S1"
    with pytest.raises(TypeError):
        notice.event.classification["BNS"] = 0.0
    record = notice.record
    record["superevent_id"] = "changed"
    assert notice.record["superevent_id"] == "MS260101a"


def test_read_from_bytes_file_and_path(tmp_path, cbc_map):
    data = encode(make_record(skymap=cbc_map), "avro")
    path = tmp_path / "notice.bin"  # the name says nothing about the format
    path.write_bytes(data)
    for source in (data, io.BytesIO(data), path, str(path)):
        assert read_notice(source).superevent_id == "MS260101a"


def test_container_with_two_records(cbc_map):
    import fastavro

    from gwalert.alerts.schema import parsed_official_schema

    buf = io.BytesIO()
    fastavro.writer(
        buf,
        parsed_official_schema(),
        [make_record("MS1", "RETRACTION"), make_record("MS2", "RETRACTION")],
    )
    assert [n.superevent_id for n in decode(buf.getvalue())] == ["MS1", "MS2"]


def test_printable_record_drops_only_skymap_bytes(cbc_map):
    notice = read_notice(encode(make_record(skymap=cbc_map)))
    printed = printable_record(notice)
    assert "skymap" not in printed["event"]
    assert printed["event"]["group"] == "CBC"


@pytest.mark.parametrize(
    "change,reason",
    [
        (lambda r: r.update(alert_type="SOMETHING"), "alert_type"),
        (lambda r: r.update(time_created="yesterday"), "time_created is not an ISO 8601 time"),
        (lambda r: r.update(superevent_id="S 1; rm -rf"), "not a GraceDB superevent id"),
        (lambda r: r.update(superevent_id="S260101a\n"), "not a GraceDB superevent id"),
        (lambda r: r.update(superevent_id=12), "not a GraceDB superevent id"),
        (lambda r: r.pop("superevent_id"), "missing field superevent_id"),
        (lambda r: r.pop("time_created"), "missing field time_created"),
    ],
)
def test_invalid_records_are_refused_with_the_field_named(change, reason):
    record = make_record(skymap=None)
    change(record)
    import json

    with pytest.raises(NoticeError, match=reason.replace(" ", ".")):
        read_notice(json.dumps(record).encode())


def test_writer_schemas_of_official_layout_are_recognised():
    import json

    import fastavro

    from gwalert.alerts.schema import legacy_schema, official_schema, writer_schema_verdict

    renamed = legacy_schema()
    renamed["namespace"] = "igwn.alerts.v1_0"
    for schema in (official_schema(), renamed):
        assert writer_schema_verdict(json.dumps(schema)) == (None, True)
    # Another layout is accepted only after validation against the official schema.
    odd = json.loads(json.dumps(official_schema()))
    event = next(f for f in odd["fields"] if f["name"] == "event")["type"][1]
    next(f for f in event["fields"] if f["name"] == "far")["type"] = "string"
    assert writer_schema_verdict(json.dumps(odd)) == (None, False)
    record = make_record(skymap=None)
    record["event"]["far"] = "very low"
    buf = io.BytesIO()
    fastavro.writer(buf, fastavro.parse_schema(odd), [record])
    notice = read_notice(buf.getvalue())
    assert notice.event.far is None
    assert notice.warnings == ("event.far has an invalid value 'very low'",)


# ----------------------------------------------------- lenient decoding (issue 8, point 6)
def _without(record, *keys):
    """GCN JSON of ``record`` with ``event.KEY`` / ``external_coinc.KEY`` / ``KEY`` removed."""
    import json

    doc = json.loads(encode(record, "json"))
    for key in keys:
        where, _, name = key.rpartition(".")
        (doc[where] if where else doc).pop(name)
    return json.dumps(doc).encode()


def test_initial_burst_notice_without_search_is_reported_with_a_warning(tmp_path, burst_map):
    """The issue's example: the guide's script reports on it, so does gwalert, with a
    warning on stderr; the Avro form (a writer schema without the field) is the same notice."""
    import json
    import subprocess
    import sys

    import fastavro

    from gwalert.alerts.schema import official_schema

    record = make_record("MS260801a", "INITIAL", group="burst", pipeline="CWB", skymap=burst_map)
    path = tmp_path / "burst.json"
    path.write_bytes(_without(record, "event.search"))
    result = subprocess.run(
        [sys.executable, "-m", "gwalert", "parse", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0
    assert result.stderr == f"gwalert: {path}: warning: missing field event.search\n"
    notice = read_notice(path)
    assert result.stdout == guide_report(notice)
    assert result.stdout.startswith("Most probable sky location (RA, Dec) = (")
    assert "'group': 'burst'" in result.stdout and "'search'" not in result.stdout
    assert notice.event.search is None and notice.event.group == "burst"
    assert notice.warnings == ("missing field event.search",)
    # the same notice written with a writer schema that lacks the field
    schema = json.loads(json.dumps(official_schema()))
    event = schema["fields"][3]["type"][1]
    event["fields"] = [f for f in event["fields"] if f["name"] != "search"]
    del record["event"]["search"]
    buf = io.BytesIO()
    fastavro.writer(buf, fastavro.parse_schema(schema), [record])
    avro = read_notice(buf.getvalue())
    assert avro.warnings == notice.warnings and avro.content_hash == notice.content_hash
    assert dataclasses.replace(avro, format=notice.format, raw=notice.raw) == notice


@pytest.mark.parametrize(
    "key",
    [
        "event.duration",
        "event.skymap",
        "event.central_frequency",
        "external_coinc.time_coincidence_far",
        "external_coinc.combined_skymap",
    ],
)
def test_missing_optional_keys_are_null_and_hash_like_explicit_nulls(key, burst_map):
    ext = {
        "gcn_notice_id": 1,
        "ivorn": "ivo://x",
        "observatory": "Fermi",
        "search": "GRB",
        "time_difference": 1.0,
        "time_coincidence_far": None,
        "time_sky_position_coincidence_far": None,
        "combined_skymap": None,
    }
    record = make_record(
        "MS260801b", group="Burst", pipeline="CWB", skymap=None, external_coinc=ext
    )
    section, name = key.split(".")
    record[section][name] = None
    full = read_notice(encode(record, "avro"))
    notice = read_notice(_without(record, key))
    assert notice.warnings == (f"missing field {key}",)
    obj = notice.event if section == "event" else notice.external_coinc
    field = {"skymap": "skymap_bytes", "combined_skymap": "combined_skymap_bytes"}.get(name, name)
    assert getattr(obj, field) is None
    assert notice.content_hash == full.content_hash  # missing optional = null, as in Avro
    gwalert.summarize(notice)


def test_deviations_are_warnings_only_identity_is_required():
    import json

    from gwalert.rules import match_all, parse_config

    doc = json.loads(encode(make_record("S260801c", skymap=None), "json"))
    doc["event"].update(
        far="high",
        significant="yes",
        instruments="H1",
        group=7,
        classification={"BNS": "x", "BBH": 0.5},
        time="never",
    )
    doc["extra"] = {"x": 1}
    doc.pop("external_coinc")
    doc["urls"] = ["not", "a", "map"]
    notice = read_notice(json.dumps(doc).encode())
    ev = notice.event
    assert (ev.far, ev.significant, ev.instruments, ev.group, ev.time) == (
        None,
        None,
        (),
        None,
        None,
    )
    assert dict(ev.classification) == {"BBH": 0.5} and dict(notice.urls) == {}
    assert notice.warnings == (
        "event.far has an invalid value 'high'",
        "event.significant has an invalid value 'yes'",
        "event.instruments has an invalid value 'H1'",
        "event.group has an invalid value 7",
        "event.classification.BNS has an invalid value 'x'",
        "missing field external_coinc",
        "urls has an invalid value ['not', 'a', 'map']",
        "unknown field extra",
        "event.time is not an ISO 8601 time: 'never'; taken as unknown",
    )
    # and it goes through rules like any other notice: unknown values never match
    config = parse_config(
        {
            "rule": [
                {"name": "far", "far_max": 1.0, "action": [{"type": "save", "dir": "x"}]},
                {"name": "any", "action": [{"type": "save", "dir": "x"}]},
            ]
        }
    )
    far, anything = match_all(config.rules, notice)
    assert not far.matched and anything.matched


def test_many_deviations_are_bounded():
    import json

    from gwalert.alerts.validate import MAX_WARNINGS

    doc = json.loads(encode(make_record("S260801d", skymap=None), "json"))
    doc.update({f"x{i}": i for i in range(500)})
    notice = read_notice(json.dumps(doc).encode())
    assert len(notice.warnings) == MAX_WARNINGS + 1
    assert notice.warnings[-1] == "... and 480 more deviation(s) from the schema"


@pytest.mark.parametrize(
    "text, reason",
    [
        (b'{"a": ' + b"1" * 4301 + b"}", "an integer has more than 4300 digits"),
        (b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nests too deeply"),
        (b'{"superevent_id": "S1", "alert_type": "UPDATE"}', "missing field time_created"),
        (
            b'{"superevent_id": "S1\\n", "alert_type": "UPDATE", "time_created": "2026-01-01"}',
            "not a GraceDB superevent id",
        ),
    ],
)
def test_refusals_are_one_line(text, reason):
    with pytest.raises(NoticeError, match=reason) as info:
        read_notice(text)
    assert "\n" not in str(info.value)


def test_official_schema_file_is_the_packaged_one():
    """The schema is read through the package's import path (cheaper than importlib.resources
    for ``gwalert parse``): the same text importlib.resources gives."""
    from importlib import resources

    from gwalert.alerts.schema import SCHEMA_FILE, _schema_text

    packaged = resources.files("igwn_gwalert_schema").joinpath(SCHEMA_FILE).read_text()
    assert _schema_text() == packaged
