"""Daily use, round two (issue 19): values that start with a minus sign, option typos,
messages that quote what was typed, stores that never appear from failures, doctor saying
what is true now, readable durations and errors. Each test walks every parser or a class of
inputs rather than the examples of the issue."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwalert import samples
from gwalert.cli import build_parser, main
from gwalert.store import Store, ledger
from gwalert.util import duration

VALUELESS = (
    argparse._StoreTrueAction,
    argparse._StoreFalseAction,
    argparse._CountAction,
    argparse._HelpAction,
    argparse._VersionAction,
    argparse._StoreConstAction,
)


def commands() -> list[tuple[list[str], argparse.ArgumentParser]]:
    """Every (sub-)command that runs something, with its parser, from the parser itself."""
    out = []
    top = build_parser()
    verbs = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    for verb, parser in verbs.choices.items():
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if subs:
            out += [([verb, name], p) for name, p in subs[0].choices.items()]
        else:
            out.append(([verb], parser))
    return out


def placeholders(parser: argparse.ArgumentParser, but: object = None) -> list[str]:
    """Values for the required arguments of ``parser`` (other than ``but``)."""
    out: list[str] = []
    for a in parser._actions:
        if a.option_strings and a.required and a is not but:
            out += [a.option_strings[-1], "x"]
        if a.option_strings or isinstance(a, argparse._SubParsersAction):
            continue
        if a.nargs in (None, "+"):
            out.append("x")
        elif isinstance(a.nargs, int):
            out += ["x"] * a.nargs
    return out


def valued_options() -> list[tuple[list[str], argparse.ArgumentParser, argparse.Action]]:
    return [
        (cmd, p, a)
        for cmd, p in commands()
        for a in p._actions
        if a.option_strings and not isinstance(a, VALUELESS) and not a.choices
    ]


def test_the_walk_covers_every_verb():
    from gwalert.cli import VERBS

    assert {c[0] for c, _ in commands()} == set(VERBS)
    names = {o for _, _, a in valued_options() for o in a.option_strings}
    assert {"--site", "--radec", "--store"} <= names


negative = st.floats(-1e4, -1e-6, allow_nan=False).map(
    lambda x: st.sampled_from([repr(x), f"{x:.3g}", f"{x:.2e}", f"{x:.4f}"])
)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_every_option_takes_values_that_start_with_a_minus_sign(data):
    """--site -30.24,-70.74,2663, --radec -45 -30, --fov -1e-3...: a value that starts with a
    minus and a digit is a value for every option of every command, as typed."""
    for cmd, parser, action in valued_options():
        n = action.nargs if isinstance(action.nargs, int) else 1
        number = [data.draw(data.draw(negative)) for _ in range(n)]
        if action.type in (None, str):  # free text: a coordinate list as --site takes it
            number = [",".join(data.draw(data.draw(negative)) for _ in range(3)) for _ in range(n)]
        elif action.type is int:
            number = [str(data.draw(st.integers(-(10**6), -1))) for _ in range(n)]
        elif action.type is not float:
            continue  # a parser of its own (a time, KEY=VALUE): not a number
        argv = [*placeholders(parser, action), action.option_strings[-1], *number]
        ns = parser.parse_args(argv)
        got = getattr(ns, action.dest)
        if action.type is not None:
            want = [action.type(v) for v in number]
        else:
            want = list(number)
        if isinstance(action, argparse._AppendAction):
            got = got[-1]
        assert (got if isinstance(got, list) else [got]) == want, (cmd, action.dest)


def test_negative_site_end_to_end(capsys, tmp_path):
    path = tmp_path / "m.fits"
    path.write_bytes(samples.gaussian_skymap(30.0, -40.0, 5.0, distance=None, max_level=6))
    args = ["skymap", str(path), "--site", "-30.24,-70.74,2663", "--night-of", "2026-06-01"]
    assert main(args) == 0
    assert "observability from -30.24,-70.74" in capsys.readouterr().out


def swaps(word: str) -> list[str]:
    """The word with two neighbouring letters of its name swapped (a typo)."""
    head, name = word[:2], word[2:]
    return [
        head + name[:i] + name[i + 1] + name[i] + name[i + 2 :]
        for i in range(len(name) - 1)
        if name[i] != name[i + 1] and name[i].isalpha() and name[i + 1].isalpha()
    ]


@pytest.mark.parametrize("cmd", [c for c, _ in commands()], ids=" ".join)
def test_option_typos_get_did_you_mean_under_the_verbs_usage(capsys, cmd):
    parser = dict((tuple(c), p) for c, p in commands())[tuple(cmd)]
    known = {o for a in parser._actions for o in a.option_strings}
    tried = 0
    for a in parser._actions:
        for option in (o for o in a.option_strings if o.startswith("--") and len(o) >= 6):
            for typo in swaps(option)[-2:]:
                if any(k.startswith(typo) for k in known):
                    continue  # argparse takes an unambiguous prefix: not a typo
                with pytest.raises(SystemExit) as info:
                    main([*cmd, *placeholders(parser), typo])
                err = capsys.readouterr().err
                assert info.value.code == 2
                assert err.startswith(f"usage: gwalert {' '.join(cmd)} "), err
                assert f"unknown option {typo} (did you mean '--" in err, err
                tried += 1
    assert tried


@pytest.mark.parametrize(
    "typed,quoted",
    [
        ("kafka:/host/topic", "'kafka:/'"),
        ("Kafka:///host/topic", "'Kafka:///'"),
        ("gcn:/igwn.gwalert", "'gcn:/'"),
        ("ftp://x/y", "'ftp://'"),
        ("kafk://kafka.scimma.org/igwn.gwalert", "'kafk://'"),
        ("nosuchdir/", "nosuchdir/"),
    ],
)
def test_messages_quote_what_was_typed_and_failures_create_no_store(
    capsys, tmp_path, typed, quoted
):
    store = tmp_path / "s.sqlite"
    assert main(["listen", typed, "--store", str(store)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"gwalert: {typed}: ") and quoted in err and err.count("\n") == 1
    assert "://" not in quoted or "did you mean" in err or "use kafka://" in err
    assert list(tmp_path.iterdir()) == []


def test_no_store_from_failures_only_from_a_listener_that_starts(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no hop credentials
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    store = tmp_path / "s.sqlite"
    s = ["--store", str(store)]
    assert main(["listen", "kafka://kafka.scimma.org/igwn.gwalert", *s]) == 1
    assert "credentials" in capsys.readouterr().err
    assert main(["doctor", "kafka://127.0.0.1:9/t", "--no-auth", "--timeout", "1", *s]) == 1
    assert f"PROBLEM store: no store at {store}" in capsys.readouterr().out
    for verb in (["events"], ["notices"], ["rules", "status"]):
        assert main([*verb, *s]) == 1
        assert f"no store at {store}" in capsys.readouterr().err
    assert not store.exists()
    d = tmp_path / "in"
    d.mkdir()
    for name, data in samples.sample_set().items():
        (d / name).write_bytes(data)
    assert main(["listen", str(d), *s, "-q"]) == 0
    assert store.exists()


# ------------------------------------------------------------------ doctor: what is true now
def test_doctor_long_gone_feeds_are_history_not_problems(capsys, tmp_path, monkeypatch):
    import sqlalchemy as sa

    from gwalert.store import feeds as feedstatus

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    url = str(tmp_path / "s.sqlite")
    store = Store.open(url)
    feedstatus.create(store.engine)
    now = datetime.now(UTC)
    ages = {"old": timedelta(days=3), "recent": timedelta(minutes=5), "live": timedelta(0)}
    for name in ages:
        feedstatus.write(
            store.engine, [{"feed": f"/data/{name}", "state": "failed", "detail": "boom"}]
        )
    with store.engine.begin() as conn:
        for name, age in ages.items():
            conn.execute(
                sa.update(feedstatus.feeds)
                .where(feedstatus.feeds.c.feed == f"/data/{name}")
                .values(updated_at=(now - age).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
            )
    store.close()
    main(
        ["doctor", "kafka://127.0.0.1:9/t", "--no-auth", "--timeout", "1", "--store", url, "--json"]
    )
    checks = json.loads(capsys.readouterr().out)["checks"]
    by_feed = {c["feed"]: c for c in checks if c["check"] == "listener"}
    assert by_feed["/data/old"]["status"] == "note"
    assert "no listener for 3 d" in by_feed["/data/old"]["detail"]
    assert by_feed["/data/recent"]["status"] == "problem"
    assert by_feed["/data/live"]["status"] == "problem"  # failed now: a problem now


@pytest.mark.broker
def test_doctor_no_credentials_needed_for_a_no_auth_broker(
    kafka_broker, capsys, tmp_path, monkeypatch
):
    """A feed whose listener ran with --no-auth: doctor (without --no-auth, no credentials)
    finds the broker answers without and says so, instead of "no credentials"."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    from gwalert.store import feeds as feedstatus

    url = str(tmp_path / "s.sqlite")
    store = Store.open(url)
    feedstatus.create(store.engine)
    feed = kafka_broker.url("igwn.gwalert")
    feedstatus.write(store.engine, [{"feed": feed, "state": "ok"}])
    store.close()
    main(["doctor", "--store", url, "--json", "--timeout", "30"])
    checks = json.loads(capsys.readouterr().out)["checks"]
    creds = [c for c in checks if c["check"] == "credentials"]
    assert creds and all(c["status"] == "ok" for c in creds), checks
    assert "none needed" in creds[0]["detail"]


