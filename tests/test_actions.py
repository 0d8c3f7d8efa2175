"""Each action type against real things: processes, an HTTP server and an SMTP server (STARTTLS,
AUTH) on loopback, files, Python callables and an entry-point plugin."""

from __future__ import annotations

import email
import email.policy
import email.utils
import json
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest
from servers import http_server, smtp_server
from waiting import GENEROUS, wait_until

from gwalert import samples
from gwalert.actions import ActionContext, ActionError, get_action_type
from gwalert.actions.base import collect_secrets
from gwalert.alerts import decode
from gwalert.rules import ConfigError, parse_config
from gwalert.summary import summarize

CALLS: list = []


@pytest.fixture(scope="module")
def notice():
    rec = samples.make_record(
        "S260101x", "PRELIMINARY", skymap=samples.gaussian_skymap(max_level=5)
    )
    return decode(samples.encode(rec, "avro"))[0]


def context(notice, *, timeout: float = 10.0, secrets: tuple[str, ...] = ()) -> ActionContext:
    summary = summarize(notice).replace(area_50=10.0, area_90=42.0)
    return ActionContext.for_notice(
        notice,
        summary,
        action_id="7/bns/a",
        attempt=1,
        rule="bns",
        action="a",
        timeout=timeout,
        secrets=secrets,
    )


def options(kind: str, base: Path = Path("."), **opts):
    return get_action_type(kind).validate(opts, base=base, resolve=True)


def run(kind: str, ctx: ActionContext, opts: dict) -> None:
    get_action_type(kind).run(ctx, opts)


# ---------------------------------------------------------------------------- command
def test_command_gets_summary_on_stdin_and_env(tmp_path, notice):
    script = tmp_path / "probe.py"
    script.write_text(
        textwrap.dedent("""
        import json, os, sys
        data = json.load(sys.stdin)
        env = {k: v for k, v in os.environ.items() if k.startswith("GWALERT_")}
        sky = open(os.environ["GWALERT_SKYMAP_FILE"], "rb").read(6)
        json.dump({"stdin": data, "env": env, "sky": sky.decode(), "argv": sys.argv[1:]},
                  open(sys.argv[1], "w"))
    """)
    )
    out = tmp_path / "out.json"
    opts = options("command", argv=[sys.executable, str(script), str(out)], env={"EXTRA": "1"})
    run("command", context(notice), opts)
    got = json.loads(out.read_text())
    stdin = got["stdin"]
    for key in (
        "superevent_id",
        "alert_type",
        "time_created",
        "rule",
        "is_mock",
        "group",
        "pipeline",
        "far",
        "significant",
        "classification",
        "properties",
        "ra",
        "dec",
        "distmean",
        "diststd",
        "area_50",
        "area_90",
        "files",
    ):
        assert key in stdin, key
    assert stdin["superevent_id"] == "S260101x" and stdin["rule"] == "bns"
    assert stdin["area_90"] == 42.0
    env = got["env"]
    assert env["GWALERT_SUPEREVENT_ID"] == "S260101x"
    assert env["GWALERT_ACTION_ID"] == "7/bns/a"
    assert env["GWALERT_IS_MOCK"] == "0"
    assert json.loads(env["GWALERT_CLASSIFICATION"])["BNS"] == pytest.approx(0.9)
    assert float(env["GWALERT_FAR"]) == pytest.approx(1e-9)
    assert got["sky"] == "SIMPLE"  # the sky-map FITS was written for it
    assert stdin["files"]["skymap"] == env["GWALERT_SKYMAP_FILE"]
    assert not Path(env["GWALERT_SKYMAP_FILE"]).exists()  # temporary: removed after the run


