"""Fuzzing: hypothesis-driven mutations of real notices (bytes and structure) through the
decoder, the summary, the store (SQLite and PostgreSQL), ``Pipeline.process`` and ``gwalert
parse``. Sources: notices built with gwalert.samples, and ../shared/data/notices when present.

What must hold, whatever the mutation:
- ``read_notices`` returns notices or raises ``NoticeError``, nothing else;
- ``summarize`` never raises, and its facts are strict JSON once sanitised;
- ``Store.add`` stores every notice the decoder accepts;
- ``Pipeline.process`` stores the message or dead-letters it with a reason, never raises;
- ``gwalert parse`` gives each bad file one line, never "unexpected error", reads the rest.

A fixed, modest number of examples by default; ``GWALERT_LONG_TESTS=1`` runs a long campaign.
Inputs that once broke a property stay below as a literal corpus (``CORPUS``).
"""

from __future__ import annotations

import base64
import copy
import io
import json
import os
import random
import subprocess
import sys
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import NOTICES
from gwalert import samples
from gwalert.alerts import read_notices
from gwalert.alerts.schema import official_schema
from gwalert.errors import NoticeError
from gwalert.pipeline import Pipeline
from gwalert.sources.message import Message
from gwalert.store.sanitize import json_value
from gwalert.summary import summarize

LONG = os.environ.get("GWALERT_LONG_TESTS") == "1"


def _settings(default: int, long: int) -> settings:
    return settings(
        max_examples=long if LONG else default,
        deadline=None,
        derandomize=not LONG,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


# ------------------------------------------------------------------------------ sources
@cache
def base_records() -> tuple[dict[str, Any], ...]:
    """Records that follow the schema: the sample set, and the shared LVK samples if present."""
    import fastavro

    records = []
    for data in samples.sample_set().values():
        if data.startswith(b"Obj"):
            records.extend(fastavro.reader(io.BytesIO(data)))
    small = samples.gaussian_skymap(max_level=3)
    records.append(
        samples.make_record(
            "S260501a",
            "INITIAL",
            skymap=small,
            mchirp_source={"bin_edges": [0.0, 1.0, 2.0], "probabilities": [0.5, 0.5]},
        )
    )
    if NOTICES.is_dir():
        for path in sorted(NOTICES.glob("*.avro")):
            records.extend(fastavro.reader(io.BytesIO(path.read_bytes())))
    return tuple(records)


@cache
def base_messages() -> tuple[bytes, ...]:
    """Encoded notices: every base record in the three formats, and the shared files."""
    out = []
    for record in base_records():
        for fmt in ("avro", "json", "avro-datum"):
            out.append(samples.encode(record, fmt))
    if NOTICES.is_dir():
        out.extend(p.read_bytes() for p in sorted(NOTICES.iterdir()) if p.is_file())
    return tuple(out)


# ------------------------------------------------------------------------ hostile values
class Literal:
    """JSON text put in place as is (numbers json.dumps cannot write, deep nesting)."""

    def __init__(self, text: str) -> None:
        self.text = text


HOSTILE = [
    None,
    True,
    False,
    0,
    -1,
    2**31,
    2**63,
    -(2**63) - 1,
    2**64,
    10**400,
    float("nan"),
    float("inf"),
    float("-inf"),
    1e308,
    -0.0,
    5e-324,
    "",
    "\ud800",
    "\udfff\ud800",
    "a\x00b",
    "\x00",
    "x" * 5000,
    "é" * 70,
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00+01:00",
    "2026-13-45T00:00:00Z",
    "S260101a\n",
    "MS260101a",
    "PRELIMINARY",
    [],
    {},
    [[[]]],
    {"a": {"b": {}}},
    ["H1", 5],
    {"BNS": "x"},
    {"BNS": float("nan")},
    {"": 1.0},
    Literal("1" * 4301),
    Literal("1e400"),
    Literal("-1e400"),
    Literal("[" * 3000 + "]" * 3000),
    Literal("[" * 900 + "]" * 900),
    Literal('{"a":' * 500 + "1" + "}" * 500),
]

any_text = st.text(st.characters(codec=None, categories=None), max_size=40)
hostile = st.one_of(
    st.sampled_from(HOSTILE).map(copy.deepcopy),
    any_text,
    st.integers(),
    st.floats(),
    st.booleans(),
    st.none(),
)


def dump(value: Any) -> bytes:
    """JSON text of ``value`` with :class:`Literal` parts spliced in."""
    literals: dict[str, str] = {}

    def conv(v: Any) -> Any:
        if isinstance(v, Literal):
            key = f"@@literal{len(literals)}@@"
            literals[key] = v.text
            return key
        if isinstance(v, bytes | bytearray):
            return base64.b64encode(v).decode()
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list):
            return [conv(x) for x in v]
        return v

    text = json.dumps(conv(value))
    for key, literal in literals.items():
        text = text.replace(json.dumps(key), literal)
    return text.encode("utf-8", "surrogatepass")


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:8]):
            out += _paths(v, (*path, i))
    return out