# ------------------------------------------------------------------ durations, errors
@given(st.integers(1, 10**9))
def test_durations_read_as_at_most_two_units_and_round_trip_when_exact(seconds):
    text = duration(timedelta(seconds=seconds))
    parts = text.split()
    assert len(parts) in (2, 4) and "day" not in text and ":" not in text
    sizes = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
    total = sum(int(n) * sizes[u] for n, u in zip(parts[::2], parts[1::2], strict=True))
    assert total <= seconds
    if len(parts) == 2:
        assert total == seconds  # one unit: exact (the config's own notation)
    else:
        assert seconds - total < sizes[parts[3]]


@given(
    st.lists(st.sampled_from(["boom", "timeout after 60 s", "HTTP 500"]), min_size=1, max_size=6)
)
def test_ledger_errors_say_each_run_of_equal_attempts_once(errors):
    text = None
    for i, e in enumerate(errors, 1):
        text = ledger.attempt_history(e, i, len(errors), text, final=i == len(errors))
    from gwalert.cli._ledger_text import error_text

    shown = error_text(text)
    assert shown is not None
    runs = 1 + sum(a != b for a, b in zip(errors, errors[1:], strict=False))
    assert len(shown.split(" | earlier: ")) == runs
    for e in set(errors):
        assert shown.count(e) == sum(
            1 for i, x in enumerate(errors) if x == e and (i == 0 or errors[i - 1] != e)
        )


