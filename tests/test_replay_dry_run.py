"""``replay --dry-run`` predicts the real run exactly: over random ledgers (rows due, done,
failed with and without attempts, skipped as too old, for rules that still exist or not),
random notice ages, rules and options (--ignore-age, --retry-failed), the actions the dry run
lists are exactly those the real ``replay`` then runs, and the rows it says are no longer in
the config are exactly those the real run records as failed for that reason."""

from __future__ import annotations

import json
import os
import tempfile
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gwalert import samples
from gwalert.alerts import decode
from gwalert.cli import main
from gwalert.store import Store, ledger, write_transaction
from gwalert.util import utcnow

RULES = {  # name -> (filters, max_age)
    "any": ("", '"1d"'),
    "prelim": ('alert_type = "PRELIMINARY"', '"1d"'),
    "ageless": ("", "false"),
    "short": ("", '"1h"'),
}
ACTIONS = ("a", "b")
STATES = ("none", "due", "done", "failed0", "failed", "skipped")
AGES_H = (0.1, 3.0, 24 * 30)  # fresh, older than 1 h, a month old
TYPES = ("PRELIMINARY", "INITIAL", "RETRACTION")


def config_text(rules: list[str], out: Path) -> str:
    text = ""
    for name in rules:
        filters, age = RULES[name]
        text += f'[[rule]]\nname = "{name}"\nmax_age = {age}\n{filters}\n'
        for action in ACTIONS:
            text += textwrap.dedent(f"""
                [[rule.action]]
                name = "{action}"
                type = "save"
                plot = false
                dir = "{out}"
            """)
    return text


ledgers = st.lists(
    st.tuples(
        st.sampled_from(AGES_H),
        st.sampled_from(TYPES),
        # one state per (rule, action), including a rule no longer in the config ("gone")
        st.fixed_dictionaries(
            {(r, a): st.sampled_from(STATES) for r in (*RULES, "gone") for a in ACTIONS}
        ),
    ),
    min_size=1,
    max_size=3,
)


def run(args: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = main(args)
    return code, capsys.readouterr().out


@pytest.mark.slow
@settings(
    max_examples=100 if os.environ.get("GWALERT_LONG_TESTS") == "1" else 10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    notices=ledgers,
    rules=st.lists(st.sampled_from(sorted(RULES)), min_size=1, max_size=3, unique=True),
    ignore_age=st.booleans(),
    retry_failed=st.booleans(),
)
@example(  # the issue: listen --no-actions recorded them skipped; replay --ignore-age
    notices=[
        (24 * 30, "PRELIMINARY", {(r, a): "skipped" for r in (*RULES, "gone") for a in ACTIONS})
    ],
    rules=["any"],
    ignore_age=True,
    retry_failed=False,
)
@example(  # two actions of one notice retried at once (once raced on the save action's files)
    notices=[
        (
            0.1,
            "PRELIMINARY",
            {
                **{(r, a): "none" for r in (*RULES, "gone") for a in ACTIONS},
                ("short", "b"): "failed",
                ("ageless", "a"): "failed0",
                ("short", "a"): "skipped",
                ("gone", "b"): "skipped",
                ("gone", "a"): "failed",
                ("prelim", "b"): "failed0",
                ("prelim", "a"): "skipped",
            },
        )
    ],
    rules=["ageless", "short", "any"],
    ignore_age=True,
    retry_failed=True,
)
def test_dry_run_lists_exactly_what_the_real_run_does(
    notices, rules, ignore_age, retry_failed, capsys
):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cfg = root / "gwalert.toml"
        cfg.write_text(config_text(rules, root / "saved"))
        url = str(root / "s.sqlite")
        store = Store.open(url)
        try:
            now = datetime.now(UTC)
            for i, (age, kind, states) in enumerate(notices):
                created = (now - timedelta(hours=age)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                rec = samples.make_record(f"S2601{i:02d}a", kind, time_created=created)
                nid, _ = store.add(decode(samples.encode(rec, "json"))[0], source="t")
                ledger.create(store.engine)
                with write_transaction(store.engine) as conn:
                    for (rule, action), state in states.items():
                        if state == "none" or (rule not in rules and state != "due"):
                            continue
                        real = "failed" if state.startswith("failed") else state
                        row = ledger.row(nid, rule, action, "save", max_attempts=2, state=real)
                        if state == "done":
                            row["finished_at"] = utcnow()
                        if state == "failed":
                            row["attempts"] = 2
                        ledger.insert_new(conn, [row])
        finally:
            store.close()
        common = ["replay", "--store", url, "--config", str(cfg), "--no-progress"]
        common += ["--ignore-age"] * ignore_age + ["--retry-failed"] * retry_failed
        code, out = run([*common, "--dry-run", "--json"], capsys)
        assert code == 0
        predicted: set[tuple[int, str, str]] = set()
        vanished: set[tuple[int, str, str]] = set()
        for report in map(json.loads, out.splitlines()):
            for key, into in (("fire", predicted), ("not_in_config", vanished)):
                for e in report.get(key, []):
                    into |= {(report["notice_id"], e["rule"], a) for a in e["actions"]}
        start = utcnow()
        run(common, capsys)
        store = Store.open(url)
        try:
            with store.engine.connect() as conn:
                rows = list(ledger.iter_rows(conn))
        finally:
            store.close()
        ran = {
            (r["notice_id"], r["rule"], r["action"])
            for r in rows
            if r["state"] == "done" and (r["finished_at"] or "") >= start
        }
        gone = {
            (r["notice_id"], r["rule"], r["action"])
            for r in rows
            if r["state"] == "failed"
            and (r["finished_at"] or "") >= start
            and "current config" in (r["last_error"] or "")
        }
        assert predicted == ran
        assert vanished == gone
        assert not [r for r in rows if r["state"] in ("due", "running")]