def test_command_sees_a_minimal_environment_not_the_listeners_secrets(
    tmp_path, notice, monkeypatch
):
    """The issue's case: a command printed GCN_CLIENT_SECRET, the SMTP password and another
    action's webhook URL. A real program prints its whole environment here."""
    secrets = {
        "GCN_CLIENT_SECRET": "gcn-s3cret",
        "GWALERT_SMTP_PASSWORD": "smtp-s3cret",
        "SLACK_HOOK": "https://hooks.example/T0/SECRET",
        "AWS_SECRET_ACCESS_KEY": "aws",
        "PYTHONPATH": "/nowhere",
    }
    for key, value in {
        **secrets,
        "TZ": "Europe/Paris",
        "LC_TIME": "C.UTF-8",
        "LANG": "C.UTF-8",
        "MY_TOOL_HOME": "/opt/tool",
    }.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "env.txt"
    opts = options(
        "command", argv=["sh", "-c", f"env > {out}"], env={"EXTRA": "1"}, pass_env=["MY_TOOL_HOME"]
    )
    run("command", context(notice), opts)
    env = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    text = out.read_text()
    for key, value in secrets.items():
        assert key not in env and value not in text, key
    assert env["PATH"] == os.environ["PATH"] and env["HOME"] == os.environ["HOME"]
    assert env["TZ"] == "Europe/Paris" and env["LC_TIME"] == "C.UTF-8"
    assert env["LANG"] == "C.UTF-8"
    assert env["MY_TOOL_HOME"] == "/opt/tool" and env["EXTRA"] == "1"
    assert env["GWALERT_ACTION_ID"] == "7/bns/a" and env["GWALERT_SUPEREVENT_ID"] == "S260101x"
    allowed = {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "TMPDIR",
        "TZ",
        "LANG",
        "LANGUAGE",
        "MY_TOOL_HOME",
        "EXTRA",
        "PWD",
        "SHLVL",
        "_",
    }
    extra = {k for k in env if k not in allowed and not k.startswith(("LC_", "GWALERT_"))}
    assert extra == set()  # (PWD, SHLVL and _ are the shell's own)
    with pytest.raises(Exception, match="pass_env"):
        options("command", argv=["true"], pass_env=["A=B"])


def test_command_no_shell(tmp_path, notice):
    marker = tmp_path / "pwned"
    opts = options("command", argv=["echo", f"; touch {marker}"])
    run("command", context(notice), opts)
    assert not marker.exists()


def test_command_failure_and_timeout(tmp_path, notice):
    opts = options("command", argv=["sh", "-c", "echo bad things >&2; exit 3"])
    with pytest.raises(ActionError, match=r"'sh' failed \(exit status 3\): bad things"):
        run("command", context(notice), opts)
    child = tmp_path / "child.pid"
    opts = options("command", argv=["sh", "-c", f"sleep 600 & echo $! > {child}; wait"])
    start = time.monotonic()
    with pytest.raises(ActionError, match="timed out after 1 s"):
        run("command", context(notice, timeout=1.0), opts)
    assert time.monotonic() - start < 600  # did not wait for the grandchild (a bound, not speed)
    pid = int(child.read_text())
    try:  # the whole process group was killed, grandchildren too
        wait_until(lambda: not _alive(pid), what="the grandchild killed")
    finally:
        if _alive(pid):
            os.kill(pid, 9)
    missing = {"argv": ["/no/such/program"], "env": {}}
    with pytest.raises(ActionError, match="cannot run '/no/such/program'"):
        run("command", context(notice), missing)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a killed orphan may linger as a zombie until init reaps it
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


# ---------------------------------------------------------------------------- webhook
def test_webhook_json_and_slack(notice):
    with http_server() as server:
        opts = options("webhook", url=server.url + "/hook/SECRET-TOKEN")
        run("webhook", context(notice), opts)
        opts = options(
            "webhook",
            url=server.url + "/slack",
            mode="slack",
            headers={"Authorization": "Bearer abc123"},
        )
        run("webhook", context(notice), opts)
        opts = options(
            "webhook",
            url=server.url + "/tmpl",
            mode="slack",
            text="GW {superevent_id} {alert_type} far={far:.1e} {nope}",
        )
        run("webhook", context(notice), opts)
    first, slack, tmpl = server.requests
    assert first.path == "/hook/SECRET-TOKEN"
    assert first.json()["superevent_id"] == "S260101x"
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["Idempotency-Key"] == "7/bns/a"
    text = slack.json()["text"]
    assert set(slack.json()) == {"text"}
    assert text.startswith("S260101x PRELIMINARY (rule bns)") and "BNS 0.90" in text
    assert "90% area 42 deg2" in text and "gracedb" in text
    assert slack.headers["Authorization"] == "Bearer abc123"
    assert tmpl.json() == {"text": "GW S260101x PRELIMINARY far=1.0e-09 "}


