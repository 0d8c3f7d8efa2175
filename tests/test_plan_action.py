"""The ``plan`` action (files in the notice's directory, JSON posted to a real HTTP server on
loopback) and re-planning: ``gwalert plan SUPEREVENT`` stores each plan and shows what changed
against the previous one for the same telescope."""

from __future__ import annotations

import json

import pytest
from servers import http_server

from gwalert import samples
from gwalert.actions import ActionContext, get_action_type
from gwalert.actions.base import ActionError
from gwalert.alerts import decode
from gwalert.cli import main
from gwalert.options import OptionError


def make_notice(sid="S260101x", alert_type="PRELIMINARY", sigma=None):
    kw = {} if sigma is None else {"sigma": sigma}
    sky = samples.gaussian_skymap(max_level=5, **kw)
    rec = samples.make_record(sid, alert_type, skymap=sky)
    return decode(samples.encode(rec, "avro"))[0]


def context(notice) -> ActionContext:
    return ActionContext.for_notice(
        notice, action_id="9/r/p", attempt=1, rule="r", action="p", timeout=60.0
    )


def test_plan_action_writes_files_and_posts_json(tmp_path):
    kind = get_action_type("plan")
    notice = make_notice()
    with http_server() as server:
        opts = kind.validate(
            {"telescope": "ztf", "tiles": 8, "tiles_only": True, "dir": str(tmp_path),
             "url": server.url + "/queue"},
            base=tmp_path,
        )  # fmt: skip
        kind.run(context(notice), opts)
    (req,) = server.requests
    assert req.path == "/queue" and req.headers["Idempotency-Key"] == "9/r/p"
    posted = req.json()
    assert posted["superevent_id"] == "S260101x" and posted["telescope"] == "ZTF"
    assert 1 <= len(posted["tiles"]) <= 8
    cum = [t["cumulative"] for t in posted["tiles"]]
    assert cum == sorted(cum) and cum[-1] > 0
    files = {p.name for p in tmp_path.rglob("plan-*")}
    assert files == {"plan-ZTF.json", "plan-ZTF.csv", "plan-ZTF.png"}
    written = json.loads(next(tmp_path.rglob("plan-ZTF.json")).read_text())
    assert written["tiles"] == posted["tiles"]


@pytest.mark.parametrize(
    "opts, key",
    [
        ({}, "telescope"),
        ({"telescope": "ztff"}, "telescope"),
        ({"fov": "0"}, "fov"),
        ({"fov": "3", "tiles": 0}, "tiles"),
        ({"fov": "3", "method": "best"}, "method"),
        ({"fov": "3", "write": False}, "write"),
        ({"fov": "3", "url": "ftp://x"}, "url"),
        ({"fov": "3", "colour": "red"}, "colour"),
    ],
)
def test_plan_action_options(tmp_path, opts, key):
    with pytest.raises(OptionError) as err:
        get_action_type("plan").validate(opts, base=tmp_path)
    assert key in str(err.value)


