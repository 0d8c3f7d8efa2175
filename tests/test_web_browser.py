"""``gwalert serve`` in a real browser: Debian's chromium driven by Playwright (never a
downloaded browser). The dashboard runs as its own ``gwalert serve`` process and notices arrive
through ``gwalert listen`` processes, as in an observing run. Skipped, with the reason, when no
chromium or no Playwright is installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from waiting import GENEROUS, wait_until
from web_server import XSS, fill_samples, hostile_notice, store_bytes

from gwalert import samples
from gwalert.store import Store

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("GWALERT_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


pytestmark = pytest.mark.slow  # a real browser and real server processes: seconds per test

#: Playwright's deadline for every wait (ms). Waits end as soon as their condition holds; this
#: only bounds a broken build, so it is generous enough for a 2-core machine at load 8.
WAIT_MS = int(GENEROUS * 1000)


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    if path is None:
        pytest.skip("no chromium found (apt-get install chromium, or set GWALERT_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install playwright)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(WAIT_MS)
    context.set_default_navigation_timeout(WAIT_MS)
    pg = context.new_page()
    pg.problems = []  # console errors, page errors and dialogs: none is expected
    pg.on(
        "console",
        lambda m: (
            pg.problems.append(f"console {m.type}: {m.text} [{m.location.get('url', '')}]")
            if m.type in ("error", "warning")
            else None
        ),
    )
    pg.on("pageerror", lambda e: pg.problems.append(f"page error: {e}"))

    def on_dialog(dialog):
        pg.problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    pg.on("dialog", on_dialog)
    yield pg
    context.close()


@contextmanager
def serving(store_path: Path, cache: Path, *extra: str) -> Iterator[str]:
    """``gwalert serve`` as its own process on a free port; yields the base URL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gwalert",
            "serve",
            "--port",
            "0",
            "--store",
            str(store_path),
            "--cache-dir",
            str(cache),
            *extra,
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stderr.readline()
        m = re.search(r"on (http://127\.0\.0\.1:\d+)/", line)
        assert m, f"gwalert serve did not start: {line}{proc.stderr.read() if proc.poll() else ''}"
        yield m.group(1)
    finally:
        proc.terminate()
        assert proc.wait(GENEROUS) == 0


@pytest.fixture(scope="module")
def drill(tmp_path_factory) -> dict:
    """A store with the drill set, a hostile notice and a hostile dead letter, and one map
    cache for the module (a second server over the same notices reuses its pictures)."""
    root = tmp_path_factory.mktemp("drill")
    store = Store.open(str(root / "s.sqlite"))
    ids = fill_samples(store)
    store_bytes(store, hostile_notice())
    store.add_dead_letter(b"<img src=z onerror=alert(9)>", "<script>alert(10)</script>", "file:/x")
    store.close()
    return {"path": root / "s.sqlite", "cache": root / "cache", "ids": ids}


@pytest.fixture(scope="module")
def drill_server(drill, browser) -> Iterator[str]:
    with serving(drill["path"], drill["cache"]) as base:
        yield base


def rows(page) -> list[str]:
    return page.eval_on_selector_all(
        "[data-superevent]", "els => els.map(e => e.dataset.superevent)"
    )


MAPS_LOADED = """() => [...document.querySelectorAll('img[alt^="Sky map"]')]
    .every(i => i.complete && i.naturalWidth > 0)"""


def _record(sid: str, day: int, **kw) -> bytes:
    rec = samples.make_record(sid, time_created=f"2026-03-{day:02d}T00:10:00Z", **kw)
    rec["event"]["time"] = f"2026-03-{day:02d}T00:00:00.000Z"
    return samples.encode(rec)


def _many(store: Store, n: int = 40) -> None:
    """Enough superevents that the list scrolls: mock and real, one day each."""
    for i in range(n):
        prefix = "MS" if i % 2 else "S"
        store_bytes(
            store,
            _record(f"{prefix}2603{i % 28 + 1:02d}{'abcdefghij'[i // 28]}", i % 28 + 1),
            source="file:/bulk",
        )


