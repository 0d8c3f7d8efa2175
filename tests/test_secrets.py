"""Secrets stay secret: one redaction over every URL form, webhook URLs checked at load with the
parser used at send time, and no credential ever sent in clear text (a real SMTP server that
offers AUTH without TLS records every attempt)."""

from __future__ import annotations

import http.client
import subprocess
import sys
import textwrap
import urllib.parse
import urllib.request

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from servers import http_server, smtp_server

from gwalert import samples
from gwalert.actions import ActionContext, ActionError, get_action_type
from gwalert.actions.webhook import check_url
from gwalert.alerts import decode
from gwalert.options import OptionError
from gwalert.redact import MASK, forget_all, redact, redact_url
from gwalert.rules import ConfigError, parse_config
from gwalert.summary import summarize

# ------------------------------------------------------------------------- URL forms
_word = st.text(
    st.characters(codec="utf-8", categories=["Ll", "N"], include_characters="-._~!$&'()*+,;="),
    min_size=3,
    max_size=12,
)
_secret = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00"),
    min_size=4,
    max_size=16,
).map(lambda s: "Z" + s)  # a "Z": never part of a generated host, path or scheme
_hosts = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{1,8}){1,3}", fullmatch=True),
    st.sampled_from(["bücher.example", "例え.テスト", "xn--bcher-kva.example", "münchen.de"]),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
)
_ports = st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}"))
_params = st.sampled_from(
    ["token", "key", "api_key", "password", "secret", "sig", "X-Amz-Signature", "access_token"]
)


def _pct(s: str) -> str:
    return urllib.parse.quote(s, safe="")


@st.composite
def secret_urls(draw):
    scheme = draw(st.sampled_from(["http", "https", "postgresql", "kafka"]))
    user, password = draw(_secret), draw(_secret)
    encode = draw(st.booleans())
    info = f"{_pct(user)}:{_pct(password)}" if encode else f"{_pct(user)}:{_pct(password)}"
    host, port = draw(_hosts), draw(_ports)
    path = "/" + "/".join(draw(st.lists(_word.map(_pct), max_size=3)))
    param, value = draw(_params), draw(_secret)
    query = f"?a=1&{param}={_pct(value)}&b=2"
    url = f"{scheme}://{info}@{host}{port}{path}{query}"
    return url, (_pct(user), _pct(password), _pct(value), password, value)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret_urls(), st.sampled_from(["{}", "error: {} failed", "InvalidURL: '{}'", "<{}>"]))
def test_redaction_removes_userinfo_and_query_secrets(case, frame):
    url, parts = case
    for text in (redact(frame.format(url)), redact_url(url)):
        for part in parts[:3]:  # as written in the URL
            assert part not in text, (url, text)
        assert MASK in text
    # the same URL known as a secret value: its parts are removed even quoted alone
    for part in parts:
        if len(part) >= 3:
            assert part not in redact(f"nonnumeric port: '{part}@h'", [url])


@settings(max_examples=200, deadline=None)
@given(secret_urls())
def test_webhook_url_with_userinfo_is_refused_at_load(case):
    url, parts = case
    if not url.startswith("http"):
        return
    with pytest.raises(ConfigError) as info:
        parse_config({"rule": [{"name": "r", "action": [{"type": "webhook", "url": url}]}]})
    message = str(info.value)
    assert "headers" in message and "url_env" in message or "not a valid URL" in message
    for part in parts:
        assert part not in message


_any_url = st.one_of(
    st.builds(
        lambda s, h, p, path: f"{s}://{h}{p}{path}",
        st.sampled_from(["http", "https", "ftp", "HTTP", ""]),
        st.one_of(_hosts, st.text(max_size=20)),
        st.one_of(_ports, st.text(max_size=8).map(lambda t: ":" + t)),
        st.text(max_size=20),
    ),
    st.text(max_size=60),
)


@settings(max_examples=500, deadline=None)
@given(_any_url)
@example("http://bücher.example?¡")  # a query http.client cannot send as ASCII
@example("http://example.org/päth")
def test_no_url_passes_the_check_and_fails_at_send_time(url):
    """What check_url accepts, urllib builds a request for and http.client accepts as
    host[:port] (where ``nonnumeric port`` came from), and the host encodes as IDNA."""
    try:
        host = check_url(url)
    except OptionError as exc:
        assert str(exc).startswith("url: ")  # the message names the key, never quotes the URL
        return
    request = urllib.request.Request(url, data=b"{}", method="POST")
    cls = http.client.HTTPSConnection if request.type == "https" else http.client.HTTPConnection
    conn = cls(request.host, timeout=1)
    assert conn.host.strip("[]").lower() == host.lower()
    if not request.host.startswith("["):
        host.encode("idna")
    conn._validate_host(conn.host)  # noqa: SLF001 - what putrequest checks before sending
    request.selector.encode("ascii")