def test_webhook_errors_hide_the_url(notice, monkeypatch):
    with http_server() as server:
        server.statuses = [500]
        secret_url = server.url + "/services/SECRET-TOKEN"
        opts = options("webhook", url=secret_url)
        with pytest.raises(ActionError) as info:
            run("webhook", context(notice), opts)
        assert "HTTP 500" in str(info.value) and "SECRET" not in str(info.value)
        monkeypatch.setenv("HOOK_URL", secret_url)
        opts = options("webhook", url_env="HOOK_URL", mode="slack")
        run("webhook", context(notice), opts)
        assert server.requests[-1].path == "/services/SECRET-TOKEN"
        assert secret_url in collect_secrets(opts, get_action_type("webhook").SECRET_KEYS)
    with pytest.raises(ActionError, match="unreachable") as info:
        run(
            "webhook",
            context(notice, timeout=2),
            {"url": secret_url, "mode": "json", "headers": {}},
        )
    assert "SECRET" not in str(info.value)


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_webhook_never_follows_a_redirect_by_default(notice, code):
    """The issue's case: a 3xx to another host must not get the Authorization header, and
    the POST is not delivered (a failure, retried), whatever the redirect code."""
    with http_server() as hook, http_server() as other:
        hook.statuses = [(code, other.url + "/steal")]
        opts = options(
            "webhook", url=hook.url + "/hook", headers={"Authorization": "Bearer tok-123"}
        )
        with pytest.raises(ActionError, match=f"HTTP {code}.*not followed") as info:
            run("webhook", context(notice), opts)
        assert "tok-123" not in str(info.value)
        # Opting in does not allow another server either (another port = another origin).
        hook.statuses = [(code, other.url + "/steal")]
        opts = options(
            "webhook",
            url=hook.url + "/hook",
            follow_redirects=True,
            headers={"Authorization": "Bearer tok-123"},
        )
        with pytest.raises(ActionError, match="another server"):
            run("webhook", context(notice), opts)
        # Same server, opted in: the same POST (body, credentials) goes to the new path.
        hook.statuses = [(code, "/moved"), (code, hook.url + "/final")]
        run("webhook", context(notice), opts)
        # ... and the last answer must be 2xx.
        hook.statuses = [(code, "/moved"), 500]
        with pytest.raises(ActionError, match="HTTP 500"):
            run("webhook", context(notice), opts)
    assert other.requests == []
    paths = [r.path for r in hook.requests]
    assert paths == ["/hook", "/hook", "/hook", "/moved", "/final", "/hook", "/moved"]
    final = hook.requests[4]
    assert final.json()["superevent_id"] == "S260101x"
    assert final.headers["Authorization"] == "Bearer tok-123"


def test_webhook_redirect_loop_and_same_origin_rules(notice):
    from gwalert.actions.webhook import same_origin

    assert same_origin("http://h:8080/a", "http://H:8080/b")
    assert same_origin("http://h/a", "https://h/b")
    assert not same_origin("https://h/a", "http://h/b")  # never downgrade
    assert not same_origin("http://h:1/a", "http://h:2/a")
    assert not same_origin("http://h/a", "http://h.evil/a")
    assert not same_origin("http://h/a", "http://u:p@h/a")
    with http_server() as hook:
        hook.statuses = [(307, "/loop")] * 10
        opts = options("webhook", url=hook.url + "/hook", follow_redirects=True)
        with pytest.raises(ActionError, match="more than 5 redirects"):
            run("webhook", context(notice), opts)
        hook.statuses = [302]
        with pytest.raises(ActionError, match="without a Location"):
            run("webhook", context(notice), opts)
    with pytest.raises(ConfigError, match="follow_redirects"):
        parse_config(
            {
                "rule": [
                    {
                        "name": "r",
                        "action": [
                            {"type": "webhook", "url": "http://x/", "follow_redirects": "yes"}
                        ],
                    }
                ]
            }
        )