def _get(value: Any, path: tuple) -> Any:
    for p in path:
        value = value[p]
    return value


@st.composite
def json_mutant(draw) -> bytes:
    """A base record in GCN's JSON form with 1-4 structural mutations."""
    record = copy.deepcopy(draw(st.sampled_from(base_records())))
    doc = json.loads(samples.encode(record, "json"))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_paths(doc)))
        op = draw(st.sampled_from(["replace", "replace", "drop", "add", "wrap"]))
        if not path:
            if op == "replace":
                doc = draw(hostile)
                break
            continue
        parent, key = _get(doc, path[:-1]), path[-1]
        if op == "replace":
            parent[key] = draw(hostile)
        elif op == "drop" and isinstance(parent, dict):
            del parent[key]
        elif op == "add" and isinstance(parent, dict):
            parent[draw(any_text)] = draw(hostile)
        elif op == "wrap":
            parent[key] = [parent[key]]
        if not isinstance(doc, dict):
            break
    return dump(doc)


def _avro_value(draw, schema: Any) -> Any:
    """A value the official schema accepts, chosen to be awkward."""
    if isinstance(schema, list):
        return _avro_value(draw, draw(st.sampled_from(schema)))
    kind = schema if isinstance(schema, str) else schema.get("type")
    if kind == "double":
        return draw(st.sampled_from([float("nan"), float("inf"), -1.0, 1e308, 0.0, 5e-324]))
    if kind in ("int", "long"):
        return draw(st.sampled_from([0, -1, 2**31 - 1, -(2**31)]))
    if kind == "string":
        return draw(
            st.sampled_from(
                [
                    "",
                    "a\x00b",
                    "x" * 3000,
                    "é" * 70,
                    "S1\n",
                    "9999-12-31T23:59:59-01:00",
                    "not a time",
                ]
            )
        )
    if kind == "boolean":
        return draw(st.booleans())
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "null":
        return None
    if kind == "map":
        return {
            draw(st.sampled_from(["", "BNS", "a\x00", "x" * 100])): _avro_value(
                draw, schema["values"]
            )
        }
    if kind == "array":
        return [_avro_value(draw, schema["items"])]
    if kind == "enum":
        return draw(st.sampled_from(schema["symbols"]))
    return None