@pytest.mark.parametrize(
    "url,headers,ok",
    [
        ("http://hooks.example.org/x", {"Authorization": "Bearer abc"}, False),
        ("http://hooks.example.org/x?token=abc", {}, False),
        ("http://hooks.example.org/x", {"X-Api-Key": "abc"}, False),
        ("http://hooks.example.org/x", {}, True),
        ("https://hooks.example.org/x?token=abc", {"Authorization": "Bearer a"}, True),
        ("http://127.0.0.1:8080/x", {"Authorization": "Bearer abc"}, True),
        ("http://[::1]/x?token=abc", {}, True),
        ("http://localhost/x", {"Authorization": "Bearer abc"}, True),
        ("http://127.0.0.1.example.org/x", {"Authorization": "Bearer abc"}, False),
    ],
)
def test_webhook_credential_over_plain_http_only_to_loopback(url, headers, ok):
    config = {"rule": [{"name": "r", "action": [{"type": "webhook", "url": url}]}]}
    config["rule"][0]["action"][0]["headers"] = headers
    if ok:
        parse_config(config)
    else:
        with pytest.raises(ConfigError, match="clear text"):
            parse_config(config)


@pytest.mark.slow
def test_webhook_url_env_checked_by_rules_check(tmp_path, monkeypatch):
    conf = tmp_path / "g.toml"
    conf.write_text(
        textwrap.dedent("""
        [[rule]]
        name = "r"
        [[rule.action]]
        type = "webhook"
        url_env = "HOOK_URL"
        """)
    )
    env = {"HOOK_URL": "https://alice:hunter2@hooks.example.org:8443/x?token=tok-9876"}
    result = _gwalert(["rules", "check", str(conf)], env)
    assert result.returncode != 0
    assert "url_env" in result.stderr and "headers" in result.stderr
    for secret in ("hunter2", "tok-9876", "alice"):
        assert secret not in result.stderr + result.stdout


