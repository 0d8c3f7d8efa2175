"""Issue 9's poison messages: each one is stored (flagged) or dead-lettered with its reason by
``Pipeline.process`` on SQLite and PostgreSQL, the good notices around it are all stored, and
``gwalert parse`` answers each with its report (and warnings) or one line."""

from __future__ import annotations

import subprocess
import sys

import pytest
from poison import Poison, poisons

from gwalert import samples
from gwalert.alerts import read_notice
from gwalert.errors import NoticeError
from gwalert.pipeline import Pipeline
from gwalert.sources.message import Message
from gwalert.summary import summarize

POISONS = poisons()


def _id(p: Poison) -> str:
    return p.name


def _good(i: int) -> bytes:
    return samples.encode(
        samples.make_record(
            "MS260301a", "UPDATE" if i else "PRELIMINARY", time_created=f"2026-03-01T00:{i:02d}:00Z"
        ),
        "avro" if i % 2 else "json",
    )


@pytest.mark.parametrize("poison", POISONS, ids=_id)
def test_decoder_answers_with_a_notice_or_notice_error(poison):
    if poison.outcome == "dead":
        with pytest.raises(NoticeError, match=poison.reason):
            read_notice(poison.data)
        return
    notice = read_notice(poison.data)
    if poison.warning:
        assert any(poison.warning in w for w in notice.warnings), notice.warnings
    summarize(notice)  # never raises


@pytest.mark.slow
def test_poison_stream_through_the_pipeline(store):
    """Good notices interleaved with every poison: all good ones stored, each poison stored
    (checked) or dead-lettered with its reason, nothing raised, every message acknowledged."""
    pipeline = Pipeline(store)
    expected_notices = 0
    for i, poison in enumerate(POISONS):
        good = pipeline.process(Message(_good(i), "test", 0, 2 * i))
        assert good.new_ids and good.dead_letter_id is None
        outcome = pipeline.process(Message(poison.data, "test", 0, 2 * i + 1))
        expected_notices += 1
        if poison.outcome == "dead":
            assert outcome.dead_letter_id is not None and not outcome.notices, poison.name
            assert poison.reason in outcome.error, (poison.name, outcome.error)
            continue
        assert outcome.dead_letter_id is None, (poison.name, outcome.error)
        [(nid, new, notice)] = outcome.notices
        assert new
        expected_notices += 1
        row = store.get_notice(nid)
        assert row.raw == poison.data
        if poison.warning:
            assert any(poison.warning in w for w in row.warnings), (poison.name, row.warnings)
        if poison.check is not None:
            assert poison.check(row), (poison.name, row)
        # delivered again: a duplicate, not an error
        again = pipeline.process(Message(poison.data, "test", 0, 2 * i + 1))
        assert again.notices[0][:2] == (nid, False)
    counts = store.counts()
    dead = sum(p.outcome == "dead" for p in POISONS)
    assert counts["dead_letters"] == dead
    assert counts["notices"] == expected_notices == len(POISONS) * 2 - dead
    reasons = [row.error for row in store.iter_dead_letters()]
    assert all(r for r in reasons)


@pytest.mark.slow
def test_gwalert_parse_of_each_poison_file(tmp_path):
    """One run over every poison file between two good ones: a refused file gets exactly one
    line, a flagged one its report and its warnings; never "unexpected error"."""
    good = tmp_path / "good.avro"
    good.write_bytes(
        samples.encode(samples.make_record(skymap=samples.gaussian_skymap(max_level=3)))
    )
    paths = []
    for p in POISONS:
        path = tmp_path / f"{p.name}.bin"
        path.write_bytes(p.data)
        paths.append(path)
    result = subprocess.run(
        [sys.executable, "-m", "gwalert", "parse", str(good), *map(str, paths), str(good)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1  # the refused ones
    assert "unexpected error" not in result.stderr and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    for p, path in zip(POISONS, paths, strict=True):
        mine = [line for line in lines if line.startswith(f"gwalert: {path}: ")]
        if p.outcome == "dead":
            assert len(mine) == 1 and p.reason in mine[0], (p.name, mine)
        else:
            assert all(": warning: " in line for line in mine), (p.name, mine)
            if p.warning:
                assert any(p.warning in line for line in mine), (p.name, mine)
    reports = result.stdout.count("Record:")
    assert reports == 2 + sum(p.outcome == "stored" for p in POISONS)
    assert len(lines) == sum(1 for line in lines if line.startswith("gwalert: "))


@pytest.mark.slow
def test_parse_json_of_each_poison_is_strict_json(tmp_path):
    import json

    paths = []
    for p in POISONS:
        if p.outcome == "stored":
            path = tmp_path / f"{p.name}.bin"
            path.write_bytes(p.data)
            paths.append(path)
    result = subprocess.run(
        [sys.executable, "-m", "gwalert", "parse", "--json", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    facts = [
        json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
        for line in result.stdout.splitlines()
    ]
    assert len(facts) == len(paths)