def test_list_shows_the_store_and_updates_live_keeping_filters_and_scroll(page, tmp_path) -> None:
    path = tmp_path / "s.sqlite"
    store = Store.open(str(path))
    fill_samples(store)
    _many(store)
    expected = {r.superevent_id for r in store.iter_superevents()}
    store.close()
    with serving(path, tmp_path / "cache") as base:
        page.goto(base + "/")
        assert set(rows(page)) == expected
        assert page.locator('[data-superevent="MS260101a"]').get_attribute("class") == "retracted"
        page.wait_for_function("() => document.getElementById('live').dataset.state === 'ok'")

        page.select_option("select[name=kind]", "mock")
        page.wait_for_function("""() => [...document.querySelectorAll('[data-superevent]')]
            .every(e => e.dataset.superevent.startsWith('M'))""")
        assert "kind=mock" in page.url
        mock = {s for s in expected if s.startswith("M")}
        assert set(rows(page)) == mock
        page.evaluate("window.scrollTo(0, 300); window.__sameDocument = 42")
        scroll = page.evaluate("window.scrollY")
        assert scroll > 0

        detail = page.context.new_page()
        detail.goto(base + "/events/MS260101a")
        assert detail.locator("#stale").is_hidden()

        # two new notices, stored by a running `gwalert listen` in another process
        new = tmp_path / "new"
        new.mkdir()
        (new / "a.avro").write_bytes(_record("MS260330z", 30))
        (new / "b.avro").write_bytes(_record("S260330y", 30))
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "gwalert",
                "listen",
                str(new),
                "--store",
                str(path),
                "--until-eos",
                "-q",
            ],
            capture_output=True,
            text=True,
            timeout=GENEROUS,
        )
        assert done.returncode == 0, done.stderr
        # it appears by itself (the page polls; how fast is measured in benchmarks/bench_web.py)
        page.wait_for_selector('[data-superevent="MS260330z"]')
        assert page.locator('[data-superevent="S260330y"]').count() == 0  # filter kept
        assert page.evaluate("window.__sameDocument") == 42  # no reload
        assert page.input_value("select[name=kind]") == "mock"
        assert "kind=mock" in page.url
        assert abs(page.evaluate("window.scrollY") - scroll) <= 1
        assert set(rows(page)) == mock | {"MS260330z"}
        detail.wait_for_selector("#stale", state="visible")  # offers a reload

        # text search narrows the list as one types, still without a reload
        page.fill("input[name=q]", "260330")
        page.wait_for_function("() => document.querySelectorAll('[data-superevent]').length === 1")
        assert rows(page) == ["MS260330z"] and "q=260330" in page.url
        assert page.evaluate("window.__sameDocument") == 42
        # checked while the server runs: once it stops, the page's next poll fails (logged)
        assert page.problems == []


def test_detail_page_shows_map_timeline_and_actions(page, drill, drill_server) -> None:
    base, ids = drill_server, drill["ids"]
    page.goto(base + "/")
    page.click('[data-superevent="MS260101a"] a')
    page.wait_for_url(re.compile(r"/events/MS260101a$"))
    images = page.locator('img[alt^="Sky map"]')
    assert images.count() == 2  # the GW map and the combined map
    page.wait_for_function(MAPS_LOADED)
    widths = page.eval_on_selector_all('img[alt^="Sky map"]', "els => els.map(i => i.naturalWidth)")
    assert widths == [1080, 1080]
    timeline = page.eval_on_selector_all(
        "[data-notice-id]", "els => els.map(e => +e.dataset.noticeId)"
    )
    assert sorted(timeline) == sorted(i for k, i in ids.items() if k.startswith("MS260101a"))
    assert page.get_by_text("BNS").first.is_visible()
    assert page.get_by_text("Fermi").first.is_visible()

    # second view: the maps come from the cache (none drawn again; the speed of a cached view
    # is measured in benchmarks/bench_web.py)
    pictures = {p: p.stat().st_mtime_ns for p in drill["cache"].rglob("*.png")}
    assert len(pictures) >= 2
    page.reload()
    page.wait_for_function(MAPS_LOADED)
    assert {p: p.stat().st_mtime_ns for p in drill["cache"].rglob("*.png")} == pictures
    assert page.problems == []