def _gwalert(argv, env):
    import os

    return subprocess.run(
        [sys.executable, "-m", "gwalert", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


# -------------------------------------------------------------- a failing send, its error
@pytest.fixture(scope="module")
def notice():
    rec = samples.make_record("S260101x", "PRELIMINARY", skymap=samples.gaussian_skymap(4))
    return decode(samples.encode(rec, "avro"))[0]


def _context(notice, secrets=()):
    return ActionContext.for_notice(
        notice,
        summarize(notice),
        action_id="7/r/a",
        attempt=1,
        rule="r",
        action="a",
        timeout=5.0,
        secrets=secrets,
    )


def test_runtime_url_from_env_with_userinfo_fails_without_leaking(notice, monkeypatch):
    from gwalert.actions.base import collect_secrets

    kind = get_action_type("webhook")
    opts = kind.validate({"url_env": "HOOK_URL"}, base=".", resolve=False)
    monkeypatch.setenv("HOOK_URL", "https://alice:hunter2@hooks.example.org:99/x")
    secrets = collect_secrets(opts, kind.SECRET_KEYS)
    with pytest.raises(ActionError) as info:
        kind.run(_context(notice, secrets), opts)
    text = redact(str(info.value), secrets)
    assert "hunter2" not in text and "alice" not in text
    forget_all()


def test_log_lines_are_redacted(tmp_path):
    """A log line carrying a URL with userinfo or a secret query value, through the CLI's
    logging set-up (the filter every handler gets)."""
    code = textwrap.dedent("""
        import logging, sys
        from gwalert.cli import main
        from gwalert.redact import install_log_filter, register
        logging.basicConfig(stream=sys.stderr, format="%(message)s")
        install_log_filter()
        register(["s3cr3t-value"])
        logging.getLogger("x").warning("go %s", "https://bob:pw123@h.example/p?sig=abc&x=1")
        logging.getLogger("x").warning("known s3cr3t-value and Bearer eyJabc.def")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "pw123" not in out.stderr and "bob" not in out.stderr and "sig=abc" not in out.stderr
    assert "s3cr3t-value" not in out.stderr and "eyJabc" not in out.stderr
    assert "https://***@h.example/p?sig=***&x=1" in out.stderr


# ------------------------------------------------------------ no clear-text credential
SOURCES = {
    "literal": ({"username": "alerts", "password": "s3cret-pw"}, {}),
    "env keys": (
        {"username_env": "MY_USER", "password_env": "MY_PW"},
        {"MY_USER": "alerts", "MY_PW": "s3cret-pw"},
    ),
    "password_env only": ({"password_env": "MY_PW"}, {"MY_PW": "s3cret-pw"}),
    "default variables": (
        {},
        {"GWALERT_SMTP_USERNAME": "alerts", "GWALERT_SMTP_PASSWORD": "s3cret-pw"},
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("source", sorted(SOURCES))
def test_no_auth_without_tls_for_any_credential_source(tmp_path, notice, monkeypatch, source):
    keys, env = SOURCES[source]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with smtp_server(tmp_path, plaintext=True) as smtp:
        raw = {
            "type": "email",
            "host": "mail.example.org",
            "port": smtp.port,
            "tls": "none",
            "from": "a@example.org",
            "to": "b@example.org",
            **keys,
        }
        # refused at load (so by rules check and doctor, which load the same way)
        with pytest.raises(ConfigError, match="clear text"):
            parse_config({"rule": [{"name": "r", "action": [raw]}]})
        # allow_plaintext_auth is for a loopback host only
        with pytest.raises(ConfigError, match="loopback"):
            parse_config(
                {"rule": [{"name": "r", "action": [{**raw, "allow_plaintext_auth": True}]}]}
            )
        conf = tmp_path / "g.toml"
        lines = [f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}" for k, v in raw.items()]
        conf.write_text('[[rule]]\nname = "r"\n[[rule.action]]\n' + "\n".join(lines) + "\n")
        doctor = ["doctor", "--config", str(conf), "--store", str(tmp_path / "s.db"), str(tmp_path)]
        for verb in (["rules", "check", str(conf)], doctor):
            result = _gwalert(verb, env)
            assert result.returncode != 0, verb
            assert "clear text" in result.stderr + result.stdout, verb
        # even options that skipped validation never log in without TLS
        kind = get_action_type("email")
        opts = {
            **{k: v for k, v in raw.items() if k != "type"},
            "host": smtp.host,
            "to": ["b@example.org"],
            "username_env_default": "GWALERT_SMTP_USERNAME",
            "password_env_default": "GWALERT_SMTP_PASSWORD",
        }
        try:
            kind.run(_context(notice), opts)  # without a full login: sent without AUTH
        except ActionError as exc:
            assert "clear text" in str(exc)
        assert smtp.auths == []
        # an explicit allow_plaintext_auth for the loopback host does log in
        ok = {**raw, "host": smtp.host, "allow_plaintext_auth": True}
        validated = kind.validate(
            {k: v for k, v in ok.items() if k != "type"}, base=".", resolve=True
        )
        kind.run(_context(notice), validated)
    assert len(smtp.auths) <= 1 and smtp.messages


def test_starttls_login_is_still_accepted(tmp_path, notice, monkeypatch):
    monkeypatch.setenv("GWALERT_SMTP_USERNAME", "alerts")
    monkeypatch.setenv("GWALERT_SMTP_PASSWORD", "s3cret-pw")
    with smtp_server(tmp_path) as smtp:
        kind = get_action_type("email")
        opts = kind.validate(
            {
                "host": smtp.host,
                "port": smtp.port,
                "cafile": smtp.cafile,
                "from": "a@example.org",
                "to": "b@example.org",
            },
            base=".",
            resolve=True,
        )
        kind.run(_context(notice), opts)
    assert smtp.auths and all(tls for _m, tls in smtp.auths)


def test_webhook_error_never_carries_the_url(notice):
    with http_server() as server:
        server.statuses = [500]
        kind = get_action_type("webhook")
        url = server.url + "/hook?token=tok-abcdef"
        opts = kind.validate({"url": url}, base=".", resolve=True)
        with pytest.raises(ActionError) as info:
            kind.run(_context(notice, (url,)), opts)
    assert "tok-abcdef" not in redact(str(info.value))


@pytest.mark.slow
def test_every_ledger_reader_redacts_last_error(sqlite_store, tmp_path, capsys):
    """A ledger row holding a secret registered after it was written (a row of an older
    release): the dashboard's event and health pages, ``rules status`` and the JSON it prints
    never show it (one reader, gwalert.redact.ledger_row)."""
    from web_server import add_actions, fill_samples, get, running

    from gwalert import redact
    from gwalert.cli import main
    from gwalert.web import create_app

    secret = "hunter2-ledger-secret"
    ids = fill_samples(sqlite_store)
    add_actions(
        sqlite_store,
        ids["MS260101a-update"],
        ("hook", "failed", f"HTTP 500 from https://alice:{secret}@h.example/x?token=abc"),
    )
    redact.register([secret])
    try:
        app = create_app(sqlite_store, cache_dir=tmp_path / "cache", prerender=False)
        with running(app) as base:
            for page in ("/health", "/events/MS260101a"):
                status, _, body = get(base + page)
                assert status == 200 and b"HTTP 500 from" in body, page
                assert secret.encode() not in body and b"token=abc" not in body, page
        for extra in (["--json"], []):
            code = main(["rules", "status", "--store", str(tmp_path / "store.sqlite"), *extra])
            out, err = capsys.readouterr()
            assert code == 0, err
            assert "HTTP 500 from" in out and secret not in out and "token=abc" not in out
    finally:
        redact.forget_all()