def test_rules_status_reads_well(capsys, tmp_path):
    url = str(tmp_path / "s.sqlite")
    store = Store.open(url)
    rec = samples.make_record("S1", "PRELIMINARY", time_created="2026-01-01T00:00:00Z")
    from gwalert.alerts import decode

    nid, _ = store.add(decode(samples.encode(rec))[0], source="t")
    ledger.create(store.engine)
    text = None
    for i in range(1, 5):
        text = ledger.attempt_history("boom", i, 4, text, final=i == 4)
    with store.engine.begin() as conn:
        rows = [
            ledger.row(nid, "r", "a", "save", max_attempts=4, state="failed", error=text),
            ledger.row(
                nid,
                "r",
                "b",
                "save",
                max_attempts=4,
                state="skipped",
                error="older than max_age 1 day, 0:00:00",  # as older releases wrote it
            ),
        ]
        ledger.insert_new(conn, rows)
    store.close()
    assert main(["rules", "status", "--store", url]) == 0
    out = capsys.readouterr().out
    assert "boom (attempts 1-4/4)" in out and out.count("boom") == 1
    assert "max_age 1 d" in out and "day," not in out


def test_replay_counts_notices_as_the_dry_run_does(capsys, tmp_path):
    """Each notice once, however many files (Avro and JSON copies) carry it."""
    d = tmp_path / "in"
    d.mkdir()
    for name, data in samples.sample_set().items():
        (d / name).write_bytes(data)
    cfg = tmp_path / "g.toml"
    cfg.write_text('[[rule]]\nname = "r"\n[[rule.action]]\ntype = "save"\nplot = false\n')
    common = ["replay", str(d), "--config", str(cfg), "--store", str(tmp_path / "s.sqlite")]
    common += ["--no-progress"]
    assert main([*common, "--dry-run"]) == 0
    dry = capsys.readouterr().out.splitlines()
    assert main(common) == 0
    err = capsys.readouterr().err
    assert len(list(d.iterdir())) > len(dry)  # several files carry one notice
    assert f"\n{len(dry)} notice(s)," in "\n" + err.splitlines()[-1]


def test_planner_and_rules_check_write_durations_readably(capsys, tmp_path):
    from gwalert.alerts import decode
    from gwalert.responder import Planner
    from gwalert.rules import parse_config

    config = parse_config({"rule": [{"name": "r", "max_age": "36h", "action": [{"type": "save"}]}]})
    rec = samples.make_record("S1", "PRELIMINARY", time_created="2026-01-01T00:00:00Z")
    rows = Planner(config).plan(1, decode(samples.encode(rec))[0])
    assert [r["last_error"] for r in rows] == ["older than max_age 1 d 12 h"]
    cfg = tmp_path / "g.toml"
    cfg.write_text('[[rule]]\nname = "r"\nmax_age = "1d"\n[[rule.action]]\ntype = "save"\n')
    assert main(["rules", "check", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "max_age 1 d" in out and "day" not in out