def test_hostile_notice_renders_as_text_and_runs_nothing(page, drill_server) -> None:
    base = drill_server
    for where in ("/", "/events/MS260103x", "/health", "/dead-letters/1"):
        page.goto(base + where)
        page.wait_for_load_state("networkidle")
        assert "pwned" not in page.title()
        assert page.locator("img[src=x], img[src=y], img[src=z], b[onmouseover]").count() == 0
        if where == "/events/MS260103x":
            text = page.inner_text("body")
            for payload in (XSS["pipeline"], XSS["class"]):
                assert payload in text  # shown literally
            assert page.locator("a[href^='javascript:']").count() == 0
            page.hover("h1")
        if where == "/dead-letters/1":
            assert "<img src=z onerror=alert(9)>" in page.inner_text("body")
    # every handler an injected element could carry fires on load, before "networkidle";
    # two animation frames more and anything deferred to the next frame has run too
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    assert "pwned" not in page.title()
    assert page.problems == []


def test_token_is_required_in_the_browser(page, drill) -> None:
    token = uuid.uuid4().hex
    with serving(drill["path"], drill["cache"], "--token", token) as base:
        response = page.goto(base + "/")
        assert response.status == 401
        assert "token required" in page.inner_text("body")
        page.goto(base + f"/events/MS260101a?token={token}")
        assert page.url == base + "/events/MS260101a"  # the token left the address bar
        page.wait_for_function(MAPS_LOADED)
        page.goto(base + "/")
        assert set(rows(page)) == {"MS260101a", "MS260102b", "MS260103x"}
        page.wait_for_function("() => document.getElementById('live').dataset.state === 'ok'")
        # Before signing in the browser logs each 401 it got: the page itself, and the
        # /favicon.ico it asks for on its own (a plain-text page names no icon). That request
        # is made after the load event, so its log line can come late, even after the next
        # navigation (clearing the list after the first page raced with it under load).
        # Exactly those two are expected; any other problem is not.
        expected = {
            f"console error: Failed to load resource: the server responded with a status of "
            f"401 (Unauthorized) [{base}{where}]"
            for where in ("/", "/favicon.ico")
        }
        assert [p for p in page.problems if p not in expected] == []


def test_notice_published_to_a_running_listen_appears_by_itself(
    page, tmp_path, kafka_broker
) -> None:
    url = kafka_broker.url(f"igwn.gwalert-{uuid.uuid4().hex[:8]}")
    path = tmp_path / "s.sqlite"
    first = tmp_path / "first.avro"
    first.write_bytes(_record("MS260301a", 1))
    pub = subprocess.run(
        [sys.executable, "-m", "gwalert", "publish", str(first), "--to", url, "--no-auth"],
        capture_output=True,
        text=True,
        timeout=GENEROUS,
    )
    assert pub.returncode == 0, pub.stderr
    log = open(tmp_path / "listen.log", "ab")  # noqa: SIM115 - owned by the child
    listener = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gwalert",
            "listen",
            url,
            "--no-auth",
            "--store",
            str(path),
            "--no-heartbeat",
            "--start-at",
            "earliest",
            "--kafka-option",
            "session.timeout.ms=6000",
            "--kafka-option",
            "heartbeat.interval.ms=1000",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(
            lambda: b"MS260301a" in (tmp_path / "listen.log").read_bytes(),
            what="the first notice stored",
            procs=(listener,),
        )
        with serving(path, tmp_path / "cache") as base:
            page.goto(base + "/?kind=mock")
            assert rows(page) == ["MS260301a"]
            page.evaluate("window.__sameDocument = 1")
            second = tmp_path / "second.avro"
            second.write_bytes(_record("MS260302b", 2))
            pub = subprocess.run(
                [sys.executable, "-m", "gwalert", "publish", str(second), "--to", url, "--no-auth"],
                capture_output=True,
                text=True,
                timeout=GENEROUS,
            )
            assert pub.returncode == 0, pub.stderr
            page.wait_for_selector('[data-superevent="MS260302b"]')  # by itself, no reload
            assert rows(page) == ["MS260302b", "MS260301a"]
            assert page.evaluate("window.__sameDocument") == 1
            assert page.problems == []  # while the server runs (see above)
    finally:
        listener.terminate()
        listener.wait(GENEROUS)
        log.close()
