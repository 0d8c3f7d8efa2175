"""Concurrent writers for the store's concurrency tests: notice families, the schedules the
writer processes follow, a writer process, and the invariants checked afterwards.

A writer is a real process (``python tests/writers.py STORE PLAN BARRIER``): it waits until the
barrier file exists, so that every writer starts at once, then hands each message of its plan
to a :class:`gwalert.pipeline.Pipeline` built like ``gwalert listen``'s (arrivals and planned
actions in the notice's transaction; actions planned, never run) and prints its counts.
"""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

#: The rules every writer plans with: two actions per notice, so "each action once" is checked
#: on two rows per notice.
RULES: dict[str, Any] = {
    "rule": [
        {
            "name": "every",
            "action": [
                {"type": "command", "argv": ["true"], "name": "a"},
                {"type": "command", "argv": ["true"], "name": "b"},
            ],
        }
    ]
}
ACTIONS_PER_NOTICE = 2

ALERT_TYPES = ("EARLYWARNING", "PRELIMINARY", "INITIAL", "UPDATE", "RETRACTION")


@dataclass(frozen=True)
class Copy:
    """One message: a notice in one format, from one source position."""

    superevent_id: str
    alert_type: str
    time_created: str
    far: float
    fmt: str
    source: str
    offset: int

    def encode(self) -> bytes:
        from gwalert import samples

        rec = samples.make_record(
            self.superevent_id, self.alert_type, time_created=self.time_created, far=self.far
        )
        return samples.encode(rec, self.fmt)


def families(rng: random.Random, n_superevents: int, prefix: str = "S") -> list[list[Copy]]:
    """For each superevent, its notices in both formats (the Avro copy as from SCiMMA, the JSON
    copy as from GCN): every alert type, sometimes two notices created at the same second
    (different content), a RETRACTION for about half of them, created first or last."""
    out = []
    for i in range(n_superevents):
        sid = f"{prefix}2601{i // 26 // 26 % 100:02d}{chr(97 + i // 26 % 26)}{chr(97 + i % 26)}"
        kinds = ["PRELIMINARY", "INITIAL", "UPDATE"]
        if rng.random() < 0.5:
            kinds.insert(0, "EARLYWARNING")
        if rng.random() < 0.5:
            kinds.append("UPDATE")
        minutes = sorted(rng.sample(range(1, 59), len(kinds)))
        notices = [
            (k, m, 1e-9 * (1 + j)) for j, (k, m) in enumerate(zip(kinds, minutes, strict=True))
        ]
        if rng.random() < 0.3:  # a second notice created at the same instant, other content
            k, m, far = rng.choice(notices)
            notices.append((k, m, far * 3.5))
        if rng.random() < 0.5:  # retracted: the retraction created first or last
            notices.append(("RETRACTION", 0 if rng.random() < 0.3 else 59, 0.0))
        copies = []
        for k, m, far in notices:
            created = f"2026-01-{1 + i % 28:02d}T{i % 24:02d}:{m:02d}:00Z"
            for fmt, source in (("avro", "scimma"), ("json", "gcn")):
                copies.append(Copy(sid, k, created, far, fmt, source, 0))
        out.append(copies)
    return out


def schedules(
    rng: random.Random, fams: list[list[Copy]], writers: int, dup_rate: float = 0.3
) -> list[list[tuple[Copy, bytes]]]:
    """Split every copy among ``writers`` (some copies delivered to two writers: a duplicate),
    in a random order per writer; each retracted superevent has its RETRACTION handed out
    first or last."""
    plans: list[list[tuple[Copy, bytes]]] = [[] for _ in range(writers)]
    first: list[set[int]] = [set() for _ in range(writers)]
    last: list[set[int]] = [set() for _ in range(writers)]
    offset = 0
    for fam in fams:
        where = rng.choice(("first", "last", "anywhere"))
        for copy in fam:
            offset += 1
            copy = Copy(**{**copy.__dict__, "offset": offset})
            raw = copy.encode()
            targets = {rng.randrange(writers)}
            if writers > 1 and rng.random() < dup_rate:
                targets.add(rng.randrange(writers))
            for w in targets:
                plans[w].append((copy, raw))
                if copy.alert_type == "RETRACTION" and where != "anywhere":
                    (first if where == "first" else last)[w].add(len(plans[w]) - 1)
    out = []
    for w, plan in enumerate(plans):
        idx = list(range(len(plan)))
        rng.shuffle(idx)
        head = [i for i in idx if i in first[w]]
        tail = [i for i in idx if i in last[w]]
        middle = [i for i in idx if i not in first[w] and i not in last[w]]
        out.append([plan[i] for i in head + middle + tail])
    return out