# ------------------------------------------------------------------------------ email
@pytest.mark.slow
def test_email_starttls_and_login(tmp_path, notice, monkeypatch):
    with smtp_server(tmp_path) as smtp:
        monkeypatch.setenv("GWALERT_SMTP_USERNAME", "alerts")
        monkeypatch.setenv("GWALERT_SMTP_PASSWORD", "s3cret-pw")
        opts = options(
            "email",
            host=smtp.host,
            port=smtp.port,
            cafile=smtp.cafile,
            **{"from": "gwalert@example.org"},
            to=["team@example.org", "b@c.org"],
        )
        run("email", context(notice), opts)
        assert smtp.logins == ["alerts"]
        (envelope,) = smtp.messages
        assert envelope.rcpt_tos == ["team@example.org", "b@c.org"]
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert msg["Subject"].startswith("S260101x PRELIMINARY (rule bns)")
        assert msg["X-Gwalert-Action-Id"] == "7/bns/a"
        body = msg.get_content()
        assert '"superevent_id": "S260101x"' in body
        # credentials from the config; a wrong password is an error without the password
        opts = options(
            "email",
            host=smtp.host,
            port=smtp.port,
            cafile=smtp.cafile,
            username="alerts",
            password="wrong-horse",
            subject="{superevent_id}!",
            **{"from": "a@example.org"},
            to="b@example.org",
        )
        with pytest.raises(ActionError, match="login refused") as info:
            run("email", context(notice), opts)
        assert "wrong-horse" not in str(info.value)
        public = parse_config(
            {
                "rule": [
                    {
                        "name": "r",
                        "action": [
                            dict(
                                type="email",
                                host="h",
                                password="wrong-horse",
                                to="b@c.d",
                                **{"from": "a@b.c"},
                            )
                        ],
                    }
                ]
            }
        ).describe()
        assert "wrong-horse" not in json.dumps(public)
    # a server without STARTTLS is refused, the password never sent in clear text
    with http_server() as not_smtp:
        port = int(not_smtp.url.rsplit(":", 1)[1])
        opts = options(
            "email",
            host="127.0.0.1",
            port=port,
            password="pw",
            **{"from": "a@example.org"},
            to="b@example.org",
        )
        with pytest.raises(ActionError, match="SMTP 127.0.0.1"):
            run("email", context(notice, timeout=3), opts)


def test_email_message_id_is_stable_across_attempts(tmp_path, notice):
    """The first attempt is refused (451 at DATA), the retry succeeds: both carry the same
    Message-ID, made from the action id, at the domain of the from address."""
    from dataclasses import replace

    with smtp_server(tmp_path) as smtp:
        smtp.replies = ["451 4.3.0 try again later"]
        opts = options(
            "email",
            host=smtp.host,
            port=smtp.port,
            cafile=smtp.cafile,
            username="alerts",
            password="s3cret-pw",
            **{"from": "GW Alerts <gwalert@Obs.Example.org>"},
            to="b@example.org",
        )
        first = context(notice)
        with pytest.raises(ActionError, match="451"):
            run("email", first, opts)
        run("email", replace(first, attempt=2), opts)
        other = context(notice)
        other.action_id = "7/bns/b"
        run("email", other, opts)
    ids = [
        email.message_from_bytes(m.content, policy=email.policy.default)["Message-ID"]
        for m in smtp.messages
    ]
    assert ids[0] == ids[1] != ids[2]
    assert ids[0].startswith("<gwalert.7.bns.a.") and ids[0].endswith("@obs.example.org>")
    assert email.utils.parseaddr(ids[0])[1]  # a well-formed msg-id


