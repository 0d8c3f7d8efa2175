"""Files that are not notices are described in plain words with what to use instead, never by a
decoder's internal exception; a notice with a corrupt sky map is still reported; listen DIR
skips the store's own files."""

from __future__ import annotations

import gzip
import json
import re
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gwalert import samples
from gwalert.alerts import decode
from gwalert.alerts.sniff import SIGNATURES
from gwalert.cli import main
from gwalert.errors import NoticeError

#: An exception class name in a message ("IndexError:", "EOFError", "JSONDecodeError").
CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception|Exit|Interrupt)\b|Traceback")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def fits_bytes() -> bytes:
    return samples.gaussian_skymap(10.0, 20.0, 5.0, distance=None, max_level=4)


def kinds(tmp_path) -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, a word the message must contain)."""
    db = tmp_path / "x.sqlite"
    sqlite3.connect(db).execute("create table t (x)").connection.commit()
    return {
        "pic.png": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "PNG"),
        "map.fits": (fits_bytes(), "FITS"),
        "map.fits.gz": (gzip.compress(fits_bytes()), "FITS"),
        "store.sqlite": (db.read_bytes(), "SQLite"),
        "list.json": (b'[{"superevent_id": "S1"}, {"superevent_id": "S2"}]', "JSON"),
        "numbers.json": (b"[1, 2, 3]", "JSON"),
        "other.json": (b'{"name": "a catalogue row", "ra": 1.0}', "not a notice"),
        "doc.pdf": (b"%PDF-1.7\n" + bytes(200), "PDF"),
        "page.html": (b"<!doctype html><html><body>hi</body></html>", "HTML"),
        "blob.bz2": (b"BZh91AY&SY" + bytes(50), "bzip2"),
        "archive.zip": (b"PK\x03\x04" + bytes(50), "zip"),
    }


@pytest.mark.parametrize("verb", ["parse", "publish", "skymap"])
def test_known_kinds_of_file_are_named(capsys, tmp_path, verb):
    extra = ["--to", "kafka://127.0.0.1:9/t", "--no-auth"] if verb == "publish" else []
    for name, (data, word) in kinds(tmp_path).items():
        if verb == "skymap" and "FITS" in word:
            continue  # a sky map is what skymap reads
        path = tmp_path / name
        path.write_bytes(data)
        code, out, err = run(capsys, verb, str(path), *extra)
        assert code == 1, (name, out, err)
        assert err.startswith(f"gwalert: {path}: ") and err.count("\n") == 1, err
        assert word in err, (name, err)
        assert not CLASS_NAME.search(err), err


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.sampled_from(
        [b"", b"[", b"{", b"Obj\x01", b"SIMPLE  =", b"\x1f\x8b", b"<"] + [m for m, *_ in SIGNATURES]
    ),
    body=st.binary(max_size=3000),
)
def test_fuzz_no_internal_exception_text_in_messages(prefix, body):
    data = prefix + body
    try:
        decode(data)
    except NoticeError as exc:
        text = str(exc)
        assert text and "\n" not in text
        assert not CLASS_NAME.search(text), text
        assert "list index" not in text and "Expected -" not in text, text


def test_corrupt_embedded_skymap_still_reported_and_shown(capsys, tmp_path):
    rec = samples.make_record("MS260101a", "PRELIMINARY", skymap=fits_bytes()[:3000])
    path = tmp_path / "bad.avro"
    path.write_bytes(samples.encode(rec, "avro"))
    code, out, err = run(capsys, "parse", str(path))
    assert code == 1 and err.startswith(f"gwalert: {path}: sky map of MS260101a: "), err
    first, *rest = out.splitlines()
    assert first.startswith("Sky map: sky map of MS260101a: ") and "FITS" in first
    assert "Record:" in rest and "'superevent_id': 'MS260101a'" in out
    code, out, _ = run(capsys, "parse", "--json", str(path))
    stored_reason = json.loads(out)["skymap_error"]
    assert stored_reason and first == f"Sky map: {stored_reason}"  # as listen stores it
    assert err.strip().endswith(stored_reason)
    store = str(tmp_path / "s.sqlite")
    assert run(capsys, "listen", str(path), "--store", store, "-q")[0] == 0
    code, out, _ = run(capsys, "show", "MS260101a", "--store", store)
    assert code == 0 and f"sky map: {stored_reason}" in out


def test_listen_dir_skips_the_stores_own_files(capsys, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for name, data in samples.sample_set().items():
        (d / name).write_bytes(data)
    store = str(d / "s.sqlite")
    for _ in range(2):
        code, _, err = run(capsys, "listen", str(d), "--store", store, "-q")
        assert code == 0 and " 0 dead letter(s)" in err, err
