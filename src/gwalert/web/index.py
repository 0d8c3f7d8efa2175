"""The dashboard's in-memory index of every stored notice's list-view facts."""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..store import notices as st
from .facts import list_facts

N = st.notices.c

#: Columns stored before ``raw`` in gwalert_notices: SQLite reads them without walking the
#: overflow pages of the (large) raw notice, so listing every notice by them is cheap.
_HEAD = (N.id, N.superevent_id, N.alert_type, N.time_created, N.content_hash)
_FACTS = (
    N.id,
    N.event_time,
    N.group,
    N.pipeline,
    N.search,
    N.far,
    N.significant,
    N.distmean,
    N.diststd,
    N.area_50,
    N.area_90,
    N.summary,
    N.source,
    N.received_at,
)


class NoticeIndex:
    """The list-view facts of every stored notice, kept in memory.

    A stored notice never changes, so its facts are read once (by id, checked against its
    content hash in case the store was replaced); each refresh reads only the cheap head
    columns of all notices and the facts of the new ones. Built event rows are kept too,
    keyed by everything they are made of."""

    def __init__(self) -> None:
        self._facts: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.events: dict[tuple, dict[str, Any]] = {}

    def load(self, conn: Connection) -> list[dict[str, Any]]:
        heads = conn.execute(sa.select(*_HEAD)).all()
        with self._lock:
            facts = self._facts
            missing = {}
            for head in heads:
                f = facts.get(head[0])
                if f is None or f["content_hash"] != head[4]:
                    missing[head[0]] = head
            ids = list(missing)
            for i in range(0, len(ids), 500):
                for r in conn.execute(
                    sa.select(*_FACTS).where(N.id.in_(ids[i : i + 500]))
                ).mappings():
                    nid, sid, alert_type, time_created, content_hash = missing[r["id"]]
                    facts[nid] = dict(
                        list_facts(r),
                        superevent_id=sid,
                        alert_type=alert_type,
                        time_created=time_created,
                        content_hash=content_hash,
                    )
            out = [f for f in map(facts.get, (h[0] for h in heads)) if f is not None]
            if len(facts) > len(heads):
                present = {h[0] for h in heads}
                for gone in [k for k in facts if k not in present]:
                    del facts[gone]
            if len(self.events) > 100_000:
                self.events.clear()
        return out

    def groups(self) -> list[str]:
        with self._lock:
            return sorted(
                {
                    f["group"]
                    for f in self._facts.values()
                    if isinstance(f["group"], str) and f["group"]
                }
            )
