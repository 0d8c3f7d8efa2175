"""Every kind of bad input gets one clear line, a non-zero exit and no traceback, and the
other files are still read (issue: offline core, point 5)."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import fastavro
import pytest
from poison import _varint

from gwalert.alerts import encode, read_notice
from gwalert.alerts.schema import parsed_official_schema
from gwalert.errors import NoticeError, SkyMapError
from gwalert.samples import gaussian_skymap, make_record, write_skymap
from gwalert.skymap import SkyMap

GWALERT = [sys.executable, "-m", "gwalert"]


def run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*GWALERT, *args], capture_output=True, text=True, timeout=120, **kw)


def igwn_named_array_null_bomb() -> bytes:
    """An Avro container whose schema is named like an IGWN alert but adds a field of type
    array<null>, with a block claiming 2**31 items: costless to claim, ruinous to decode."""
    schema = {
        "type": "record",
        "name": "Alert",
        "namespace": "igwn.alerts",
        "fields": [
            {"name": "alert_type", "type": "string"},
            {"name": "time_created", "type": "string"},
            {"name": "superevent_id", "type": "string"},
            {"name": "junk", "type": {"type": "array", "items": "null"}},
        ],
    }
    head = io.BytesIO()
    fastavro.writer(head, schema, [])
    header = head.getvalue()
    sync = header[-16:]
    datum = io.BytesIO()
    fastavro.schemaless_writer(
        datum,
        schema,
        {
            "alert_type": "PRELIMINARY",
            "time_created": "2026-01-01T00:00:00Z",
            "superevent_id": "S1",
            "junk": [],
        },
    )
    body = datum.getvalue()[:-1] + _varint(2**31) + b"\x00"
    return header + _varint(1) + _varint(len(body)) + body + sync


def array_null_container() -> bytes:
    buf = io.BytesIO()
    fastavro.writer(buf, {"type": "array", "items": "null"}, [[None]])
    data = bytearray(buf.getvalue())
    return bytes(data)


def fits_claiming_rows(rows: int) -> bytes:
    data = bytearray(gaussian_skymap(max_level=4, distance=None))
    card = b"NAXIS2  = "
    at = data.index(card, 2880)
    data[at : at + 80] = f"NAXIS2  = {rows:>20d}".ljust(80).encode()
    return bytes(data)


def gzip_bomb(total: int) -> bytes:
    """A gzip-compressed FITS whose table claims ``total`` bytes of rows, all zeros."""
    head = bytearray(write_skymap([4], [1 / (4 * 3.141592653589793 / 12)]))
    row = 16
    at = head.index(b"NAXIS2  = ", 2880)
    head[at : at + 80] = f"NAXIS2  = {total // row:>20d}".ljust(80).encode()
    end = head.index(b"END     ", 2880)
    header = bytes(head[: -(-(end + 80) // 2880) * 2880])
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [comp.compress(header)]
    chunk = bytes(1 << 24)
    for _ in range(total // len(chunk)):
        parts.append(comp.compress(chunk))
    parts.append(comp.flush())
    return b"".join(parts)


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("good") / "good.avro"
    path.write_bytes(encode(make_record(skymap=gaussian_skymap(max_level=4))))
    return path


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    d = tmp_path_factory.mktemp("bad")
    src = encode(make_record(skymap=gaussian_skymap(max_level=4)))
    flipped = bytearray(src)
    for i in range(40, len(flipped), 997):
        flipped[i] ^= 0xFF
    good_json = json.loads(encode(make_record(skymap=gaussian_skymap(max_level=3)), "json"))
    bad_b64 = json.loads(json.dumps(good_json))
    bad_b64["event"]["skymap"] = "!!not base64!!"
    other = io.BytesIO()
    fastavro.writer(
        other,
        {"type": "record", "name": "Foo", "fields": [{"name": "x", "type": "int"}]},
        [{"x": 1}],
    )
    cases = {
        "empty.avro": (b"", "empty input"),
        "truncated.avro": (src[: len(src) // 2], "corrupt Avro data"),
        "header-only.avro": (src[:60], "corrupt Avro container header"),
        "bitflipped.avro": (bytes(flipped), "corrupt Avro"),
        "not-avro.txt": (b"hello, I am not an alert\n", "not an LVK notice (Avro or GCN"),
        "other-schema.avro": (other.getvalue(), "'Foo' is not an IGWN alert schema"),
        "array-null.avro": (array_null_container(), "not an IGWN alert record"),
        "igwn-array-null.avro": (igwn_named_array_null_bomb(), "array of items that take no"),
        "broken.json": (b'{"alert_type": "PRELIMINARY",', "invalid JSON"),
        "bad-base64.json": (json.dumps(bad_b64).encode(), "event.skymap is not valid base64"),
        "huge-rows.avro": (
            encode(make_record(skymap=fits_claiming_rows(10**10))),
            "header claims 10000000000 rows",
        ),
        "not-fits.avro": (encode(make_record(skymap=b"garbage" * 100)), "not a FITS file"),
        "truncated-fits.avro": (
            encode(make_record(skymap=gaussian_skymap()[:5000])),
            "truncated FITS",
        ),
    }
    out = {}
    for name, (data, reason) in cases.items():
        path = d / name
        path.write_bytes(data)
        out[name] = (path, reason)
    return out


def test_each_bad_file_gets_one_line_and_the_rest_are_read(bad_files, good):
    names = sorted(bad_files)
    paths = [str(bad_files[n][0]) for n in names]
    result = run("parse", str(good), *paths, str(good))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == len(names), result.stderr
    for line, name in zip(lines, names, strict=True):
        path, reason = bad_files[name]
        assert line.startswith(f"gwalert: {path}: "), line
        assert reason in line, (name, line)
    # both good copies were still reported
    assert result.stdout.count("Most probable sky location") == 2


@pytest.mark.parametrize("name", ["truncated.avro", "igwn-array-null.avro", "huge-rows.avro"])
def test_api_raises_one_error_type(bad_files, name):
    path, reason = bad_files[name]
    with pytest.raises((NoticeError, SkyMapError), match=reason.split("'")[0][:20]):
        notice = read_notice(path)
        notice.skymap  # noqa: B018 - the sky map is parsed on first use


def test_debug_shows_the_traceback(bad_files):
    result = run("--debug", "parse", str(bad_files["empty.avro"][0]))
    assert result.returncode == 1
    assert "Traceback" in result.stderr


def test_usage_errors_exit_2():
    result = run("parse")
    assert result.returncode == 2
    assert "usage:" in result.stderr
    assert run("no-such-verb").returncode == 2


def test_missing_file_and_directory(tmp_path):
    result = run("parse", str(tmp_path / "nope.avro"), str(tmp_path))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines == [
        f"gwalert: {tmp_path / 'nope.avro'}: No such file or directory",
        f"gwalert: {tmp_path}: no files in this directory",
    ]


@pytest.mark.slow
def test_gzip_bomb_is_refused_within_bounded_memory(tmp_path):
    bomb = gzip_bomb(1536 << 20)  # a table of 1.5 GB of zeros, about 1.5 MB compressed
    assert len(bomb) < 4 << 20
    path = tmp_path / "bomb.fits.gz"
    path.write_bytes(bomb)
    notice_path = tmp_path / "bomb-notice.avro"
    notice_path.write_bytes(encode(make_record(skymap=bomb)))
    code = (
        "import sys\n"
        "from gwalert.skymap import SkyMap\n"
        "from gwalert.errors import SkyMapError\n"
        "try:\n"
        f"    SkyMap.read({str(path)!r})\n"
        "except SkyMapError as exc:\n"
        "    print('refused:', exc)\n"
        # VmHWM: this process's own peak (ru_maxrss would include pytest's, kept across exec)
        "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    ).stdout.splitlines()
    # refused from its header (more rows, or more bytes, than the bounds), before inflating
    assert out[0].startswith("refused: ") and "more than" in out[0], out[0]
    assert int(out[1]) * 1024 < 600 << 20  # peak RSS well under 1 GB
    result = run("parse", str(notice_path))
    assert result.returncode == 1
    assert "more than the bound" in result.stderr and "Traceback" not in result.stderr


def test_gzip_map_within_bounds_reads(tmp_path):
    data = gaussian_skymap(max_level=4)
    plain = SkyMap.read(data)
    zipped = SkyMap.read(gzip.compress(data))
    assert (plain.uniq == zipped.uniq).all()
    assert plain.most_probable() == zipped.most_probable()


def test_stdin_dash(good):
    result = run("parse", "-", stdin=open(good, "rb"))
    assert result.returncode == 0
    assert result.stdout.startswith("Most probable sky location")
    result = subprocess.run([*GWALERT, "parse", "-"], input=b"", capture_output=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.decode().strip() == "gwalert: <stdin>: empty input"


def test_bad_base64_in_combined_skymap():
    record = make_record(
        skymap=None,
        external_coinc={
            "gcn_notice_id": 1,
            "ivorn": "ivo://x",
            "observatory": "Fermi",
            "search": "GRB",
            "time_difference": 1.0,
            "time_coincidence_far": None,
            "time_sky_position_coincidence_far": None,
            "combined_skymap": None,
        },
    )
    data = json.loads(encode(record, "json"))
    data["external_coinc"]["combined_skymap"] = base64.b64encode(b"xx").decode()[:-1]
    with pytest.raises(NoticeError, match="external_coinc.combined_skymap is not valid base64"):
        read_notice(json.dumps(data).encode())


def test_size_bound(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b"{" + b" " * (2 << 20) + b"}")
    env = dict(os.environ, GWALERT_MAX_NOTICE_BYTES=str(1 << 20))
    result = run("parse", str(big), env=env)
    assert result.returncode == 1
    assert result.stderr.strip() == f"gwalert: {big}: larger than {1 << 20} bytes"


def test_parsed_schema_is_the_official_one():
    names = [f["name"] for f in parsed_official_schema()["fields"]]
    assert names[:3] == ["alert_type", "time_created", "superevent_id"]
