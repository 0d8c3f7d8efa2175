"""Dashboard details of issue 19: file feeds that finished are not flagged, every directory
feed shows the notices it read (no separate "files" total), an event without classification
or properties says why in words that fit its group, badges never touch and number headers use
the headers' font."""

from __future__ import annotations

import json
import re

import pytest
from web_server import get, running

from gwalert import samples
from gwalert.cli import main
from gwalert.store import Store
from gwalert.web import create_app


def _json(url: str) -> object:
    return json.loads(get(url)[2])


def _dir(tmp_path, name: str, records: list) -> str:
    d = tmp_path / name
    d.mkdir()
    for i, rec in enumerate(records):
        (d / f"n{i}.json").write_bytes(samples.encode(rec, "json"))
    return str(d)


@pytest.mark.parametrize("relative", [False, True])
def test_directory_feeds_count_their_notices_and_finished_files_are_not_flagged(
    tmp_path, capsys, monkeypatch, relative
):
    a = _dir(tmp_path, "a", [samples.make_record(f"MS2601{i:02d}a") for i in range(3)])
    b = _dir(tmp_path, "b", [samples.make_record("MS260201b"), samples.make_record("MS260202b")])
    if relative:  # listen given relative paths, as people type them
        monkeypatch.chdir(tmp_path)
        a, b = "a/", "./b"
    url = str(tmp_path / "s.sqlite")
    assert main(["listen", a, b, "--store", url, "-q"]) == 0
    capsys.readouterr()
    store = Store.open(url)
    try:
        with running(create_app(store, cache_dir=tmp_path / "c", prerender=False)) as base:
            feeds = {f["feed"]: f for f in _json(base + "/api/health")["sources"]}
            html = get(base + "/health")[2].decode()
    finally:
        store.close()
    assert {name: f["notices"] for name, f in feeds.items()} == {a: 3, b: 2}
    assert all(f["state"] == "stopped" and f["warning"] is None for f in feeds.values())
    assert "warnrow" not in html


def test_event_without_classification_says_why_for_its_group(tmp_path):
    store = Store.open(str(tmp_path / "s.sqlite"))
    try:
        for sid, group in (("MS260101a", "CBC"), ("MS260102b", "Burst")):
            rec = samples.make_record(
                sid, group=group, pipeline="cwb" if group == "Burst" else "gstlal"
            )
            rec["event"]["classification"] = {}
            rec["event"]["properties"] = {}
            from gwalert.alerts import decode

            store.add(decode(samples.encode(rec, "json"))[0], source="t")
        with running(create_app(store, cache_dir=tmp_path / "c", prerender=False)) as base:
            cbc = get(base + "/events/MS260101a")[2].decode()
            burst = get(base + "/events/MS260102b")[2].decode()
            css = get(base + "/static/style.css")[2].decode()
    finally:
        store.close()
    assert "Burst" not in re.sub(r"<[^>]+>", "", cbc.split("<h2>Classification</h2>")[1])[:200]
    assert "None given in its notices." in cbc
    assert "Burst alerts carry none" in burst
    assert re.search(r"\.badge \+ \.badge \{[^}]*margin-left", css)
    assert re.search(r"thead th\.num \{[^}]*font: inherit", css)