# ------------------------------------------------------------------------------- save
@pytest.mark.slow
def test_save_writes_everything_atomically(tmp_path, notice):
    opts = options("save", base=tmp_path, dir="saved")
    ctx = context(notice)
    run("save", ctx, opts)
    run("save", ctx, opts)  # a repeat leaves the same complete files
    (where,) = (tmp_path / "saved" / "S260101x").iterdir()
    names = sorted(p.name for p in where.iterdir())
    assert names == ["notice.avro", "skymap.multiorder.fits", "skymap.png", "summary.json"]
    assert (where / "notice.avro").read_bytes() == notice.raw
    assert (where / "skymap.multiorder.fits").read_bytes() == notice.event.skymap_bytes
    assert (where / "skymap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((where / "summary.json").read_text())
    assert summary["superevent_id"] == "S260101x" and summary["files"]["plot"]
    retraction = decode(samples.encode(samples.make_record("S260101x", "RETRACTION"), "json"))[0]
    run("save", context(retraction), opts)
    saved = sorted(p.name for p in (tmp_path / "saved" / "S260101x").iterdir())
    assert len(saved) == 2 and any(
        s.endswith("RETRACTION-" + retraction.content_hash[:8]) for s in saved
    )


# ----------------------------------------------------------------------------- python
def record_call(notice, context=None, tag="x"):
    CALLS.append((notice.superevent_id, context.action_id if context else None, tag))


def fail_call(notice):
    raise RuntimeError("telescope offline")


def test_python_callable(notice):
    CALLS.clear()
    opts = options("python", callable="test_actions:record_call", kwargs={"tag": "t"})
    run("python", context(notice), opts)
    opts = options("python", callable="test_actions.record_call")
    run("python", context(notice), opts)
    assert CALLS == [("S260101x", "7/bns/a", "t"), ("S260101x", "7/bns/a", "x")]
    opts = options("python", callable="test_actions:fail_call")
    with pytest.raises(ActionError, match="fail_call raised RuntimeError: telescope offline"):
        run("python", context(notice), opts)


def test_plugin_action_type(tmp_path, notice, monkeypatch):
    from gwalert import actions

    pkg = tmp_path / "gwplugin_demo.py"
    pkg.write_text(
        "SEEN = []\n"
        "def beep(context, options):\n"
        "    SEEN.append((context.notice.superevent_id, options['volume']))\n"
    )
    dist = tmp_path / "gwplugin_demo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: gwplugin-demo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[gwalert.actions]\nbeep = gwplugin_demo:beep\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    actions._plugins.cache_clear()
    try:
        config = parse_config({"rule": [{"name": "r", "action": [{"type": "beep", "volume": 11}]}]})
        spec = config.rules[0].actions[0]
        assert spec.type == "beep" and spec.options == {"volume": 11}
        get_action_type("beep").run(context(notice), dict(spec.options))
        import gwplugin_demo

        assert gwplugin_demo.SEEN == [("S260101x", 11)]
        with pytest.raises(ConfigError, match=r"unknown action type 'boop' \(known: .*beep"):
            parse_config({"rule": [{"name": "r", "action": [{"type": "boop"}]}]})
    finally:
        actions._plugins.cache_clear()


def test_command_output_file(tmp_path, notice):
    log = tmp_path / "logs" / "scheduler.log"
    log.parent.mkdir()
    opts = options(
        "command",
        base=tmp_path,
        argv=["sh", "-c", "echo out; echo err >&2"],
        output="logs/scheduler.log",
    )
    run("command", context(notice), opts)
    opts = options(
        "command",
        base=tmp_path,
        argv=["sh", "-c", "echo oops >&2; exit 1"],
        output="logs/scheduler.log",
    )
    with pytest.raises(ActionError, match="exit status 1.*oops"):
        run("command", context(notice), opts)
    assert log.read_text() == ("--- 7/bns/a attempt 1\nout\nerr\n--- 7/bns/a attempt 1\noops\n")


def test_command_kills_what_an_interrupted_attempt_left_running(tmp_path, notice):
    """After a kill -9 of the runner its command may still run (it has its own session); the
    next attempt waits for it up to the action's timeout, then kills it before starting again,
    so two copies never run at once."""
    import dataclasses
    import subprocess

    env = dict(os.environ, GWALERT_RUN_KEY="abc123-7")
    orphan = subprocess.Popen(["sh", "-c", "sleep 600 & wait"], env=env, start_new_session=True)
    other = subprocess.Popen(
        ["sleep", "600"], env=dict(os.environ, GWALERT_RUN_KEY="abc123-8"), start_new_session=True
    )
    try:
        ctx = dataclasses.replace(context(notice, timeout=1.0), attempt=2, run_key="abc123-7")
        t0 = time.monotonic()
        run("command", ctx, options("command", argv=["true"]))
        assert orphan.wait(GENEROUS) == -9
        # waited for it up to the action's timeout (a lower bound: load cannot break it), and
        # killed it rather than waiting out its 600 s
        assert 0.9 < time.monotonic() - t0 < 600
        assert other.poll() is None  # another action's program is left alone
    finally:
        for p in (orphan, other):
            if p.poll() is None:
                p.kill()
            p.wait()
