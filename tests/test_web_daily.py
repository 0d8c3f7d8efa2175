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


# ------------------------------------------------------------------ in a real browser
from test_web_browser import browser, page, serving  # noqa: E402, F401 - shared fixtures


@pytest.mark.slow
def test_badges_apart_and_headers_alike_in_chromium(tmp_path, page):  # noqa: F811
    from web_server import fill_samples

    path = tmp_path / "s.sqlite"
    store = Store.open(str(path))
    fill_samples(store)
    store.close()
    with serving(path, tmp_path / "cache") as base:
        page.goto(base + "/")
        page.wait_for_selector("table.events thead th")
        heads = page.eval_on_selector_all(
            "table.events thead th",
            """els => els.map(e => {
                const r = document.createRange(); r.selectNodeContents(e);
                const b = r.getBoundingClientRect(); const s = getComputedStyle(e);
                return {text: e.textContent, font: s.fontFamily, size: s.fontSize,
                        bottom: b.bottom, num: e.classList.contains('num')};
            })""",
        )
        plain = [h for h in heads if not h["num"]]
        for h in (h for h in heads if h["num"]):
            assert (h["font"], h["size"]) == (plain[0]["font"], plain[0]["size"]), h
            assert abs(h["bottom"] - plain[0]["bottom"]) <= 1.0, (h, plain[0])
        for sid in page.eval_on_selector_all(
            "[data-superevent]", "els => els.map(e => e.dataset.superevent)"
        ):
            page.goto(base + f"/events/{sid}")
            rects = page.eval_on_selector_all(
                "h1 .badge", "els => els.map(e => e.getBoundingClientRect().toJSON())"
            )
            for a, b in zip(rects, rects[1:], strict=False):
                if abs(a["top"] - b["top"]) < 2:  # on one line: a gap between them
                    assert b["left"] - a["right"] >= 3, (sid, a, b)
    assert page.problems == []
