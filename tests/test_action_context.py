"""Actions read the notice's Summary from the store: webhooks, commands (and e-mail) never
decode the stored notice nor recompute a sky-map fact; a Python action still gets the decoded
Notice, decoded once, when it asks. Real stores (SQLite, PostgreSQL), a real HTTP server, a
real program."""

from __future__ import annotations

import hashlib
import json
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from servers import http_server
from waiting import GENEROUS

import gwalert.alerts
import gwalert.alerts.codec
import gwalert.errors
import gwalert.summary
from gwalert import samples
from gwalert.alerts import decode, embedded_skymap
from gwalert.responder import Responder
from gwalert.rules import parse_config
from gwalert.store import Store, ledger
from gwalert.summary import Summary, summarize

#: A 90% area no sky map of these tests has: an action that sees it read the stored summary.
SENTINEL_AREA = 4242.4242


class Calls:
    """Observes calls of the real decoder and sky-map analysis (they still run)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.names: list[str] = []

    def wrap(self, name: str, func):
        def observed(*args, **kwargs):
            with self.lock:
                self.names.append(name)
            return func(*args, **kwargs)

        return observed

    def count(self, name: str) -> int:
        with self.lock:
            return self.names.count(name)


@pytest.fixture
def observe(monkeypatch):
    """Count every decode and every sky-map analysis from now on (the analysis in this
    process, not in the time-budget worker, so the counting wrappers see it)."""
    monkeypatch.setenv("GWALERT_ANALYSIS_TIMEOUT", "0")
    calls = Calls()
    for module in (gwalert.alerts, gwalert.alerts.codec):
        monkeypatch.setattr(module, "decode", calls.wrap("decode", module.decode))
    for name in ("summarize", "skymap_facts", "safe_summary"):
        monkeypatch.setattr(gwalert.summary, name, calls.wrap(name, getattr(gwalert.summary, name)))
    return calls


def _notice(sid: str, fmt: str):
    rec = samples.make_record(
        sid,
        "PRELIMINARY",
        time_created=_recent(),
        skymap=samples.gaussian_skymap(30.0, 20.0, 4.0, max_level=4),
    )
    return decode(samples.encode(rec, fmt))[0]


def _recent() -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _config(text: str, base: Path):
    import tomllib

    return parse_config(tomllib.loads(text), base=base)


def _stored(store: Store, notice_id: int) -> Summary:
    row = store.get_notice(notice_id)
    assert row is not None
    return Summary.from_json(row.summary)


def _probe(tmp_path: Path) -> Path:
    script = tmp_path / "probe.py"
    script.write_text(
        textwrap.dedent("""
        import hashlib, json, os, sys
        out = sys.argv[1]
        data = json.load(sys.stdin)
        files = {}
        for key in ("GWALERT_NOTICE_FILE", "GWALERT_SKYMAP_FILE"):
            path = os.environ.get(key)
            files[key] = hashlib.sha256(open(path, "rb").read()).hexdigest() if path else None
        aid = os.environ["GWALERT_ACTION_ID"].replace("/", "_")
        with open(os.path.join(out, aid + ".json"), "w") as f:
            json.dump({"stdin": data, "files": files,
                       "area_90": os.environ.get("GWALERT_AREA_90")}, f)
    """)
    )
    return script


@pytest.mark.parametrize("fmt", ["avro", "json", "avro-datum"])
def test_webhook_and_command_read_the_stored_summary_and_never_decode(
    store, tmp_path, observe, fmt
):
    notice = _notice("S260301a", fmt)
    out = tmp_path / "out"
    out.mkdir()
    probe = _probe(tmp_path)
    with http_server() as hook:
        config = _config(
            textwrap.dedent(f"""
            [responder]
            backoff = 0.1
            backoff_max = 0.5

            [[rule]]
            name = "all"

            [[rule.action]]
            type = "webhook"
            url = "{hook.url}/hook"

            [[rule.action]]
            type = "command"
            argv = [{json.dumps(sys.executable)}, {json.dumps(str(probe))},
                    {json.dumps(str(out))}]
            """),
            tmp_path,
        )
        responder = Responder(store, config, poll_interval=0.05)
        # what the pipeline computed once, with a 90% area no recomputation would give
        summary = summarize(notice).replace(area_90=SENTINEL_AREA)
        before = list(observe.names)
        nid, new = store.add(notice, source="test", summary=summary, hooks=[responder.schedule])
        assert new
        responder.start()
        try:
            assert responder.wait_idle(GENEROUS)
        finally:
            responder.stop()
        with store.engine.connect() as conn:
            states = {(r["rule"], r["action"]): r["state"] for r in ledger.iter_rows(conn)}
        assert set(states.values()) == {"done"}, states
        # the runner decoded nothing and analysed nothing (storing is before `before`)
        assert observe.names == before
        stored = _stored(store, nid)
        assert stored.area_90 == SENTINEL_AREA
        extras = {"rule", "action", "action_id", "attempt"}

        (request,) = hook.requests
        body = request.json()
        assert Summary.from_json(body) == stored
        assert set(body) - set(stored) == extras
        assert body["area_90"] == SENTINEL_AREA

        (record,) = [json.loads(p.read_text()) for p in out.glob("*.json")]
        assert Summary.from_json(record["stdin"]) == stored
        assert float(record["area_90"]) == SENTINEL_AREA
        assert record["files"]["GWALERT_NOTICE_FILE"] == hashlib.sha256(notice.raw).hexdigest()
        assert notice.event is not None and notice.event.skymap_bytes
        assert (
            record["files"]["GWALERT_SKYMAP_FILE"]
            == hashlib.sha256(notice.event.skymap_bytes).hexdigest()
        )


def test_python_action_gets_the_decoded_notice_and_the_stored_summary(store, tmp_path, observe):
    notice = _notice("S260301b", "avro")
    seen: list = []

    def handler(n, context):
        seen.append((n, context.summary, context.facts))

    config = parse_config(
        {
            "responder": {"backoff": 0.1, "backoff_max": 0.5},
            "rule": [{"name": "py", "action": [{"type": "python", "callable": handler}]}],
        },
        base=tmp_path,
    )
    responder = Responder(store, config, poll_interval=0.05)
    summary = summarize(notice).replace(area_90=SENTINEL_AREA)
    nid, _ = store.add(notice, source="test", summary=summary, hooks=[responder.schedule])
    before = observe.count("decode")
    analysed = observe.count("summarize") + observe.count("skymap_facts")
    responder.start()
    try:
        assert responder.wait_idle(GENEROUS)
    finally:
        responder.stop()
    ((got, got_summary, facts),) = seen
    assert observe.count("decode") == before + 1  # decoded once, for the Python action
    assert observe.count("summarize") + observe.count("skymap_facts") == analysed
    assert isinstance(got, gwalert.alerts.Notice)
    assert got.content_hash == notice.content_hash and got.raw == notice.raw
    assert got_summary == _stored(store, nid) and got_summary.area_90 == SENTINEL_AREA
    assert facts["rule"] == "py" and facts["action_id"] == f"{nid}/py/python"


# ------------------------------------------------- the sky-map bytes without a decode
@settings(max_examples=30, deadline=None)
@given(
    fmt=st.sampled_from(["avro", "json", "avro-datum"]),
    with_map=st.booleans(),
    sid=st.from_regex(r"\A[MST]2[0-9]{5}[a-z]{1,3}\Z"),
    alert_type=st.sampled_from(["PRELIMINARY", "INITIAL", "UPDATE", "RETRACTION"]),
    ext=st.sampled_from([None, "no map", "map"]),
)
def test_embedded_skymap_is_what_decode_finds(fmt, with_map, sid, alert_type, ext):
    """Differential against the decoder: the bytes a command hands on (or the dashboard
    serves) are the notice's map, and the external coincidence's combined map."""
    skymap = _MAP if with_map and alert_type != "RETRACTION" else None
    coinc = None
    if ext is not None and alert_type != "RETRACTION":
        coinc = samples.make_external_coinc(_MAP2 if ext == "map" else None)
    rec = samples.make_record(sid, alert_type, skymap=skymap, external_coinc=coinc)
    raw = samples.encode(rec, fmt)
    (notice,) = decode(raw)
    expected = notice.event.skymap_bytes if notice.event else None
    assert embedded_skymap(raw, notice.content_hash) == (expected or None)
    assert embedded_skymap(raw) == (expected or None)
    combined = notice.external_coinc.combined_skymap_bytes if notice.external_coinc else None
    assert embedded_skymap(raw, notice.content_hash, combined=True) == (combined or None)


def test_embedded_skymap_picks_the_notice_of_a_container_by_hash():
    import io

    import fastavro

    from gwalert.alerts.schema import parsed_official_schema

    records = [
        samples.make_record("S260301c", "PRELIMINARY", skymap=_MAP),
        samples.make_record("S260301d", "PRELIMINARY", skymap=_MAP2),
    ]
    buf = io.BytesIO()
    fastavro.writer(buf, parsed_official_schema(), records)
    raw = buf.getvalue()
    notices = decode(raw)
    assert len(notices) == 2
    for n in notices:
        assert n.event is not None
        assert embedded_skymap(raw, n.content_hash) == n.event.skymap_bytes
    with pytest.raises(gwalert.errors.NoticeError):
        embedded_skymap(raw)  # two notices: which one is not said
    with pytest.raises(gwalert.errors.NoticeError):
        embedded_skymap(raw, "0" * 64)


_MAP = samples.gaussian_skymap(10.0, -5.0, 3.0, max_level=3)
_MAP2 = samples.gaussian_skymap(100.0, 40.0, 6.0, max_level=3)


def test_rules_read_the_stored_area_and_distance_never_recompute(tmp_path):
    """A rule on a stored notice judges the summary's numbers (the ones actions and the
    dashboard show), not a fresh analysis of the map; without a summary it computes them."""
    notice = _notice("S260301e", "avro")
    computed = summarize(notice)
    assert computed.area_90 is not None and computed.area_90 < 1000
    assert computed.distmean is not None
    config = parse_config(
        {
            "rule": [
                {
                    "name": "small",
                    "area_90_max": 1000,
                    "distance_max": 1e6,
                    "action": [{"type": "python", "callable": print}],
                }
            ]
        },
        base=tmp_path,
    )
    (rule,) = config.rules
    assert rule.match(notice).matched  # no summary: computed from the map
    assert rule.match(notice, computed).matched
    stored = computed.replace(area_90=SENTINEL_AREA)
    verdict = rule.match(notice, stored)
    assert not verdict.matched and f"{SENTINEL_AREA:.4g}" in (verdict.reason or "")
    # the stored analysis failed: the rule computes the number (or fails, to be retried)
    lost = computed.replace(area_90=None, skymap_error="credible areas could not be computed")
    assert rule.match(notice, lost).matched
    # the analysis found no number (and did not fail): None, not recomputed
    assert rule.match(notice, computed.replace(area_90=None)).reason == "no 90% area"
    far = computed.replace(distmean=2e6)
    assert not rule.match(notice, far).matched