def run_writers(
    url: str, plans: list[list[tuple[Copy, bytes]]], workdir: Path, timeout: float = 600
) -> list[dict[str, int]]:
    """Run one writer process per plan on the store at ``url``, all started at once."""
    barrier = workdir / "go"
    procs = []
    for w, plan in enumerate(plans):
        path = workdir / f"plan{w}.json"
        path.write_text(
            json.dumps(
                [
                    {
                        "value": base64.b64encode(raw).decode(),
                        "source": c.source,
                        "offset": c.offset,
                    }
                    for c, raw in plan
                ]
            )
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, str(HERE / "writers.py"), url, str(path), str(barrier)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    ready = [workdir / f"plan{w}.json.ready" for w in range(len(plans))]
    deadline = time.monotonic() + timeout
    while not all(r.exists() for r in ready):
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    barrier.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def check_invariants(url: str, fams: list[list[Copy]], plans: list[list[Any]]) -> dict[str, int]:
    """Every invariant of a concurrent run; returns the counts checked."""
    import sqlalchemy as sa

    from gwalert.store import Store
    from gwalert.store.arrivals import arrivals
    from gwalert.store.ledger import actions

    store = Store.open(url)
    try:
        rows = list(store.iter_notices(with_raw=False))
        dead = list(store.iter_dead_letters())
        assert not dead, [d.error for d in dead[:5]]
        # each notice stored exactly once
        want = {identity(c) for f in fams for c in f}
        got = Counter((r.superevent_id, r.alert_type, r.time_created, r.content_hash) for r in rows)
        assert set(got) == want, set(got) ^ want
        assert all(n == 1 for n in got.values()), [k for k, n in got.items() if n > 1]
        # each superevent == the reference fold of its stored notices
        by_sid: dict[str, list[Any]] = defaultdict(list)
        for r in rows:
            by_sid[r.superevent_id].append(r)
        events = {e.superevent_id: e for e in store.iter_superevents()}
        assert set(events) == set(by_sid)
        for sid, ns in by_sid.items():
            assert _as_dict(events[sid]) == reference_fold(ns), sid
        # each planned action once; each notice one first arrival, each delivered copy once
        with store.engine.connect() as conn:
            per_notice = Counter(
                r.notice_id for r in conn.execute(sa.select(actions.c.notice_id, actions.c.rule))
            )
            arr = conn.execute(
                sa.select(
                    arrivals.c.notice_id, arrivals.c.source, arrivals.c.offset, arrivals.c.is_first
                )
            ).all()
        assert {r.id for r in rows} == set(per_notice)
        assert set(per_notice.values()) == {ACTIONS_PER_NOTICE}
        firsts = Counter(a.notice_id for a in arr if a.is_first)
        assert set(firsts) == {r.id for r in rows} and set(firsts.values()) == {1}
        copies = Counter((a.notice_id, a.source, a.offset) for a in arr)
        assert set(copies.values()) == {1}
        delivered = {(c.source, c.offset) for plan in plans for c, _ in plan}
        assert {(s, o) for _, s, o in copies} == delivered
        return {"notices": len(rows), "superevents": len(events), "arrivals": len(arr)}
    finally:
        store.close()


def identity(copy: Copy) -> tuple[str, str, str, str]:
    """The stored identity of a copy's notice (the same for its Avro and JSON copies)."""
    from gwalert.alerts import decode

    n = decode(copy.encode())[0]
    return (n.superevent_id, str(n.alert_type), copy.time_created, n.content_hash)


def reference_fold(ns: list[Any]) -> dict[str, Any]:
    """The superevent as the issue defines it, written here independently of the store."""
    ordered = sorted(ns, key=lambda n: (n.time_created, n.content_hash, n.alert_type))
    events = [n for n in ordered if n.alert_type != "RETRACTION"]
    return {
        "n_notices": len(ns),
        "latest_notice_id": ordered[-1].id,
        "latest_alert_type": ordered[-1].alert_type,
        "latest_time_created": ordered[-1].time_created,
        "retracted": any(n.alert_type == "RETRACTION" for n in ns),
        "key_notice_id": events[-1].id if events else None,
        "first_received_at": min(n.received_at for n in ns),
        "last_received_at": max(n.received_at for n in ns),
    }


def _as_dict(event: Any) -> dict[str, Any]:
    keys = (
        "n_notices",
        "latest_notice_id",
        "latest_alert_type",
        "latest_time_created",
        "retracted",
        "key_notice_id",
        "first_received_at",
        "last_received_at",
    )
    return {k: (bool(getattr(event, k)) if k == "retracted" else getattr(event, k)) for k in keys}


def _writer(url: str, plan_path: str, barrier: str) -> None:
    from gwalert import app
    from gwalert.rules import parse_config
    from gwalert.sources.message import Message
    from gwalert.store import Store

    plan = json.loads(Path(plan_path).read_text())
    store = Store.open(url)
    built = app.build(store, rules=parse_config(RULES), actions=False)
    Path(plan_path + ".ready").touch()
    while not os.path.exists(barrier):
        time.sleep(0.01)
    counts: Counter[str] = Counter()
    for m in plan:
        message = Message(base64.b64decode(m["value"]), m["source"], 0, m["offset"])
        outcome = built.pipeline.process(message)
        counts["messages"] += 1
        counts["new"] += len(outcome.new_ids)
        counts["dead_letters"] += outcome.dead_letter_id is not None
    store.close()
    print(json.dumps(counts))


if __name__ == "__main__":
    _writer(*sys.argv[1:4])
