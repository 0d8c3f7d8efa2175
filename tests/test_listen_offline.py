"""Listening without a broker: client configuration from hop's auth.toml and GCN credentials
(SCRAM cannot be exercised end to end on the local broker), URLs, group ids, liveness, and the
pipeline on files."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading

import certifi
import pytest

from gwalert import samples
from gwalert.alerts import decode
from gwalert.errors import GwalertError
from gwalert.pipeline import Pipeline, run
from gwalert.sources import open_source, parse_start_at
from gwalert.sources.credentials import client_config
from gwalert.sources.files import FileSource
from gwalert.sources.kafka import default_group_id
from gwalert.sources.liveness import BrokerState, Liveness
from gwalert.sources.message import Message
from gwalert.sources.url import parse_url
from gwalert.store import Store

AUTH = """\
[[auth]]
username = "alice-1234"
password = "s3cret"
hostname = "kafka.scimma.org"

[[auth]]
username = "bob-5678"
password = "hunter2"
hostname = "kafka.scimma.org"
"""


def _auth_file(tmp_path, text: str = AUTH, mode: int = 0o600):
    path = tmp_path / "auth.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


# ------------------------------------------------------------------ client configuration
def test_scram_config_from_hop_auth_toml(tmp_path) -> None:
    auth = _auth_file(tmp_path, AUTH.split("\n\n")[0] + "\n")
    url = parse_url("kafka://kafka.scimma.org/igwn.gwalert")
    conf, user = client_config(url, "consumer", config={"kafka": {"auth": str(auth)}})
    assert user == "alice-1234"
    assert conf == {
        "bootstrap.servers": "kafka.scimma.org",
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": certifi.where(),
        "https.ca.location": certifi.where(),
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "alice-1234",
        "sasl.password": "s3cret",
        "max.partition.fetch.bytes": 16 << 20,
        "fetch.max.bytes": 64 << 20,
        "receive.message.max.bytes": (64 << 20) + 1024,
    }


def test_user_in_url_picks_among_credentials(tmp_path) -> None:
    auth = _auth_file(tmp_path)
    cfg = {"kafka": {"auth": str(auth)}}
    conf, user = client_config(
        parse_url("kafka://bob-5678@kafka.scimma.org/igwn.gwalert"), "consumer", config=cfg
    )
    assert user == "bob-5678" and conf["sasl.password"] == "hunter2"
    with pytest.raises(GwalertError, match="Ambiguous credentials"):
        client_config(parse_url("kafka://kafka.scimma.org/igwn.gwalert"), config=cfg)
    with pytest.raises(GwalertError, match="No matching credential"):
        client_config(parse_url("kafka://carol@kafka.scimma.org/igwn.gwalert"), config=cfg)


def test_credential_file_problems_are_one_line(tmp_path) -> None:
    url = parse_url("kafka://kafka.scimma.org/igwn.gwalert")
    with pytest.raises(GwalertError, match="hop auth add"):
        client_config(url, config={"kafka": {"auth": str(tmp_path / "missing.toml")}})
    loose = _auth_file(tmp_path, mode=0o644)
    with pytest.raises(GwalertError, match="unsafe permissions"):
        client_config(url, config={"kafka": {"auth": str(loose)}})


def test_producer_and_no_auth_config() -> None:
    url = parse_url("kafka://127.0.0.1:9092/igwn.gwalert-playground")
    conf, user = client_config(url, "producer", no_auth=True)
    assert user is None
    assert conf["security.protocol"] == "plaintext"
    assert conf["compression.type"] == "zstd" and conf["message.max.bytes"] >= 4 << 20


def test_gcn_oidc_config(monkeypatch) -> None:
    monkeypatch.setenv("GCN_CLIENT_ID", "my-id")
    monkeypatch.setenv("GCN_CLIENT_SECRET", "my-secret")
    conf, user = client_config(parse_url("gcn://igwn.gwalert"), "consumer")
    assert user == "my-id"
    assert conf["bootstrap.servers"] == "kafka.gcn.nasa.gov"
    assert conf["security.protocol"] == "sasl_ssl"
    assert conf["sasl.mechanisms"] == "OAUTHBEARER"
    assert conf["sasl.oauthbearer.method"] == "oidc"
    assert conf["sasl.oauthbearer.client.id"] == "my-id"
    assert conf["sasl.oauthbearer.client.secret"] == "my-secret"
    assert conf["sasl.oauthbearer.token.endpoint.url"] == "https://auth.gcn.nasa.gov/oauth2/token"
    assert "group.id" not in conf  # gcn-kafka's would be random
    test_conf, _ = client_config(parse_url("gcn://test.gcn.nasa.gov/igwn.gwalert"))
    assert test_conf["bootstrap.servers"] == "kafka.test.gcn.nasa.gov"
    assert (
        test_conf["sasl.oauthbearer.token.endpoint.url"]
        == "https://auth.test.gcn.nasa.gov/oauth2/token"
    )


def test_gcn_credentials_from_config_file_or_clear_error(monkeypatch) -> None:
    monkeypatch.delenv("GCN_CLIENT_ID", raising=False)
    monkeypatch.delenv("GCN_CLIENT_SECRET", raising=False)
    with pytest.raises(GwalertError, match="GCN_CLIENT_ID"):
        client_config(parse_url("gcn://igwn.gwalert"))
    conf, _ = client_config(
        parse_url("gcn://igwn.gwalert"), config={"gcn": {"client_id": "a", "client_secret": "b"}}
    )
    assert conf["sasl.oauthbearer.client.id"] == "a"


# --------------------------------------------------------------------------------- URLs
@pytest.mark.parametrize(
    "text, scheme, bootstrap, topics, user",
    [
        (
            "kafka://kafka.scimma.org/igwn.gwalert",
            "kafka",
            "kafka.scimma.org",
            ("igwn.gwalert",),
            None,
        ),
        (
            "kafka://me@kafka.scimma.org:9092/a,b",
            "kafka",
            "kafka.scimma.org:9092",
            ("a", "b"),
            "me",
        ),
        ("gcn://igwn.gwalert", "gcn", "kafka.gcn.nasa.gov", ("igwn.gwalert",), None),
        ("gcn://127.0.0.1:9092/igwn.gwalert", "gcn", "127.0.0.1:9092", ("igwn.gwalert",), None),
    ],
)
def test_parse_url(text, scheme, bootstrap, topics, user) -> None:
    url = parse_url(text)
    assert (url.scheme, url.bootstrap, url.topics, url.username) == (
        scheme,
        bootstrap,
        topics,
        user,
    )


@pytest.mark.parametrize(
    "text", ["kafka://host", "kafka:///topic", "http://x/y", "kafka://h/bad topic"]
)
def test_bad_urls(text) -> None:
    with pytest.raises(GwalertError):
        parse_url(text)


def test_group_id_is_stable_and_prefixed() -> None:
    a = default_group_id("sqlite:////x.sqlite", "alice-1234")
    assert a == default_group_id("sqlite:////x.sqlite", "alice-1234")
    assert a.startswith("alice-1234-gwalert-")  # SCiMMA wants the user name first
    assert default_group_id("sqlite:////y.sqlite") != default_group_id("sqlite:////x.sqlite")


def test_start_at() -> None:
    assert parse_start_at("earliest") == "earliest"
    when = parse_start_at("2026-01-01T00:00:00")
    assert when.utcoffset().total_seconds() == 0
    with pytest.raises(GwalertError, match="--start-at"):
        parse_start_at("yesterday")


# ----------------------------------------------------------------------------- liveness
def test_liveness_warns_once_then_recovers(caplog) -> None:
    now = [0.0]
    live = Liveness(60, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, "gwalert.heartbeat")
    now[0] = 30
    assert not live.check()
    now[0] = 61
    assert live.check() and live.check()
    now[0] = 500
    live.check()
    assert sum("no heartbeat" in r.message for r in caplog.records) == 1
    live.heartbeat()
    assert not live.check()
    assert "alive again" in caplog.records[-1].message


def test_broker_state_logs_each_problem_once(caplog) -> None:
    import confluent_kafka

    caplog.set_level(logging.WARNING, "gwalert.kafka")
    state = BrokerState()
    down = confluent_kafka.KafkaError(confluent_kafka.KafkaError._ALL_BROKERS_DOWN, "down")
    transport = confluent_kafka.KafkaError(confluent_kafka.KafkaError._TRANSPORT, "reset")
    for err in (down, transport, down, transport, down):
        state.error(err)
    state.ok()
    state.ok()
    lines = [r.message for r in caplog.records]
    assert len(lines) == 3 and lines[-1] == "broker: reachable again"


# ------------------------------------------------------------------- pipeline on files
def test_pipeline_files_dedupe_dead_letters_hooks(tmp_path) -> None:
    d = tmp_path / "in"
    d.mkdir()
    for name, data in samples.sample_set().items():
        (d / name).write_bytes(data)
    (d / "zz-junk.avro").write_bytes(b"Obj\x01garbage")
    store = Store.open(str(tmp_path / "s.sqlite"))
    calls: list[int] = []
    pipeline = Pipeline(store, hooks=[lambda conn, nid, n, s: calls.append(nid)])
    stats = run(FileSource(d), pipeline)
    assert (stats.messages, stats.new, stats.duplicates, stats.dead_letters) == (11, 5, 5, 1)
    assert sorted(calls) == [1, 2, 3, 4, 5]
    stats = run(FileSource(d), pipeline)  # a replay stores nothing and calls no hook
    assert (stats.new, stats.duplicates, stats.dead_letters) == (0, 10, 1)
    assert len(calls) == 5
    assert store.counts() == {"notices": 5, "dead_letters": 1, "superevents": 2}
    store.close()


def test_failing_hook_dead_letters_the_message_with_the_reason(tmp_path) -> None:
    """A hook that fails on one notice must not stop the stream (issue 9's invariant): the
    notice is not stored (nothing of its transaction is), the message is kept as a dead
    letter with the reason and acknowledged."""
    store = Store.open(str(tmp_path / "s.sqlite"))
    acked: list[Message] = []

    class OneMessage:
        name = "test"

        def messages(self, stop):
            yield Message(samples.encode(samples.make_record(), "avro"), "test")

        def commit(self, message):
            acked.append(message)

        def close(self):
            pass

    def broken(conn, nid, notice, summary):
        raise RuntimeError("boom")

    stats = run(OneMessage(), Pipeline(store, hooks=[broken]), threading.Event())
    assert stats.dead_letters == 1 and len(acked) == 1
    assert store.counts()["notices"] == 0
    [dead] = store.iter_dead_letters()
    assert dead.error == "could not store the notice MS260101a PRELIMINARY: RuntimeError: boom"
    store.close()


def test_hop_external_message_is_not_fetched(tmp_path) -> None:
    store = Store.open(str(tmp_path / "s.sqlite"))
    msg = Message(
        b'{"url": "http://example.invalid/huge"}',
        "kafka://h/t",
        0,
        1,
        headers=(("_format", b"external"),),
    )
    outcome = Pipeline(store).process(msg)
    assert outcome.dead_letter_id is not None and "ExternalMessage" in outcome.error
    store.close()


def test_open_source_for_paths(tmp_path) -> None:
    src = open_source(str(tmp_path), store_url="sqlite://")
    assert isinstance(src, FileSource)
    with pytest.raises(GwalertError, match="no such file"):
        open_source(str(tmp_path / "nope"), store_url="sqlite://")


# ------------------------------------------------------------------------------ the CLI
def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gwalert", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_cli_listen_files_then_notices_events_show(tmp_path) -> None:
    d = tmp_path / "in"
    d.mkdir()
    for name, data in samples.sample_set().items():
        (d / name).write_bytes(data)
    store = str(tmp_path / "s.sqlite")
    res = _cli("listen", str(d), "--store", store)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("new ") == 5 and res.stdout.count("duplicate ") == 5
    rows = [
        json.loads(line) for line in _cli("notices", "--store", store, "--json").stdout.splitlines()
    ]
    assert len(rows) == 5
    assert {r["alert_type"] for r in rows} == {"PRELIMINARY", "INITIAL", "UPDATE", "RETRACTION"}
    assert all(r["received_at"] and r["source"].startswith("file:") for r in rows)
    events = [
        json.loads(line) for line in _cli("events", "--store", store, "--json").stdout.splitlines()
    ]
    assert {e["superevent_id"]: e["retracted"] for e in events} == {
        "MS260101a": True,
        "MS260102b": False,
    }
    shown = _cli("show", "MS260102b", "--store", store)
    assert shown.returncode == 0 and "PRELIMINARY" in shown.stdout
    missing = _cli("show", "S000000x", "--store", store)
    assert missing.returncode == 1 and missing.stderr.startswith("gwalert: S000000x")


def test_publish_converts_for_gcn(tmp_path) -> None:
    from gwalert.cli.publish import _message

    path = tmp_path / "n.avro"
    path.write_bytes(samples.encode(samples.make_record(skymap=b"SIMPLE"), "avro"))
    value, key, fmt = _message(str(path), "gcn", raw=False)
    assert fmt == "json" and key == b"MS260101a" and value.startswith(b"{")
    assert decode(value)[0].content_hash == decode(path.read_bytes())[0].content_hash
    value, _, fmt = _message(str(path), "kafka", raw=False)
    assert fmt == "avro" and value == path.read_bytes()


def test_offset_jump_is_logged_as_incident(caplog) -> None:
    from gwalert.sources.kafka import KafkaSource
    from gwalert.sources.start import Partition

    src = KafkaSource(parse_url("kafka://127.0.0.1:1/t"), {}, group_id="g")
    src.parts[("t", 0)] = Partition(committed=120)
    caplog.set_level(logging.ERROR, "gwalert.kafka")
    src._check_offset(("t", 0), 120)  # resumed where it stopped: fine
    assert not caplog.records
    src._check_offset(("t", 0), 0)  # the broker lost its log or retention expired
    src._check_offset(("t", 0), 1)
    assert len(caplog.records) == 1 and "INCIDENT" in caplog.records[0].message


def test_doctor_reports_missing_gcn_credentials(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("GCN_CLIENT_ID", raising=False)
    monkeypatch.delenv("GCN_CLIENT_SECRET", raising=False)
    from gwalert.store import Store

    Store.open(str(tmp_path / "s.sqlite")).close()  # doctor reads a store, never creates one
    res = _cli(
        "doctor",
        "gcn://igwn.gwalert",
        "--store",
        str(tmp_path / "s.sqlite"),
        "--config",
        str(_empty_config(tmp_path)),
    )
    assert res.returncode == 1
    assert "ok      store" in res.stdout
    assert "PROBLEM credentials: no GCN credentials" in res.stdout


def _empty_config(tmp_path):
    path = tmp_path / "gwalert.toml"
    path.write_text("")
    return path


@pytest.mark.postgres
@pytest.mark.slow
def test_cli_listen_into_postgresql(tmp_path, postgres_url) -> None:
    d = tmp_path / "in"
    d.mkdir()
    for name, data in samples.sample_set().items():
        (d / name).write_bytes(data)
    res = _cli("listen", str(d), "--store", postgres_url)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("new ") == 5
    again = _cli("listen", str(d), "--store", postgres_url)
    assert again.stdout.count("duplicate ") == 10
    listed = _cli("notices", "--store", postgres_url, "--json")
    assert len(listed.stdout.splitlines()) == 5
    doc = _cli("doctor", "not-a-url", "--store", postgres_url)
    assert doc.returncode == 0 and "ok      store: postgresql+psycopg://" in doc.stdout