def test_replanning_shows_changes_and_stores_plans(tmp_path, capsys):
    from gwalert.plan import store as plans
    from gwalert.store import Store

    url = str(tmp_path / "store.sqlite")
    st = Store.open(url)
    try:
        st.add(make_notice("S260102a", "PRELIMINARY"), source="t")
        argv = ["plan", "S260102a", "--store", url, "--fov", "5", "--tiles", "6"]
        assert main(argv) == 0
        first = capsys.readouterr().out
        assert "changes since" not in first
        st.add(make_notice("S260102a", "INITIAL", sigma=8.0), source="t")
        assert main([*argv, "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        changes = report["changes"]
        assert changes["kept"] + len(changes["added"]) == len(report["tiles"])
        stored = plans.for_event(st.engine, "S260102a")
        assert [p.telescope for p in stored] == ["square 5°", "square 5°"]
        assert stored[0].plan["tiles"] == report["tiles"]
        assert main([*argv, "--no-store"]) == 0
        assert "changes since the previous plan" in capsys.readouterr().out
        assert len(plans.for_event(st.engine, "S260102a")) == 2
    finally:
        st.close()


def test_dashboard_event_page_shows_stored_plans(tmp_path, capsys):
    from web_server import get, running

    from gwalert.store import Store
    from gwalert.web import create_app

    url = str(tmp_path / "store.sqlite")
    st = Store.open(url)
    try:
        st.add(make_notice("S260103c", "PRELIMINARY"), source="t")
        png = tmp_path / "plan.png"
        argv = [
            "plan",
            "S260103c",
            "--store",
            url,
            "--fov",
            "4",
            "--tiles",
            "5",
            "--plot",
            str(png),
        ]
        assert main(argv) == 0
        capsys.readouterr()
        app = create_app(st, cache_dir=tmp_path / "cache", prerender=False)
        with running(app) as base:
            status, _, body = get(base + "/events/S260103c")
            assert status == 200
            html = body.decode()
            assert "Observation plans" in html and "square 4°" in html
            plan_id = int(html.split('data-plan-id="')[1].split('"')[0])
            assert html.count('<tr><td class="num">') >= 5
            status, headers, data = get(base + f"/plans/{plan_id}.png")
            assert status == 200 and data == png.read_bytes()
            assert headers["content-type"] == "image/png"
            status, _, _ = get(base + f"/plans/{plan_id + 99}.png")
            assert status == 404
    finally:
        st.close()


def test_a_rule_turns_a_notice_into_a_plan_file_and_a_post(tmp_path, capsys):
    """End to end through the rules, the ledger and the responder (``gwalert replay``): the
    notice's directory gets the plan and the queue gets its JSON, once."""
    notice_file = tmp_path / "n.avro"
    rec = samples.make_record(
        "S260104d", "PRELIMINARY", skymap=samples.gaussian_skymap(max_level=5)
    )
    notice_file.write_bytes(samples.encode(rec, "avro"))
    with http_server() as server:
        cfg = tmp_path / "gwalert.toml"
        cfg.write_text(
            '[[rule]]\nname = "plan-all"\n\n[[rule.action]]\ntype = "plan"\n'
            f'telescope = "DECam"\ntiles = 10\ntiles_only = true\ndir = "plans"\n'
            f'url = "{server.url}/queue"\n'
        )
        store = str(tmp_path / "store.sqlite")
        argv = ["replay", str(notice_file), "--store", store, "--config", str(cfg)]
        code = main([*argv, "--ignore-age", "--no-progress"])
        out, err = capsys.readouterr()
        assert code == 0, err + out
        (req,) = server.requests
        assert req.json()["telescope"] == "DECam" and len(req.json()["tiles"]) == 10
        # a second replay never runs the action again
        assert main([*argv, "--ignore-age", "--no-progress"]) == 0
        capsys.readouterr()
        assert len(server.requests) == 1
    files = sorted(p.name for p in (tmp_path / "plans").rglob("plan-*"))
    assert files == ["plan-DECam.csv", "plan-DECam.json", "plan-DECam.png"]
    # the rule's plan is kept in the store, once, and the dashboard's event page shows it
    from web_server import get, running

    from gwalert.plan import store as plans
    from gwalert.store import Store
    from gwalert.web import create_app

    st = Store.open(store)
    try:
        (kept,) = plans.for_event(st.engine, "S260104d")
        assert kept.telescope == "DECam" and kept.has_picture and len(kept.plan["tiles"]) == 10
        png = next((tmp_path / "plans").rglob("plan-DECam.png")).read_bytes()
        app = create_app(st, cache_dir=tmp_path / "cache", prerender=False)
        with running(app) as base:
            status, _, body = get(base + "/events/S260104d")
            assert status == 200 and "Observation plans" in body.decode()
            assert f'data-plan-id="{kept.id}"' in body.decode()
            status, _, data = get(base + f"/plans/{kept.id}.png")
            assert status == 200 and data == png
    finally:
        st.close()


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_plan_post_never_follows_a_redirect(tmp_path, code):
    """A queue that answers with a redirect (to another server here) gets no second POST:
    the action fails (and is retried) as the webhook action does."""
    kind = get_action_type("plan")
    notice = make_notice()
    with http_server() as queue, http_server() as elsewhere:
        queue.statuses.append((code, elsewhere.url + "/stolen"))
        opts = kind.validate(
            {"fov": "4", "tiles": 3, "write": False, "url": queue.url + "/queue"}, base=tmp_path
        )
        with pytest.raises(ActionError, match=f"HTTP {code}"):
            kind.run(context(notice), opts)
        assert len(queue.requests) == 1 and elsewhere.requests == []