@st.composite
def avro_mutant(draw) -> bytes:
    """An Avro notice: official schema with awkward values, or a writer schema of its own."""
    import fastavro

    record = copy.deepcopy(draw(st.sampled_from(base_records())))
    schema = copy.deepcopy(official_schema())
    event_schema = schema["fields"][3]["type"][1]
    targets = [(schema, record)]
    if isinstance(record.get("event"), dict):
        targets.append((event_schema, record["event"]))
    for _ in range(draw(st.integers(1, 3))):
        rec_schema, rec = draw(st.sampled_from(targets))
        i = draw(st.integers(0, len(rec_schema["fields"]) - 1))
        field = rec_schema["fields"][i]
        if "name" not in field:
            continue
        op = draw(st.sampled_from(["value", "value", "drop", "retype", "unname"]))
        if op == "value" and field["name"] != "event":
            rec[field["name"]] = _avro_value(draw, field["type"])
        elif op == "drop":
            rec_schema["fields"].pop(i)
            rec.pop(field["name"], None)
        elif op == "retype":
            new = draw(
                st.sampled_from(
                    [
                        "string",
                        "long",
                        "double",
                        "boolean",
                        "null",
                        {"type": "map", "values": "string"},
                    ]
                )
            )
            field["type"] = new
            rec[field["name"]] = _avro_value(draw, new)
        elif op == "unname" and field["name"] != "event":
            field.pop("name")
    buf = io.BytesIO()
    try:
        fastavro.writer(buf, schema, [record], validator=False)
        data = buf.getvalue()
    except Exception:  # noqa: BLE001 - a schema fastavro refuses: write it by hand
        from poison import container

        data = container(schema, b"\x00" * 8)
    if draw(st.booleans()):
        return data
    return draw(byte_mutant(st.just(data)))


@st.composite
def byte_mutant(draw, source=None) -> bytes:
    """An encoded notice with flipped, dropped or inserted bytes, or truncated."""
    data = bytearray(draw(source if source is not None else st.sampled_from(base_messages())))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        op = draw(st.sampled_from(["flip", "flip", "truncate", "insert", "delete"]))
        at = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif op == "truncate":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[at : at + draw(st.integers(1, 16))]
    return bytes(data)


mutant = st.one_of(json_mutant(), avro_mutant(), byte_mutant())


# ------------------------------------------------------------ the crashes found, kept
def _poison_corpus() -> list[bytes]:
    from poison import poisons

    return [p.data for p in poisons()]


def _json_of(change) -> bytes:
    doc = json.loads(
        samples.encode(samples.make_record(skymap=samples.gaussian_skymap(max_level=3)), "json")
    )
    change(doc)
    return dump(doc)


#: Inputs that broke a property while this suite was written (beyond issue 9's table).
CORPUS = [
    # urls not a map; event not a record; a record that is a list
    _json_of(lambda d: d.update(urls=["x"])),
    _json_of(lambda d: d.update(event="gone")),
    _json_of(lambda d: d["event"].update(classification=[1, 2])),
    _json_of(lambda d: d["event"].update(instruments="H1")),
    _json_of(lambda d: d["event"].update(mchirp_source={"bin_edges": [1e400], "x": 1})),
    _json_of(lambda d: d["event"].update(time="yesterday", significant="yes")),
    _json_of(lambda d: d.update(superevent_id="\ud800")),
    _json_of(lambda d: d.update(time_created=Literal("[" * 900 + "]" * 900))),
    _json_of(lambda d: d.update(extra=Literal("[" * 900 + "]" * 900))),
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a": ' + b"1" * 5000 + b"}",
    b"\xef\xbb\xbf{}",
    b'{"superevent_id": "S1", "alert_type": "UPDATE", "time_created": "2026-01-01"}',
]


# --------------------------------------------------------------------------- properties
def _decode_and_summarize(data: bytes) -> list:
    try:
        notices = read_notices(data)
    except NoticeError as exc:
        text = str(exc)
        assert text and "\n" not in text
        return []
    for notice in notices:
        facts = summarize(notice)
        json.dumps(json_value(facts), allow_nan=False).encode()
        for warning in notice.warnings:
            assert warning and "\n" not in warning
    return notices


@_settings(150, 5000)
@given(mutant)
def test_decoder_and_summary_never_crash(data):
    _decode_and_summarize(data)


@pytest.mark.parametrize("data", _poison_corpus() + CORPUS)
def test_corpus_decoder_and_summary(data):
    _decode_and_summarize(data)


