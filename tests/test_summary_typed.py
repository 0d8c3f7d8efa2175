"""The typed summary (issue 16, item 2): a frozen dataclass computed once per notice by the
pipeline, serialised in one place, stored as serialised, read back equal."""

from __future__ import annotations

import dataclasses
import json

import pytest

from gwalert import samples
from gwalert.alerts import decode
from gwalert.pipeline import Pipeline
from gwalert.sources.message import Message
from gwalert.summary import Summary, safe_summary


@pytest.fixture(scope="module")
def sample_files() -> dict[str, bytes]:
    return samples.sample_set()


def test_summary_is_frozen_and_round_trips(sample_files) -> None:
    for name, raw in sample_files.items():
        summary = safe_summary(decode(raw)[0])
        assert isinstance(summary, Summary)
        with pytest.raises(dataclasses.FrozenInstanceError):
            summary.far = 1.0  # type: ignore[misc]
        data = summary.to_json()
        json.dumps(data, allow_nan=False)
        assert Summary.from_json(data) == summary, name
        assert dict(summary) == {k: getattr(summary, k) for k in data}  # a read-only mapping
        assert summary.get("area_90") == summary.area_90


def test_pipeline_computes_it_once_and_stores_it_as_serialised(
    sqlite_store, sample_files, monkeypatch
) -> None:
    import gwalert.summary as module

    calls: list[str] = []
    real = module.summarize

    def counted(notice):
        calls.append(notice.superevent_id)
        return real(notice)

    monkeypatch.setattr(module, "summarize", counted)
    seen: list = []
    pipeline = Pipeline(sqlite_store, hooks=[lambda c, i, n, s: seen.append(s)])
    for name, raw in sorted(sample_files.items()):  # Avro and JSON copies: stored once each
        outcome = pipeline.process(Message(raw, f"file:{name}"))
        for nid, new, _ in outcome.notices:
            if new:
                row = sqlite_store.get_notice(nid)
                assert row.summary == outcome.summaries[nid].to_json()
    assert len(calls) == 5  # one analysis per distinct notice, none for a duplicate
    assert all(isinstance(s, Summary) for s in seen) and len(seen) == 5
