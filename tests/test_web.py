"""``gwalert serve`` over plain HTTP (a real uvicorn server on loopback): every route, the JSON
API against what the store holds, filters against a reference, escaping of hostile notices,
the token guard, /metrics, and the CLI's refusal to listen beyond loopback without a token."""

from __future__ import annotations

import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web_server import XSS, add_actions, fill_samples, get, hostile_notice, running, store_bytes

from gwalert import samples
from gwalert.alerts import decode
from gwalert.skymap import SkyMap
from gwalert.store import Store
from gwalert.web import create_app, fmt, queries


def _html(body: bytes) -> str:
    return body.decode("utf-8")


def _json(url: str, **kw) -> object:
    status, _, body = get(url, **kw)
    assert status == 200, (url, status, body[:300])
    return json.loads(body)


def _rows(html: str, attr: str = "data-superevent") -> list[str]:
    return re.findall(rf'{attr}="([^"]*)"', html)


# --------------------------------------------------------------------- every route
@pytest.mark.slow
def test_every_route_shows_what_the_store_holds(store, tmp_path) -> None:
    ids = fill_samples(store)
    update = ids["MS260101a-update"]
    add_actions(
        store,
        update,
        ("gcn-circular", "done", None),
        ("slack", "failed", "HTTP 500 from <script>alert('hook')</script>"),
    )
    bad = b"<script>document.title='pwned-dl'</script>\x00\xff junk"
    store.add_dead_letter(bad, "not a notice: <b>bold</b> claim", "kafka://h/igwn.gwalert", 0, 7)
    app = create_app(store, cache_dir=tmp_path / "cache", prerender=False)
    with running(app) as base:
        status, headers, body = get(base + "/")
        assert status == 200
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "default-src 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        html = _html(body)
        assert sorted(_rows(html)) == ["MS260101a", "MS260102b"]
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script in the page"

        # JSON API: the required fields, equal to what the store holds
        events = {e["superevent_id"]: e for e in _json(base + "/api/events")["events"]}
        stored = {r.id: r for r in store.iter_notices(with_raw=False)}
        for sid, e in events.items():
            for field in (
                "superevent_id",
                "latest_alert_type",
                "retracted",
                "is_mock",
                "n_notices",
                "far",
                "distmean",
                "area_90",
                "time_created",
            ):
                assert field in e
            mine = [r for r in stored.values() if r.superevent_id == sid]
            assert e["n_notices"] == len(mine)
            assert e["is_mock"] is True
            latest = max(mine, key=lambda r: (r.time_created, r.id))
            assert e["latest_alert_type"] == latest.alert_type
            assert e["time_created"] == latest.time_created
            facts = max(
                (r for r in mine if r.alert_type != "RETRACTION"),
                key=lambda r: (r.time_created, r.id),
            )
            assert e["far"] == facts.far and e["area_90"] == facts.area_90
            assert e["distmean"] == facts.distmean
        assert events["MS260101a"]["retracted"] is True
        assert events["MS260102b"]["retracted"] is False
        assert events["MS260101a"]["actions"] == {"done": 1, "failed": 1}
        assert events["MS260102b"]["distmean"] is None  # 2-D burst map

        # event page: every notice in the timeline, the map, actions with their error
        status, _, body = get(base + "/events/MS260101a")
        html = _html(body)
        assert status == 200
        assert sorted(map(int, _rows(html, "data-notice-id"))) == sorted(
            i for k, i in ids.items() if k.startswith("MS260101a")
        )
        alts = re.findall(r'<img[^>]*alt="([^"]*)"', html)
        assert alts and all(a.startswith("Sky map") for a in alts) and len(alts) == 2
        assert f'src="/maps/{update}/skymap.png"' in html
        assert f'src="/maps/{update}/combined.png"' in html
        assert "&lt;script&gt;alert(&#39;hook&#39;)&lt;/script&gt;" in html
        assert "<script>alert" not in html
        assert "Fermi" in html and "1 per 32 years" in html
        detail = _json(base + "/api/events/MS260101a")
        assert [n["alert_type"] for n in detail["notices"]] == [
            "PRELIMINARY",
            "INITIAL",
            "UPDATE",
            "RETRACTION",
        ]
        by_id = {n["id"]: n for n in detail["notices"]}
        assert [a["state"] for a in by_id[update]["actions"]] == ["done", "failed"]
        assert detail["skymap_notice_id"] == update == detail["combined_notice_id"]
        assert detail["external_coinc"]["observatory"] == "Fermi"
        assert get(base + "/events/S000000zz")[0] == 404
        assert get(base + "/api/events/S000000zz")[0] == 404

        # sky-map PNG: rendered once, then served from the cache
        t0 = time.perf_counter()
        status, headers, png = get(base + f"/maps/{update}/skymap.png")
        first = time.perf_counter() - t0
        assert status == 200 and headers["content-type"] == "image/png"
        import matplotlib.image as mpimg

        assert mpimg.imread(io.BytesIO(png)).shape[:2] == (594, 1080)
        files = list((tmp_path / "cache").glob("*.png"))
        assert len(files) == 1
        mtime = files[0].stat().st_mtime_ns
        t0 = time.perf_counter()
        assert get(base + f"/maps/{update}/skymap.png")[2] == png
        again = time.perf_counter() - t0
        assert files[0].stat().st_mtime_ns == mtime  # not drawn again
        assert again < first
        assert get(base + f"/maps/{update}/combined.png")[0] == 200
        assert get(base + f"/maps/{ids['MS260101a-retraction']}/skymap.png")[0] == 404
        assert get(base + "/maps/99999/skymap.png")[0] == 404

        # downloads
        notice = decode(bytes(store.get_notice(update).raw))[0]
        status, headers, raw = get(base + f"/notices/{update}/raw")
        assert raw == notice.raw and "attachment" in headers["content-disposition"]
        fits = get(base + f"/notices/{update}/skymap.fits")[2]
        assert fits == notice.event.skymap_bytes
        assert SkyMap.read(fits).credible_area(0.9) == pytest.approx(events["MS260101a"]["area_90"])
        moc = get(base + f"/notices/{update}/moc90.fits")[2]
        from astropy.io import fits as afits

        with afits.open(io.BytesIO(moc)) as hdul:
            uniq = np.asarray(hdul[1].data.field(0), dtype=np.int64)
        order = np.floor(np.log2(uniq / 4) / 2).astype(int)
        area = np.sum(4 * math.pi / (12 * 4.0**order)) * (180 / math.pi) ** 2
        assert area == pytest.approx(events["MS260101a"]["area_90"], rel=0.02)
        assert (
            get(base + f"/notices/{update}/combined.fits")[2]
            == notice.external_coinc.combined_skymap_bytes
        )
        summary = json.loads(get(base + f"/notices/{update}/summary.json")[2])
        assert summary["superevent_id"] == "MS260101a" and summary["notice_id"] == update
        assert get(base + f"/notices/{ids['MS260101a-retraction']}/skymap.fits")[0] == 404

        # health, dead letters, failed actions
        html = _html(get(base + "/health")[2])
        assert "not a notice: &lt;b&gt;bold&lt;/b&gt; claim" in html
        assert "slack" in html and "data-dead-letter=" in html
        dl_id = int(re.search(r'data-dead-letter="(\d+)"', html).group(1))
        html = _html(get(base + f"/dead-letters/{dl_id}")[2])
        assert "&lt;script&gt;document.title" in html and "<script>document" not in html
        assert get(base + f"/dead-letters/{dl_id}/raw")[2] == bad
        health = _json(base + "/api/health")
        assert health["counts"]["notices"] == 5 and health["counts"]["dead_letters"] == 1
        assert health["counts"]["actions"]["failed"] == 1
        feeds = {f["feed"]: f for f in health["sources"]}
        assert feeds["files"]["notices"] == 5
        assert feeds["kafka://h/igwn.gwalert"]["dead_letters"] == 1
        assert [a["rule"] for a in health["failed_actions"]] == ["slack"]

        # /metrics in Prometheus text format
        status, headers, body = get(base + "/metrics")
        assert headers["content-type"].startswith("text/plain; version=")  # prometheus_client
        values = _prometheus(body.decode())
        assert values["gwalert_store_notices"] == 5
        assert values["gwalert_store_dead_letters"] == 1
        assert values['gwalert_actions{state="failed"}'] == 1
        assert values['gwalert_actions{state="done"}'] == 1
        assert 0 <= values['gwalert_feed_last_message_age_seconds{feed="files"}'] < 600

        # read-only, static assets, unknown hosts (DNS rebinding)
        assert get(base + "/", method="POST")[0] == 405
        assert get(base + "/api/events", method="DELETE")[0] == 405
        assert get(base + "/static/app.js")[0] == 200
        assert get(base + "/static/style.css")[0] == 200
        assert get(base + "/", headers={"Host": "attacker.example"})[0] == 421
        assert get(base + "/", headers={"Host": "localhost:8080"})[0] == 200

        # the change token moves when a notice arrives
        before = _json(base + "/api/version")["version"]
        store_bytes(store, samples.encode(samples.make_record("S260105c")))
        assert _json(base + "/api/version")["version"] != before