@_settings(25, 1000)
@given(data=mutant)
def test_store_add_accepts_whatever_the_decoder_accepts(store, data):
    try:
        notices = read_notices(data)
    except NoticeError:
        return
    for notice in notices:
        nid, _ = store.add(notice, source="fuzz")
        row = store.get_notice(nid)
        assert row.raw == data or row.content_hash == notice.content_hash


def _check_process(pipeline: Pipeline, data: bytes, offset: int) -> None:
    outcome = pipeline.process(Message(data, "fuzz", 0, offset))
    assert outcome.notices or outcome.dead_letter_id is not None
    if outcome.dead_letter_id is not None:
        assert outcome.error
    for nid, _new, _notice in outcome.notices:
        assert pipeline.store.get_notice(nid) is not None


@_settings(25, 1000)
@given(data=mutant)
@pytest.mark.slow
def test_pipeline_stores_or_dead_letters_every_message(store, data):
    _check_process(Pipeline(store), data, len(data))


def test_corpus_through_the_pipeline(store):
    pipeline = Pipeline(store)
    for i, data in enumerate(_poison_corpus() + CORPUS):
        _check_process(pipeline, data, i)


@pytest.mark.slow
def test_gwalert_parse_of_mutated_files(tmp_path):
    """One ``gwalert parse`` run over mutated files between good ones: at most one line per
    bad file (plus warnings), never "unexpected error", and the last good file reported."""
    rng = random.Random(9)
    n = 300 if LONG else 40
    good = tmp_path / "good.avro"
    good.write_bytes(
        samples.encode(
            samples.make_record("MS260601z", skymap=samples.gaussian_skymap(max_level=3))
        )
    )
    paths = []
    bases = base_messages()
    for i in range(n):
        data = bytearray(rng.choice(bases))
        for _ in range(rng.randint(1, 4)):
            if not data:
                break
            at = rng.randrange(len(data))
            if rng.random() < 0.2:
                del data[at:]
            else:
                data[at] ^= rng.randint(1, 255)
        if i % 4 == 0:  # structural: a field of the JSON form replaced by a hostile value
            doc = json.loads(samples.encode(rng.choice(base_records()), "json"))
            path = rng.choice(_paths(doc)[1:])
            _get(doc, path[:-1])[path[-1]] = copy.deepcopy(rng.choice(HOSTILE))
            data = bytearray(dump(doc))
        path = tmp_path / f"m{i:03d}.bin"
        path.write_bytes(bytes(data))
        paths.append(path)
    for i, data in enumerate(CORPUS):
        path = tmp_path / f"corpus{i:02d}.bin"
        path.write_bytes(data)
        paths.append(path)
    for args in (["parse"], ["parse", "--json"]):
        result = subprocess.run(
            [sys.executable, "-m", "gwalert", *args, *map(str, paths), str(good)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert "unexpected error" not in result.stderr and "Traceback" not in result.stderr
        errors: dict[str, int] = {}
        for line in result.stderr.splitlines():
            assert line.startswith("gwalert: "), line
            name = line.split(": ")[1]
            if ": warning: " not in line:
                errors[name] = errors.get(name, 0) + 1
        assert all(count == 1 for count in errors.values()), errors
        assert str(good) not in errors
        if "--json" in args:
            facts = [json.loads(line) for line in result.stdout.splitlines()]
            reported = {f["file"] for f in facts}
            # a notice whose sky map is bad is reported and also has its one error line
            assert reported.isdisjoint(errors) or all(
                f["skymap_error"] for f in facts if f["file"] in errors
            )
            assert len(reported | set(errors)) == len(paths) + 1
            assert facts[-1]["superevent_id"] == "MS260601z"
        else:
            assert result.stdout.rstrip().endswith(
                "'urls': {'gracedb': 'https://gracedb.ligo.org/superevents/MS260601z/view/'}}"
            )


@example(b"")
@settings(max_examples=1, deadline=None)
@given(st.just(b"{}"))
def test_empty_and_trivial_messages(data):
    _decode_and_summarize(data)
