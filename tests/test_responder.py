"""The responder end to end: real stores (SQLite, PostgreSQL), real actions and servers, retries,
slow and hanging actions, old notices, and a kill -9 in the middle of a stream."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from servers import http_server
from waiting import GENEROUS, wait_until

from gwalert import samples
from gwalert.alerts import decode
from gwalert.responder import Responder
from gwalert.rules import parse_config
from gwalert.store import Store, ledger

REPO = Path(__file__).resolve().parent.parent


def recent(minutes_ago: float = 5) -> str:
    t = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture(scope="module")
def maps() -> dict[str, bytes]:
    return {
        "small": samples.gaussian_skymap(120.0, -30.0, 5.0, max_level=5),
        "big": samples.gaussian_skymap(200.0, 10.0, 30.0, max_level=4),
    }


def make(
    sid: str,
    alert_type: str = "PRELIMINARY",
    *,
    skymap: bytes | None = None,
    created: str | None = None,
    fmt: str = "avro",
    **kw,
):
    rec = samples.make_record(
        sid, alert_type, time_created=created or recent(), skymap=skymap, **kw
    )
    return decode(samples.encode(rec, fmt))[0]


BBH = {"BNS": 0.0, "NSBH": 0.0, "BBH": 0.99, "Terrestrial": 0.01}


def issue_rules(tmp_path: Path, hook_url: str, *, extra: str = "") -> str:
    """The issue's three rules: real CBC with BNS >= 0.5 and 90% area <= 1000 deg2 -> command;
    any RETRACTION -> webhook; mock PRELIMINARY -> save."""
    act = tmp_path / "act.py"
    act.write_text(
        textwrap.dedent("""
        import fcntl, os, sys, time
        out = sys.argv[1]
        aid = os.environ["GWALERT_ACTION_ID"]
        sid = os.environ["GWALERT_SUPEREVENT_ID"]
        with open(os.path.join(out, "starts.log"), "a") as f:
            f.write(f"{aid} {sid}\\n")
        time.sleep(float(os.environ.get("ACT_SLEEP", "0")))
        # idempotent by GWALERT_ACTION_ID: what a user's script does to survive the
        # at-least-once window between finishing and the ledger recording "done"
        with open(os.path.join(out, "done.log"), "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.seek(0)
            if aid not in [line.split()[0] for line in f.read().splitlines()]:
                f.write(f"{aid} {sid}\\n")
    """)
    )
    return textwrap.dedent(f"""
        [responder]
        backoff = 0.1
        backoff_max = 0.5

        [[rule]]
        name = "bns"
        real = true
        group = "CBC"
        classification_min = {{ BNS = 0.5 }}
        area_90_max = 1000

        [[rule.action]]
        type = "command"
        argv = [{json.dumps(sys.executable)}, {json.dumps(str(act))},
                {json.dumps(str(tmp_path))}]
        env = {{ ACT_SLEEP = "{"0.4" if extra == "slow" else "0"}" }}

        [[rule]]
        name = "retraction"
        alert_type = "RETRACTION"

        [[rule.action]]
        type = "webhook"
        url = "{hook_url}/hook/SECRET-TOKEN"

        [[rule]]
        name = "mock-preliminary"
        mock = true
        alert_type = "PRELIMINARY"

        [[rule.action]]
        type = "save"
        dir = "{tmp_path / "saved"}"
    """)


def config_from(text: str, base: Path):
    import tomllib

    return parse_config(tomllib.loads(text), base=base)


# ------------------------------------------------------------------------------ stores
def rows(store: Store) -> list[dict]:
    with store.engine.connect() as conn:
        return [dict(r) for r in ledger.iter_rows(conn)]


def lines(path: Path) -> list[str]:
    return path.read_text().split("\n")[:-1] if path.exists() else []


# -------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_issue_rules_fire_exactly_once(store, tmp_path, maps, caplog):
    caplog.set_level(logging.INFO, logger="gwalert")
    with http_server() as hook:
        config = config_from(issue_rules(tmp_path, hook.url), tmp_path)
        responder = Responder(store, config, poll_interval=0.05)
        stream = [
            make("S260101a", skymap=maps["small"]),  # bns
            make("S260101b", skymap=maps["big"]),  # area too large
            make("S260101c", skymap=maps["small"], classification=BBH),  # not BNS
            make(
                "S260101d",
                skymap=maps["small"],
                group="Burst",
                pipeline="CWB",
                classification={},
                properties={},
            ),  # not CBC
            make("MS260101e", skymap=maps["small"]),  # mock prelim: save
            make("MS260101e", "INITIAL", skymap=maps["small"]),  # nothing
            make("S260101a", "RETRACTION"),  # webhook
            make("MS260101e", "RETRACTION"),  # webhook
            make("S260101f", skymap=maps["small"], created="2026-01-01T00:00:00Z"),  # too old
        ]
        responder.start()
        try:
            ids = []
            for n in stream:
                ids.append(store.add(n, source="test", hooks=[responder.schedule])[0])
            # duplicates (the same notice again, or via GCN JSON) schedule nothing more
            for n in stream:
                again = decode(samples.encode(n.record, "json"))[0]
                assert store.add(again, source="gcn", hooks=[responder.schedule]) == (
                    ids[stream.index(n)],
                    False,
                )
            assert responder.wait_idle(120)
        finally:
            responder.stop()
        got = {(r["notice_id"], r["rule"], r["action"]): r for r in rows(store)}
        expected = {
            (ids[0], "bns", "command"): "done",
            (ids[4], "mock-preliminary", "save"): "done",
            (ids[6], "retraction", "webhook"): "done",
            (ids[7], "retraction", "webhook"): "done",
            (ids[8], "bns", "command"): "skipped",
        }
        assert {k: r["state"] for k, r in got.items()} == expected
        assert all(r["attempts"] == (r["state"] == "done") for r in got.values())
        assert lines(tmp_path / "done.log") == [f"{ids[0]}/bns/command S260101a"]
        assert sorted(r.json()["superevent_id"] for r in hook.requests) == ["MS260101e", "S260101a"]
        assert {r.headers["Idempotency-Key"] for r in hook.requests} == {
            f"{ids[6]}/retraction/webhook",
            f"{ids[7]}/retraction/webhook",
        }
        (saved,) = (tmp_path / "saved" / "MS260101e").iterdir()
        assert (saved / "skymap.png").exists()
        assert got[(ids[8], "bns", "command")]["last_error"] == "older than max_age 1 d"
        # a later runner (a restart, a replay) finds nothing to do
        again = Responder(store, config, poll_interval=0.05)
        passes: list[int] = []
        dispatch = again._dispatch  # the real pass over the ledger, counted
        again._dispatch = lambda: (dispatch(), passes.append(1))  # type: ignore[method-assign]
        again.start()
        wait_until(lambda: len(passes) >= 2, what="two passes over the ledger")
        again.stop()
        assert lines(tmp_path / "done.log") == [f"{ids[0]}/bns/command S260101a"]
        assert len(hook.requests) == 2
    assert "SECRET-TOKEN" not in caplog.text


@pytest.mark.slow
def test_retry_with_backoff_then_failed(sqlite_store, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="gwalert")
    with http_server() as hook:
        config = parse_config(
            {
                "responder": {"backoff": 0.2, "backoff_max": 1},
                "rule": [
                    {
                        "name": "r",
                        "action": [
                            {
                                "type": "webhook",
                                "url": hook.url + "/ok/SECRET-TOKEN",
                                "name": "flaky",
                            },
                            {
                                "type": "webhook",
                                "url": hook.url + "/no/SECRET-TOKEN",
                                "name": "broken",
                                "attempts": 2,
                            },
                        ],
                    }
                ],
            }
        )
        hook.statuses = [500, 503, 500, 500]  # first three answers are errors
        responder = Responder(sqlite_store, config, poll_interval=0.05)
        with responder:
            start = time.monotonic()
            sqlite_store.add(make("S1"), source="t", hooks=[responder.schedule])
            assert responder.wait_idle(120)
            took = time.monotonic() - start
        by_name = {r["action"]: r for r in rows(sqlite_store)}
        assert by_name["flaky"]["state"] == "done"
        assert by_name["broken"]["state"] == "failed"
        assert by_name["broken"]["attempts"] == 2
        assert by_name["broken"]["last_error"].startswith("webhook on 127.0.0.1 answered HTTP 5")
        assert by_name["flaky"]["attempts"] + by_name["broken"]["attempts"] == 5
        assert took >= 0.2 + 0.4 - 0.05  # backoff 0.2 s then 0.4 s for the third attempt
    assert "SECRET-TOKEN" not in caplog.text
    assert all("SECRET" not in (r["last_error"] or "") for r in rows(sqlite_store))


@pytest.mark.slow
def test_slow_and_hanging_actions_block_nothing(sqlite_store, tmp_path):
    release, unhang = tmp_path / "release", threading.Event()
    with http_server() as hook:
        config = parse_config(
            {
                "rule": [
                    {
                        "name": "r",
                        "action": [
                            {  # runs until the test lets it finish
                                "type": "command",
                                "argv": [
                                    "sh",
                                    "-c",
                                    f"while [ ! -e {release} ]; do sleep 0.05; done",
                                ],
                                "name": "slow",
                            },
                            {  # hangs past its timeout, until the test lets it go
                                "type": "python",
                                "callable": lambda n: unhang.wait(GENEROUS),
                                "name": "hang",
                                "timeout": 0.3,
                                "attempts": 1,
                            },
                            {"type": "webhook", "url": hook.url, "name": "fast"},
                        ],
                    }
                ]
            }
        )
        responder = Responder(sqlite_store, config, poll_interval=0.05, grace=0.2)
        with responder:
            # storing returns while the slow actions cannot finish: the hook only writes the
            # ledger (were it behind them, this would hang)
            for i in range(3):
                sqlite_store.add(make(f"S{i}"), source="t", hooks=[responder.schedule])
            # every fast action done while no slow one can be: not behind them
            wait_until(lambda: len(hook.requests) == 3, what="the three webhooks")
            wait_until(
                lambda: (
                    [r["state"] for r in rows(sqlite_store) if r["action"] == "hang"]
                    == ["failed"] * 3
                ),
                what="the hanging actions abandoned at their timeout",
            )
            assert not release.exists()
            release.touch()
            assert responder.wait_idle(GENEROUS)
        unhang.set()
    assert len(hook.requests) == 3
    states = {
        (r["notice_id"], r["action"]): (r["state"], r["last_error"]) for r in rows(sqlite_store)
    }
    assert [v for (_, a), v in states.items() if a == "fast"] == [("done", None)] * 3
    assert [v for (_, a), v in states.items() if a == "slow"] == [("done", None)] * 3
    assert [v for (_, a), v in states.items() if a == "hang"] == [
        ("failed", "abandoned: still running after its timeout")
    ] * 3


def test_python_handler_gets_notice_and_broken_rule_is_recorded(sqlite_store, monkeypatch):
    seen = []
    config = parse_config(
        {
            "rule": [
                {
                    "name": "area",
                    "area_90_max": 100000,
                    "action": [
                        {
                            "type": "python",
                            "callable": lambda n: seen.append(("area", n.superevent_id)),
                        }
                    ],
                },
                {
                    "name": "all",
                    "action": [
                        {
                            "type": "python",
                            "callable": lambda n: seen.append(("all", n.superevent_id)),
                        }
                    ],
                },
            ]
        }
    )
    from gwalert.skymap import SkyMap

    def broken(self, p=0.9):
        raise ValueError("bad map")

    monkeypatch.setattr(SkyMap, "credible_area", broken)
    # the analysis in this process (where the patch applies), not in the budget's worker
    monkeypatch.setenv("GWALERT_ANALYSIS_TIMEOUT", "0")
    responder = Responder(sqlite_store, config, poll_interval=0.05)
    with responder:
        nid, new = sqlite_store.add(
            make("S9", skymap=samples.gaussian_skymap(max_level=4)),
            source="t",
            hooks=[responder.schedule],
        )
        assert new  # a rule that cannot be evaluated never keeps a notice out of the store
        assert responder.wait_idle(120)
    assert seen == [("all", "S9")]
    states = {r["rule"]: (r["state"], r["last_error"]) for r in rows(sqlite_store)}
    assert states["all"] == ("done", None)
    assert states["area"][0] == "failed"
    assert "rule could not be evaluated: ValueError: bad map" in states["area"][1]
    # once the map can be analysed, a retry evaluates the rule again (it matches now)
    monkeypatch.undo()
    from gwalert.store import write_transaction

    notice = decode(sqlite_store.get_notice(nid).raw)[0]
    with Responder(sqlite_store, config, poll_interval=0.05) as responder:
        with write_transaction(sqlite_store.engine) as conn:
            assert ledger.retry_failed(conn, [nid]) == 1
            responder.schedule(conn, nid, notice, None)
        assert responder.wait_idle(120)
    assert sorted(seen) == [("all", "S9"), ("area", "S9")]
    assert {r["state"] for r in rows(sqlite_store)} == {"done"}


def test_old_notices_fire_only_when_asked(sqlite_store, tmp_path):
    seen = []
    config = parse_config(
        {
            "rule": [
                {
                    "name": "r",
                    "action": [
                        {"type": "python", "callable": lambda n: seen.append(n.superevent_id)}
                    ],
                }
            ]
        }
    )
    old = make("S1", created="2026-01-01T00:00:00Z")
    with Responder(sqlite_store, config, poll_interval=0.05) as responder:
        nid, _ = sqlite_store.add(old, source="t", hooks=[responder.schedule])
        assert responder.wait_idle(120)
    assert seen == [] and rows(sqlite_store)[0]["state"] == "skipped"
    from gwalert.store import write_transaction

    with Responder(sqlite_store, config, poll_interval=0.05, ignore_age=True) as responder:
        with write_transaction(sqlite_store.engine) as conn:
            responder.schedule(conn, nid, old, None)
        assert responder.wait_idle(120)
    assert seen == ["S1"] and rows(sqlite_store)[0]["state"] == "done"


# ------------------------------------------------------------------------------ kill -9
LISTENER = """
import logging, sys, time
from gwalert.pipeline import Pipeline, run
from gwalert.responder import Responder
from gwalert.rules import load_config
from gwalert.sources.files import FileSource
from gwalert.store import Store

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")


class Trickle(FileSource):  # a live stream: one message every 0.1 s
    def messages(self, stop):
        for message in super().messages(stop):
            time.sleep(0.1)  # pacing the input (a live stream), not a wait
            yield message


store = Store.open(sys.argv[1])
responder = Responder(store, load_config(sys.argv[2]), poll_interval=0.05, lease=5)
pipeline = Pipeline(store, hooks=[responder.schedule], after_commit=[responder.wake])
responder.start()
run(Trickle(sys.argv[3]), pipeline)
ok = responder.wait_idle(60)
responder.stop()
print("IDLE" if ok else "BUSY", flush=True)
"""


@pytest.mark.slow
def test_kill_9_mid_stream_then_restart(tmp_path, maps):
    stream_dir = tmp_path / "stream"
    stream_dir.mkdir()
    expect_cmd, expect_hook, expect_save = [], [], []
    k = 0

    def put(n) -> None:
        nonlocal k
        (stream_dir / f"{k:03d}.avro").write_bytes(n.raw)
        k += 1

    for i in range(6):
        put(make(f"S26020{i}a", skymap=maps["small"]))
        expect_cmd.append(f"S26020{i}a")
        put(make(f"MS26020{i}b", skymap=maps["small"]))
        expect_save.append(f"MS26020{i}b")
        put(make(f"S26020{i}c", skymap=maps["big"]))  # nothing
        put(make(f"S26020{i}a", "RETRACTION"))
        expect_hook.append(f"S26020{i}a")
    db = tmp_path / "store.sqlite"
    script = tmp_path / "listener.py"
    script.write_text(LISTENER)
    with http_server() as hook:
        hook.delay = 0.2
        cfg = tmp_path / "gwalert.toml"
        cfg.write_text(issue_rules(tmp_path, hook.url, extra="slow"))
        argv = [sys.executable, str(script), str(db), str(cfg), str(stream_dir)]
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
        log1 = open(tmp_path / "run1.log", "w")
        first = subprocess.Popen(argv, stdout=log1, stderr=subprocess.STDOUT, env=env)

        def mid_stream() -> int:  # stored count once mid-stream with a command in flight
            starts = {x.split()[0] for x in lines(tmp_path / "starts.log")}
            done = {x.split()[0] for x in lines(tmp_path / "done.log")}
            stored = _count(db, "gwalert_notices")
            return stored if stored >= 8 and starts - done else 0

        stored_at_kill = wait_until(mid_stream, what="mid-stream", procs=(first,))
        os.kill(first.pid, signal.SIGKILL)
        kill_time = time.monotonic()
        first.wait(120)
        log1.close()
        assert stored_at_kill is not None, (tmp_path / "run1.log").read_text()[-2000:]
        assert first.returncode == -signal.SIGKILL
        assert stored_at_kill < k  # killed mid-stream
        second = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=90)
        assert second.returncode == 0 and "IDLE" in second.stdout, second.stderr[-2000:]

        # every notice stored once, every expected action recorded done once
        assert _count(db, "gwalert_notices") == k
        with sqlite3.connect(db) as conn:
            states = conn.execute(
                "SELECT rule, state, COUNT(*) FROM gwalert_actions GROUP BY rule, state"
            ).fetchall()
        assert sorted(states) == [
            ("bns", "done", 6),
            ("mock-preliminary", "done", 6),
            ("retraction", "done", 6),
        ]
        done = lines(tmp_path / "done.log")
        assert sorted(x.split()[1] for x in done) == sorted(expect_cmd)
        assert len({x.split()[0] for x in done}) == 6
        # the command in flight at the kill was not cut short, nor run again: it finished on
        # its own, its exit marker said so, and the restart recorded it done
        starts = lines(tmp_path / "starts.log")
        assert sorted(starts) == sorted(done)
        assert sorted({r.json()["superevent_id"] for r in hook.requests}) == sorted(expect_hook)
        _at_least_once_only_across_the_kill(hook.requests, kill_time, 6)
        assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == sorted(expect_save)


def _at_least_once_only_across_the_kill(requests: list, kill_time: float, n: int) -> None:
    """Each webhook delivered under one stable Idempotency-Key; a key seen twice only when its
    first delivery was in flight when the listener was killed (the documented window)."""
    by_key: dict[str, list[float]] = {}
    for r in requests:
        by_key.setdefault(r.headers["Idempotency-Key"], []).append(r.at)
    assert len(by_key) == n
    for key, times in by_key.items():
        assert len(times) <= 2, key
        if len(times) == 2:
            # The repeat comes from the restarted run. (The first delivery was sent before the
            # kill — a killed process sends nothing — but the server may record it a little
            # after, when its thread is scheduled late on a loaded machine.)
            assert times[1] > kill_time, key


def _count(db: Path, table: str) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


# ------------------------------------------------------------------ Python API, CLI replay
def test_handler_api_user_guide_parse_notice(tmp_path):
    from gwalert.handlers import Handlers

    for name, data in samples.sample_set().items():
        (tmp_path / name).write_bytes(data)
    api = Handlers()
    printed = []

    @api.handler(mock=True)
    def parse_notice(notice):  # the user guide's function, as a handler
        if notice.is_retraction:
            printed.append(f"{notice.superevent_id} was retracted")
            return
        ra, dec = notice.skymap.most_probable()
        printed.append(f"{notice.superevent_id} {notice.alert_type} {ra:.1f} {dec:.1f}")

    @api.handler(alert_type="RETRACTION", real=True)
    def never(notice):
        printed.append("real retraction?")

    with pytest.raises(Exception, match="key 'far_mx': unknown key"):
        api.handler(far_mx=1)(lambda n: None)
    store_path = tmp_path / "s.sqlite"
    assert api.replay(tmp_path, store=str(store_path)) == 10  # 5 notices, Avro and JSON
    assert (
        sorted(printed)
        == sorted(
            [
                "MS260101a INITIAL 120.1 -30.0",
                "MS260101a PRELIMINARY 120.1 -30.0",
                "MS260101a UPDATE 120.1 -30.0",
                "MS260101a was retracted",
                "MS260102b PRELIMINARY 199.9 40.1",
            ]
        )
        or printed
    )
    assert api.replay(tmp_path, store=str(store_path)) == 10
    assert len(printed) == 5  # the same store: nothing runs twice


@pytest.mark.slow
def test_cli_replay_runs_actions_once(tmp_path, capsys):
    from gwalert.cli import main

    stream = tmp_path / "notices"
    stream.mkdir()
    for name, data in samples.sample_set().items():
        (stream / name).write_bytes(data)
    with http_server() as hook:
        cfg = tmp_path / "gwalert.toml"
        cfg.write_text(issue_rules(tmp_path, hook.url))
        store = str(tmp_path / "s.sqlite")
        args = ["replay", str(stream), "--config", str(cfg), "--store", store, "--no-progress"]
        assert main(args + ["--json"]) == 0  # the samples are older than max_age
        records = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert sorted((r["rule"], r["state"]) for r in records) == [
            ("mock-preliminary", "skipped"),
            ("mock-preliminary", "skipped"),
            ("retraction", "skipped"),
        ]
        assert hook.requests == [] and not (tmp_path / "saved").exists()
        assert main(args + ["--ignore-age"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert sorted(out) == [
            "MS260101a PRELIMINARY mock-preliminary/save: done",
            "MS260101a RETRACTION retraction/webhook: done",
            "MS260102b PRELIMINARY mock-preliminary/save: done",
        ]
        assert len(hook.requests) == 1
        assert (
            main(
                args[:1] + ["--config", str(cfg), "--store", store, "--ignore-age", "--no-progress"]
            )
            == 0
        )  # from the store: nothing new runs
        assert len(hook.requests) == 1


@pytest.mark.slow
def test_two_runners_share_one_ledger(store, tmp_path):
    """Two responders (two listeners on one store) never run the same action twice."""
    seen: list[tuple[str, str]] = []
    config = parse_config(
        {
            "rule": [
                {
                    "name": "r",
                    "action": [
                        {
                            "type": "python",
                            "callable": lambda n: (
                                seen.append((n.superevent_id, "a")),
                                time.sleep(0.02),
                            ),
                        }
                    ],
                }
            ]
        }
    )
    a = Responder(store, config, poll_interval=0.01, workers=3)
    b = Responder(store, config, poll_interval=0.01, workers=3)
    with a, b:
        for i in range(30):
            store.add(make(f"S{i:03d}"), source="t", hooks=[(a, b)[i % 2].schedule])
        assert a.wait_idle(120)
    assert sorted(seen) == sorted((f"S{i:03d}", "a") for i in range(30))
    assert {r["state"] for r in rows(store)} == {"done"}


@pytest.mark.broker
@pytest.mark.slow
def test_kill_9_listener_on_a_real_broker(kafka_broker, tmp_path, maps):
    """The issue's drill: three rules, a stream of mixed notices through a Kafka-protocol
    broker, ``gwalert listen --config`` killed with -9 mid-stream, restarted: every action ran
    exactly once."""
    import threading

    import confluent_kafka

    topic = f"igwn.gwalert-{uuid.uuid4().hex[:8]}"
    values, expect_cmd, expect_hook, expect_save = [], [], [], []
    for i in range(5):
        values.append(make(f"S26030{i}a", skymap=maps["small"]).raw)
        expect_cmd.append(f"S26030{i}a")
        values.append(make(f"MS26030{i}b", skymap=maps["small"]).raw)
        expect_save.append(f"MS26030{i}b")
        values.append(make(f"S26030{i}c", skymap=maps["big"], classification=BBH).raw)
        values.append(make(f"S26030{i}a", "RETRACTION", fmt="json").raw)
        expect_hook.append(f"S26030{i}a")
    db = tmp_path / "store.sqlite"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    producer = confluent_kafka.Producer(
        {"bootstrap.servers": kafka_broker.bootstrap, "linger.ms": 0}
    )

    def publish(batch: list[bytes]) -> None:
        for value in batch:  # one message per request (tansu's watermark quirk)
            producer.produce(topic, value=value)
            assert producer.flush(120) == 0
            time.sleep(0.1)  # pacing the input (a live stream), not a wait

    publish(values[:2])  # the topic exists before the listener subscribes
    with http_server() as hook:
        hook.delay = 0.2
        cfg = tmp_path / "gwalert.toml"
        cfg.write_text(issue_rules(tmp_path, hook.url, extra="slow"))
        # exactly what a user runs
        argv = [
            sys.executable,
            "-m",
            "gwalert",
            "listen",
            kafka_broker.url(topic),
            "--no-auth",
            "--store",
            str(db),
            "--config",
            str(cfg),
            "--start-at",
            "earliest",
            "--no-heartbeat",
            "--kafka-option",
            "session.timeout.ms=6000",
            "--kafka-option",
            "heartbeat.interval.ms=1000",
            "-v",
        ]
        log1 = open(tmp_path / "run1.log", "w")
        first = subprocess.Popen(argv, stdout=log1, stderr=subprocess.STDOUT, env=env)
        wait_until(  # the listener has joined its group and consumes
            lambda: _count(db, "gwalert_notices") >= 2, what="the first two notices", procs=(first,)
        )
        rest = threading.Thread(target=publish, args=(values[2:],))
        rest.start()

        def mid_stream() -> int:  # stored count once mid-stream with a command in flight
            starts = {x.split()[0] for x in lines(tmp_path / "starts.log")}
            done = {x.split()[0] for x in lines(tmp_path / "done.log")}
            stored = _count(db, "gwalert_notices")
            return stored if stored >= 6 and starts - done else 0

        wait_until(mid_stream, what="mid-stream", procs=(first,))
        os.kill(first.pid, signal.SIGKILL)
        killed_at = _count(db, "gwalert_notices")
        kill_time = time.monotonic()
        first.wait(120)
        log1.close()
        rest.join(60)
        assert killed_at is not None, (tmp_path / "run1.log").read_text()[-3000:]
        assert killed_at < len(values)
        # the restart runs until every notice is stored and every action is over (not
        # --until-eos: that stops after a fixed 10 s for running actions, which a loaded
        # machine's sky-map renders can outlast), then is stopped as an operator would
        log2 = open(tmp_path / "run2.log", "w")
        second = subprocess.Popen(argv, stdout=log2, stderr=subprocess.STDOUT, env=env)
        try:
            wait_until(
                lambda: (
                    _count(db, "gwalert_notices") == len(values)
                    and _count(db, "gwalert_actions WHERE state IN ('done', 'failed', 'skipped')")
                    == 15
                ),
                what="every notice stored and every action over",
                procs=(second,),
            )
            second.send_signal(signal.SIGTERM)
            assert second.wait(GENEROUS) == 0, (tmp_path / "run2.log").read_text()[-3000:]
        finally:
            if second.poll() is None:
                second.kill()
            log2.close()
        assert _count(db, "gwalert_notices") == len(values)
        with sqlite3.connect(db) as conn:
            states = conn.execute(
                "SELECT rule, state, COUNT(*) FROM gwalert_actions GROUP BY rule, state"
            ).fetchall()
            errors = conn.execute(
                "SELECT rule, state, attempts, last_error FROM gwalert_actions"
                " WHERE state != 'done'"
            ).fetchall()
        assert sorted(states) == [
            ("bns", "done", 5),
            ("mock-preliminary", "done", 5),
            ("retraction", "done", 5),
        ], (errors, (tmp_path / "run2.log").read_text()[-3000:])
        done = lines(tmp_path / "done.log")
        assert sorted(x.split()[1] for x in done) == sorted(expect_cmd)
        # the command in flight at the kill finished on its own (its exit marker said so):
        # recorded done after the restart, never started twice
        assert sorted(lines(tmp_path / "starts.log")) == sorted(done)
        assert sorted({r.json()["superevent_id"] for r in hook.requests}) == sorted(expect_hook)
        _at_least_once_only_across_the_kill(hook.requests, kill_time, 5)
        assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == sorted(expect_save)


@pytest.mark.slow
def test_status_retry_failed_and_vanished_action(tmp_path, capsys):
    from gwalert.cli import main

    with http_server() as hook:
        hook.statuses = [500]
        cfg = tmp_path / "gwalert.toml"
        cfg.write_text(
            f'[[rule]]\nname = "r"\nmax_age = false\n[[rule.action]]\n'
            f'type = "webhook"\nurl = "{hook.url}/x/SECRET-TOKEN"\nattempts = 1\n'
        )
        (tmp_path / "n.avro").write_bytes(make("S1").raw)
        store = str(tmp_path / "s.sqlite")
        common = ["--config", str(cfg), "--store", store, "--no-progress"]
        assert main(["replay", str(tmp_path / "n.avro"), *common]) == 1
        capsys.readouterr()
        assert main(["rules", "status", "--store", store, "--state", "failed"]) == 0
        out = capsys.readouterr().out
        assert out == (
            "S1 PRELIMINARY r/webhook: failed (1 attempt(s)): webhook on 127.0.0.1 "
            "answered HTTP 500 Internal Server Error\n"
        )
        assert main(["replay", *common]) == 1  # failed stays failed without --retry-failed
        assert main(["replay", *common, "--retry-failed"]) == 0
        assert len(hook.requests) == 2
        capsys.readouterr()
        assert main(["rules", "status", "--store", store, "--json"]) == 0
        (row,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert row["state"] == "done" and "SECRET" not in json.dumps(row)
    # a due action whose rule was removed from the config fails at once, not retried
    s = Store.open(store)
    try:
        with s.engine.begin() as conn:
            ledger.insert_new(conn, [ledger.row(1, "gone", "webhook", "webhook", max_attempts=4)])
        with Responder(s, parse_config({}), poll_interval=0.05) as responder:
            assert responder.wait_idle(120)
        gone = [r for r in rows(s) if r["rule"] == "gone"][0]
        assert (gone["state"], gone["attempts"]) == ("failed", 1)
        assert "no action 'webhook' in the current config" in gone["last_error"]
    finally:
        s.close()


def test_own_running_action_is_never_claimed_twice(sqlite_store):
    """Even when its lease has expired (a stalled renewal), a runner never starts a second copy
    of an action it is still running."""
    seen = []
    config = parse_config(
        {
            "rule": [
                {
                    "name": "r",
                    "action": [
                        {
                            "type": "python",
                            "callable": lambda n: (seen.append(n.superevent_id), time.sleep(1.0)),
                        }
                    ],
                }
            ]
        }
    )
    responder = Responder(sqlite_store, config, poll_interval=0.02, lease=0.1)
    responder._renew = lambda: None  # renewal stalls: the lease expires while it runs
    with responder:
        sqlite_store.add(make("S1"), source="t", hooks=[responder.schedule])
        assert responder.wait_idle(120)
    assert seen == ["S1"]
    (row,) = rows(sqlite_store)
    assert (row["state"], row["attempts"]) == ("done", 1)


@pytest.mark.broker
@pytest.mark.slow
def test_handler_api_listen_on_a_real_broker(kafka_broker, tmp_path):
    import confluent_kafka

    from gwalert.handlers import Handlers

    topic = f"igwn.gwalert-{uuid.uuid4().hex[:8]}"
    producer = confluent_kafka.Producer(
        {"bootstrap.servers": kafka_broker.bootstrap, "linger.ms": 0}
    )
    for n in (make("MS260401a"), make("S260401b"), make("MS260401a", "RETRACTION")):
        producer.produce(topic, value=n.raw)
        assert producer.flush(120) == 0
    api = Handlers()
    got = []

    @api.handler(mock=True)
    def parse_notice(notice):
        got.append((notice.superevent_id, str(notice.alert_type)))

    stats = api.listen(
        kafka_broker.url(topic),
        store=str(tmp_path / "s.sqlite"),
        no_auth=True,
        start_at="earliest",
        until_eos=True,
        heartbeat=False,
        group_id="handler-test",
        options={"session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"},
    )
    assert stats.new == 3
    assert sorted(got) == [("MS260401a", "PRELIMINARY"), ("MS260401a", "RETRACTION")]


@pytest.mark.slow
def test_command_killed_on_every_attempt_is_recorded_as_such(sqlite_store, tmp_path):
    """The issue's case: a command killed on each attempt (by its timeout, by a signal from
    outside) ran each time; the ledger says so for every attempt, and that it never
    completed. A program that exits with an error is a plain failure, not a kill."""
    runs = tmp_path / "runs.log"
    script = (
        f'echo "$GWALERT_ATTEMPT" >> {runs}; '
        'if [ "$GWALERT_ATTEMPT" = 1 ]; then sleep 5; else kill -KILL $$; fi'
    )
    config = parse_config(
        {
            "responder": {"backoff": 0.1, "backoff_max": 0.2},
            "rule": [
                {
                    "name": "r",
                    "action": [
                        {
                            "type": "command",
                            "name": "killed",
                            "argv": ["sh", "-c", script],
                            "timeout": 0.5,
                            "attempts": 3,
                        },
                        {
                            "type": "command",
                            "name": "exits",
                            "argv": ["sh", "-c", "exit 4"],
                            "attempts": 2,
                        },
                    ],
                }
            ],
        }
    )
    with Responder(sqlite_store, config, poll_interval=0.05) as responder:
        sqlite_store.add(make("S1"), source="t", hooks=[responder.schedule])
        assert responder.wait_idle(120)
    by_name = {r["action"]: r for r in rows(sqlite_store)}
    killed = by_name["killed"]
    assert killed["state"] == "failed" and killed["attempts"] == 3
    assert runs.read_text().split() == ["1", "2", "3"]  # it ran each time
    error = killed["last_error"]
    assert error.endswith("ran and was killed on each of its 3 attempt(s), never completed")
    assert error.startswith("'sh' ran ") and "was killed by SIGKILL (not by gwalert)" in error
    assert "(attempt 3/3) | earlier: " in error
    assert "was killed: timed out after 0.5 s (attempt 1/3)" in error
    assert error.count("(attempt ") == 3
    exits = by_name["exits"]
    assert exits["state"] == "failed" and exits["attempts"] == 2
    assert "exit status 4" in exits["last_error"] and "never completed" not in exits["last_error"]


def test_last_attempt_interrupted_is_recovered_not_rerun(sqlite_store, tmp_path):
    """A runner killed -9 during an action's last attempt: the command's exit marker decides
    (done when it completed, failed when there is none); the command is never run again."""
    import hashlib
    import socket

    import sqlalchemy as sa

    ran = tmp_path / "ran"
    config = parse_config(
        {
            "rule": [
                {
                    "name": "r",
                    "action": [
                        {
                            "type": "command",
                            "name": c,
                            "argv": ["sh", "-c", f"echo {c} >> {ran}"],
                            "attempts": 2,
                        }
                        for c in ("completed", "cut")
                    ],
                }
            ]
        }
    )
    responder = Responder(sqlite_store, config, poll_interval=0.05)
    notice = make("S1")
    nid, _ = sqlite_store.add(notice, source="t", hooks=[responder.schedule])
    dead = subprocess.Popen(["true"])
    dead.wait()
    c = ledger.actions.c
    with sqlite_store.engine.begin() as conn:
        conn.execute(
            ledger.actions.update().values(
                state="running",
                attempts=2,
                lease_until=time.time() + 600,
                lease_owner=f"{socket.gethostname()}:{dead.pid}:dead",
            )
        )
        ids = dict(conn.execute(sa.select(c.action, c.id)).all())
    marker_dir = Path(responder.state_dir)
    marker_dir.mkdir(parents=True, exist_ok=True)
    tag = hashlib.sha256(f"{nid}/r/completed\0{notice.content_hash}".encode()).hexdigest()[:16]
    (marker_dir / f"{responder._store_key}-{ids['completed']}.exit").write_text(f"0 {tag}\n")
    with responder:
        assert responder.wait_idle(120)
    by_name = {r["action"]: r for r in rows(sqlite_store)}
    assert (by_name["completed"]["state"], by_name["completed"]["attempts"]) == ("done", 2)
    assert by_name["cut"]["state"] == "failed" and by_name["cut"]["attempts"] == 2
    assert "did not complete" in by_name["cut"]["last_error"]
    assert not ran.exists()  # neither was run again
    assert list(marker_dir.iterdir()) == []  # the marker is removed once recorded