_SAMPLE_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.e+-]+|NaN)$")


def _prometheus(text: str) -> dict[str, float]:
    """Parse the exposition format strictly: HELP/TYPE comments and ``name{labels} value``."""
    values: dict[str, float] = {}
    typed = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("# HELP "):
            continue
        m = _SAMPLE_LINE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        assert m.group(1).split("{")[0] in typed
        values[m.group(1)] = float(m.group(2))
    assert text.endswith("\n")
    return values


# ------------------------------------------------------------------------ escaping
def _active_markup(html: str) -> list[str]:
    """Elements as a browser parses them that could run script: event-handler attributes,
    inline scripts, script: URLs, and any img/svg/b that the templates do not write."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list) -> None:
            names = dict(attrs)
            found.extend(f"{tag} {k}" for k in names if k.startswith("on"))
            if tag == "script" and "src" not in names:
                found.append("inline script")
            found.extend(
                f"{tag} {k}={v}"
                for k, v in names.items()
                if v and v.strip().lower().startswith(("javascript:", "data:"))
            )
            if tag == "img" and not str(names.get("src", "")).startswith("/maps/"):
                found.append(f"img {names}")
            if tag == "b":
                found.append("b")

    Parser().feed(html)
    return found


@pytest.mark.slow
def test_hostile_notice_text_is_escaped_everywhere(sqlite_store, tmp_path) -> None:
    [nid] = store_bytes(sqlite_store, hostile_notice())
    app = create_app(sqlite_store, cache_dir=tmp_path / "c", prerender=False)
    with running(app) as base:
        for path in ("/", "/events/MS260103x", "/fragments/events?q=%3Cscript", "/health"):
            html = _html(get(base + path)[2])
            for payload in XSS.values():
                assert payload not in html, (path, payload)
            assert "javascript:" not in html
            assert _active_markup(html) == [], path
        html = _html(get(base + "/events/MS260103x")[2])
        assert "&lt;script&gt;document.title=&#39;pwned-1&#39;&lt;/script&gt;" in html
        assert "&lt;img src=y onerror=" in html  # the class name, as text
        assert 'href="https://example.org/' not in html  # a quote inside: not a safe link
        data = _json(base + "/api/events/MS260103x")
        assert data["pipeline"] == XSS["pipeline"]  # JSON keeps the text as it came
        assert get(base + f"/maps/{nid}/skymap.png")[0] == 200


# ------------------------------------------------------------------------- filters
_KINDS = {"real": "S", "mock": "M", "test": "T"}


@st.composite
def _superevents(draw):
    n = draw(st.integers(1, 8))
    out = []
    for i in range(n):
        prefix = draw(st.sampled_from("SMT"))
        out.append(
            {
                "sid": f"{prefix}2601{i:02d}{'abcdefgh'[i]}",
                "group": draw(st.sampled_from(["CBC", "Burst"])),
                "pipeline": draw(st.sampled_from(["gstlal", "pycbc", "MBTA", "CWB", "olib_%x"])),
                "significant": draw(st.booleans()),
                "retracted": draw(st.booleans()),
                "day": draw(st.integers(1, 28)),
            }
        )
    return out


def _reference(events: list[dict], f: queries.Filters) -> list[str]:
    keep = []
    for e in events:
        if f.kind and not e["sid"].startswith(_KINDS[f.kind]):
            continue
        if f.significant and e["significant"] != (f.significant == "yes"):
            continue
        if f.retracted and e["retracted"] != (f.retracted == "yes"):
            continue
        if f.group and e["group"] != f.group:
            continue
        if f.q:
            hay = [
                e["sid"],
                "RETRACTION" if e["retracted"] else "PRELIMINARY",
                e["group"],
                e["pipeline"],
                "AllSky",
            ]
            if not any(f.q.lower() in h.lower() for h in hay):
                continue
        keep.append(e)
    keep.sort(key=lambda e: (e["day"], e["sid"]), reverse=True)
    return [e["sid"] for e in keep]


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    events=_superevents(),
    kind=st.sampled_from(["", "real", "mock", "test"]),
    significant=st.sampled_from(["", "yes", "no"]),
    retracted=st.sampled_from(["", "yes", "no"]),
    group=st.sampled_from(["", "CBC", "Burst"]),
    q=st.sampled_from(["", "260", "ABC", "stl", "%", "_", "retr", "burst", "x%"]),
)
@pytest.mark.slow
def test_filters_match_a_reference(
    tmp_path_factory, events, kind, significant, retracted, group, q
) -> None:
    store = Store.open(str(tmp_path_factory.mktemp("f") / "s.sqlite"))
    try:
        for e in events:
            rec = samples.make_record(
                e["sid"],
                group=e["group"],
                pipeline=e["pipeline"],
                significant=e["significant"],
                time_created=f"2026-02-{e['day']:02d}T00:10:00Z",
            )
            rec["event"]["time"] = f"2026-02-{e['day']:02d}T00:00:00.000Z"
            store_bytes(store, samples.encode(rec))
            if e["retracted"]:
                store_bytes(
                    store,
                    samples.encode(
                        samples.make_record(
                            e["sid"], "RETRACTION", time_created=f"2026-02-{e['day']:02d}T00:20:00Z"
                        )
                    ),
                )
        f = queries.Filters(kind, significant, retracted, group, q)
        opt = queries.StoreView(store.engine).refresh(force=True)
        with store.engine.connect() as conn:
            got, total = queries.list_events(conn, opt, f)
        assert [e["superevent_id"] for e in got] == _reference(events, f)
        assert total == len(got)
    finally:
        store.close()


def test_filters_over_http_and_limit(sqlite_store, tmp_path) -> None:
    for i in range(5):
        store_bytes(
            sqlite_store,
            samples.encode(
                samples.make_record(f"S26010{i}a", time_created=f"2026-01-0{i + 1}T00:10:00Z")
            ),
        )
    store_bytes(sqlite_store, samples.encode(samples.make_record("MS260101q", group="Burst")))
    app = create_app(sqlite_store, cache_dir=tmp_path / "c", prerender=False)
    with running(app) as base:
        got = _json(base + "/api/events?kind=mock")
        assert [e["superevent_id"] for e in got["events"]] == ["MS260101q"]
        got = _json(base + "/api/events?kind=real&limit=2")
        assert got["total"] == 5 and len(got["events"]) == 2
        html = _html(get(base + "/?group=Burst")[2])
        assert _rows(html) == ["MS260101q"]
        assert 'value="Burst" selected' in html  # the form keeps the filter
        html = _html(get(base + "/fragments/events?q=" + urllib.parse.quote("s26010"))[2])
        assert len(_rows(html)) == 6 and "<html" not in html  # MS260101q contains it too
        html = _html(get(base + "/fragments/events?kind=real&q=0104")[2])
        assert _rows(html) == ["S260104a"]
        assert _json(base + "/api/events?kind=bogus&limit=x")["total"] == 6


# -------------------------------------------------------------------------- tokens
def test_token_guards_every_request(sqlite_store, tmp_path) -> None:
    fill_samples(sqlite_store)
    app = create_app(
        sqlite_store,
        cache_dir=tmp_path / "c",
        token="s3cret-token",
        loopback_only=False,
        prerender=False,
    )
    with running(app) as base:
        for path in (
            "/",
            "/api/events",
            "/metrics",
            "/static/app.js",
            "/health",
            "/notices/1/raw",
            "/maps/1/skymap.png",
        ):
            status, headers, body = get(base + path)
            assert status == 401, path
            assert b"MS2601" not in body
            assert get(base + path, headers={"Authorization": "Bearer wrong"})[0] == 401
            assert get(base + path, headers={"Cookie": "gwalert_token=s3cret-token"})[0] == 401
        ok = get(base + "/api/events", headers={"Authorization": "Bearer s3cret-token"})
        assert ok[0] == 200 and json.loads(ok[2])["total"] == 2
        status, headers, _ = get(base + "/events/MS260101a?token=s3cret-token&x=1")
        assert status == 303 and headers["location"] == "/events/MS260101a?x=1"
        cookie = headers["set-cookie"].split(";")[0]
        assert "s3cret-token" not in cookie and "HttpOnly" in headers["set-cookie"]
        assert get(base + "/events/MS260101a", headers={"Cookie": cookie})[0] == 200
        assert get(base + "/?token=nope")[0] == 401
        # any Host is fine with a token (the token is the guard)
        assert (
            get(
                base + "/",
                headers={"Host": "dash.example.org", "Authorization": "Bearer s3cret-token"},
            )[0]
            == 200
        )


# ----------------------------------------------------------------------------- CLI
def _gwalert(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gwalert", *args], capture_output=True, text=True, timeout=60, **kw
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1"])
def test_serve_refuses_a_public_bind_without_token(tmp_path, host) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GWALERT_TOKEN"}
    done = _gwalert("serve", "--host", host, "--store", str(tmp_path / "s.sqlite"), env=env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"gwalert: --host {host}: ")
    assert "token" in lines[0]


@pytest.mark.slow
def test_serve_cli_serves_and_stops(tmp_path) -> None:
    store = Store.open(str(tmp_path / "s.sqlite"))
    fill_samples(store)
    store.close()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gwalert",
            "serve",
            "--port",
            "0",
            "--store",
            str(tmp_path / "s.sqlite"),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stderr.readline()
        m = re.search(r"on (http://127\.0\.0\.1:\d+/) \(no token", line)
        assert m, line
        base = m.group(1).rstrip("/")
        assert _json(base + "/api/events")["total"] == 2
        # a port already taken: one clear line, exit 1
        port = base.rsplit(":", 1)[1]
        busy = _gwalert("serve", "--port", port, "--store", str(tmp_path / "s.sqlite"))
        assert busy.returncode == 1
        assert busy.stderr.strip().startswith(f"gwalert: 127.0.0.1:{port}: ")
        assert len(busy.stderr.strip().splitlines()) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(120) == 0


# ---------------------------------------------------------------------- formatting
_UNIT = {"year": 365.25 * 86400, "day": 86400, "hour": 3600, "minute": 60, "second": 1}


def test_far_in_human_units_examples() -> None:
    year = 365.25 * 86400
    assert fmt.far_human(1 / (12 * year)) == "1 per 12 years"
    assert fmt.far_human(1 / year) == "1 per 1 year"
    assert fmt.far_human(1 / 86400 / 2) == "1 per 2 days"
    assert fmt.far_human(None) == "—" and fmt.far_human(float("nan")) == "—"
    assert fmt.far_human(0.0).startswith("0")


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=1e-30, max_value=1e3, allow_nan=False))
def test_far_in_human_units_reads_back(far) -> None:
    text = fmt.far_human(far)
    m = re.fullmatch(
        r"1 per ([0-9.,]+)(?: × 10([⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+))? (year|day|hour|minute|second)s?", text
    )
    if m is None:
        assert re.fullmatch(r"[0-9.e+-]+ per second", text.replace(",", "")), text
        assert far > 1
        return
    count = float(m.group(1).replace(",", ""))
    if m.group(2):
        count *= 10 ** int(m.group(2).translate(str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")))
    unit = m.group(3)
    assert count * _UNIT[unit] == pytest.approx(1 / far, rel=0.051)
    assert 1 / far >= _UNIT[unit] * 0.95  # never "1 per 0.5 days"
    bigger = [u for u, s in _UNIT.items() if s > _UNIT[unit]]
    assert all(1 / far < _UNIT[u] for u in bigger)  # the largest unit that fits


# ------------------------------------------------------- tables newer listeners write
def test_optional_feed_arrival_and_warning_tables_are_shown(store, tmp_path) -> None:
    """gwalert_feeds, gwalert_arrivals and the warnings column are read when present (the
    other tests run without them)."""
    import sqlalchemy as sa

    ids = fill_samples(store)
    nid = ids["MS260101a-update"]
    hour_ago = "2026-01-01T00:00:00.000000Z"
    with store.engine.begin() as conn:
        if "warnings" not in {
            c["name"] for c in sa.inspect(conn).get_columns("gwalert_notices")
        }:  # the store has it since issue 8 point 6
            conn.execute(sa.text("ALTER TABLE gwalert_notices ADD COLUMN warnings TEXT"))
        conn.execute(
            sa.text("UPDATE gwalert_notices SET warnings = :w WHERE id = :i"),
            {"w": json.dumps(["probabilities sum to 0.98 <b>x</b>"]), "i": nid},
        )
        meta = sa.MetaData()
        feeds = sa.Table(
            "gwalert_feeds",
            meta,
            sa.Column("feed", sa.Text, primary_key=True),
            *(
                sa.Column(c, sa.String(40))
                for c in ("last_message_at", "last_heartbeat_at", "state", "detail", "updated_at")
            ),
        )
        arrivals = sa.Table(
            "gwalert_arrivals",
            meta,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("notice_id", sa.Integer),
            sa.Column("feed", sa.Text),
            sa.Column("partition", sa.Integer),
            sa.Column("offset", sa.BigInteger),
            sa.Column("received_at", sa.String(40)),
            sa.Column("broker_timestamp", sa.Float),
            sa.Column("is_first", sa.Boolean),
        )
        meta.create_all(conn)
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        conn.execute(
            feeds.insert(),
            [
                {
                    "feed": "kafka://kafka.scimma.org/igwn.gwalert",
                    "last_message_at": hour_ago,
                    "last_heartbeat_at": hour_ago,
                    "state": "silent",
                    "detail": "no heartbeat for 3 h",
                    "updated_at": hour_ago,
                },
                {
                    "feed": "gcn://igwn.gwalert",
                    "last_message_at": hour_ago,
                    "last_heartbeat_at": now,
                    "state": "ok",
                    "detail": None,
                    "updated_at": now,
                },
            ],
        )
        conn.execute(
            arrivals.insert(),
            [
                {
                    "notice_id": nid,
                    "feed": feed,
                    "partition": 0,
                    "offset": k,
                    "received_at": hour_ago,
                    "broker_timestamp": 1.0,
                    "is_first": first,
                }
                for k, (feed, first) in enumerate(
                    [
                        ("kafka://kafka.scimma.org/igwn.gwalert", True),
                        ("gcn://igwn.gwalert", False),
                        ("gcn://igwn.gwalert", False),
                    ]
                )
            ],
        )
    app = create_app(store, cache_dir=tmp_path / "c", prerender=False)
    with running(app) as base:
        detail = _json(base + "/api/events/MS260101a")
        by_id = {n["id"]: n for n in detail["notices"]}
        assert by_id[nid]["feeds"] == [
            "kafka://kafka.scimma.org/igwn.gwalert",
            "gcn://igwn.gwalert",
        ]
        assert by_id[nid]["warnings"] == ["probabilities sum to 0.98 <b>x</b>"]
        html = _html(get(base + "/events/MS260101a")[2])
        assert "probabilities sum to 0.98 &lt;b&gt;x&lt;/b&gt;" in html
        assert "gcn://igwn.gwalert" in html
        feeds = {f["feed"]: f for f in _json(base + "/api/health")["sources"]}
        scimma = feeds["kafka://kafka.scimma.org/igwn.gwalert"]
        assert scimma["state"] == "silent" and "no heartbeat for 3 h" in scimma["warning"]
        assert feeds["gcn://igwn.gwalert"]["warning"] is None
        assert feeds["gcn://igwn.gwalert"]["seconds_since_last_heartbeat"] < 600
        assert feeds["files"]["notices"] == 5
        values = _prometheus(get(base + "/metrics")[2].decode())
        assert values["gwalert_store_duplicates"] == 2
        assert values['gwalert_feed_last_heartbeat_age_seconds{feed="gcn://igwn.gwalert"}'] < 600
        html = _html(get(base + "/health")[2])
        assert "no heartbeat for 3 h" in html and 'class="warnrow"' in html


# ------------------------------------------------------------------- hostile numbers
_ODD = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, -1.0, 1e-300, 1e300, float("nan"), float("inf")]),
)
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    far=_ODD,
    tdiff=_ODD,
    cls=st.dictionaries(_TEXT, _ODD, max_size=4),
    props=st.dictionaries(_TEXT, _ODD, max_size=3),
    pipeline=_TEXT,
    search=_TEXT,
    observatory=_TEXT,
)
@pytest.mark.slow
def test_any_decodable_notice_renders_everywhere(
    tmp_path_factory, far, tdiff, cls, props, pipeline, search, observatory
) -> None:
    """Whatever numbers and text a notice that decodes carries, every page and API answers
    200 with valid JSON (no NaN) and shows the text escaped."""
    from gwalert.errors import GwalertError

    ext = {
        "gcn_notice_id": "1",
        "ivorn": "ivo://x#" + observatory,
        "observatory": observatory,
        "search": search,
        "time_difference": tdiff,
        "time_coincidence_far": far,
        "time_sky_position_coincidence_far": None,
        "combined_skymap": None,
    }
    record = samples.make_record(
        "S260107q",
        far=far,
        pipeline=pipeline or "p",
        search=search,
        classification=cls,
        properties=props,
        external_coinc=ext,
    )
    try:
        data = samples.encode(record, "json")
        decode(data)
    except (GwalertError, ValueError, TypeError, OverflowError):
        return  # not a notice: it would be a dead letter
    root = tmp_path_factory.mktemp("odd")
    store = Store.open(str(root / "s.sqlite"))
    try:
        [nid] = store_bytes(store, data)
        app = create_app(store, cache_dir=root / "c", prerender=False)
        with running(app) as base:
            for path in (
                "/",
                "/events/S260107q",
                "/health",
                "/metrics",
                f"/notices/{nid}/summary.json",
            ):
                status, _, body = get(base + path)
                assert status == 200, (path, body[:200])
                if path != f"/notices/{nid}/summary.json":
                    assert _active_markup(body.decode()) == []
            for path in (
                "/api/events",
                "/api/events/S260107q",
                "/api/health",
                f"/notices/{nid}/summary.json",
            ):
                json.loads(get(base + path)[2], parse_constant=_no_constants)
    finally:
        store.close()


def _no_constants(name: str) -> None:
    raise AssertionError(f"{name} in JSON")
