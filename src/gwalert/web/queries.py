"""What the dashboard reads from the store: every function takes a connection and returns plain,
JSON-ready dicts. Read-only.

Besides the store's own tables (:mod:`gwalert.store`) and the action ledger
(:mod:`gwalert.ledger`), newer listeners may write a per-feed status table (``gwalert_feeds``),
one row per arrival of a notice (``gwalert_arrivals``) and a ``warnings`` column on notices;
:class:`StoreView` finds out which exist (cheaply, re-checked now and then) and every query
degrades gracefully without them. The in-memory notice index is in :mod:`.index`, a row's
facts in :mod:`.facts`, the health page's queries in :mod:`.health`.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..redact import ledger_row
from ..store import ledger
from ..store import notices as st
from .facts import event_facts, notice_changes, notice_facts
from .index import NoticeIndex

N = st.notices.c
S = st.superevents.c
D = st.dead_letters.c
A = ledger.actions.c


@dataclass
class StoreView:
    """One store as the dashboard sees it: which optional tables/columns exist (re-checked at
    most every ``ttl`` seconds) and the in-memory :class:`NoticeIndex` of its notices."""

    engine: Engine
    ttl: float = 15.0
    _checked: float = field(default=-math.inf, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    actions: bool = field(default=False, init=False)
    feeds: sa.Table | None = field(default=None, init=False)
    arrivals: sa.Table | None = field(default=None, init=False)
    warnings: bool = field(default=False, init=False)
    index: NoticeIndex = field(default_factory=lambda: NoticeIndex(), init=False)

    def refresh(self, force: bool = False) -> StoreView:
        now = time.monotonic()
        if not force and now - self._checked < self.ttl:
            return self
        with self._lock:
            if not force and now - self._checked < self.ttl:
                return self
            try:
                insp = sa.inspect(self.engine)
                names = set(insp.get_table_names())
                self.actions = ledger.actions.name in names
                self.warnings = "gwalert_notices" in names and any(
                    col["name"] == "warnings" for col in insp.get_columns("gwalert_notices")
                )
                self.feeds = self._reflect("gwalert_feeds", names, self.feeds)
                self.arrivals = self._reflect("gwalert_arrivals", names, self.arrivals)
            except sa.exc.SQLAlchemyError:
                pass  # keep what we knew; the next request tries again
            self._checked = now
        return self

    def _reflect(self, name: str, names: set[str], known: sa.Table | None) -> sa.Table | None:
        if name not in names:
            return None
        if known is not None:
            return known
        try:
            return sa.Table(name, sa.MetaData(), autoload_with=self.engine)
        except sa.exc.SQLAlchemyError:
            return None


# --------------------------------------------------------------------------- filters
@dataclass(frozen=True)
class Filters:
    kind: str = ""  # "", "real", "mock", "test"
    significant: str = ""  # "", "yes", "no"
    retracted: str = ""  # "", "yes", "no"
    group: str = ""  # "", "CBC", "Burst", ...
    q: str = ""  # text search
    limit: int = 1000

    @classmethod
    def from_query(cls, params: Any) -> Filters:
        def pick(name: str, allowed: tuple[str, ...] | None = None) -> str:
            value = str(params.get(name, "") or "").strip()[:100]
            return value if allowed is None or value in allowed else ""

        try:
            limit = int(params.get("limit", 1000))
        except (TypeError, ValueError):
            limit = 1000
        return cls(
            kind=pick("kind", ("real", "mock", "test")),
            significant=pick("significant", ("yes", "no")),
            retracted=pick("retracted", ("yes", "no")),
            group=pick("group"),
            q=pick("q"),
            limit=max(1, min(limit, 10000)),
        )

    def as_query(self) -> dict[str, str]:
        out = {
            k: v
            for k, v in (
                ("kind", self.kind),
                ("significant", self.significant),
                ("retracted", self.retracted),
                ("group", self.group),
                ("q", self.q),
            )
            if v
        }
        if self.limit != 1000:
            out["limit"] = str(self.limit)
        return out


_PREFIX = {"real": "S", "mock": "M", "test": "T"}


def list_events(
    conn: Connection, opt: StoreView, filters: Filters = Filters()
) -> tuple[list[dict[str, Any]], int]:
    """Superevents, newest event first, with the facts of their latest notice that carries
    event facts (a retraction carries none); and how many match the filters in all (the list
    is cut at ``filters.limit``)."""
    notices = opt.index.load(conn)
    facts: dict[str, dict[str, Any]] = {}
    sid_of: dict[int, str] = {}
    for n in notices:
        sid_of[n["id"]] = n["superevent_id"]
        if n["alert_type"] == "RETRACTION":
            continue
        best = facts.get(n["superevent_id"])
        if best is None or (n["time_created"], n["id"]) > (best["time_created"], best["id"]):
            facts[n["superevent_id"]] = n
    q = filters.q.lower()
    events = []
    for r in conn.execute(sa.select(st.superevents)).mappings():
        sid = r["superevent_id"]
        f = facts.get(sid, {})
        if filters.kind and not sid.startswith(_PREFIX[filters.kind]):
            continue
        if filters.significant and (f.get("significant") is True) != (filters.significant == "yes"):
            continue
        if filters.retracted and bool(r["retracted"]) != (filters.retracted == "yes"):
            continue
        if filters.group and f.get("group") != filters.group:
            continue
        if q and not any(
            q in str(x).lower()
            for x in (
                sid,
                r["latest_alert_type"],
                f.get("group"),
                f.get("pipeline"),
                f.get("search"),
            )
            if x
        ):
            continue
        events.append((r, f))
    events.sort(
        key=lambda e: (
            e[1].get("event_time") or e[0]["latest_time_created"],
            e[0]["superevent_id"],
        ),
        reverse=True,
    )
    shown = events[: filters.limit]
    actions = _actions_by_superevent(conn, opt, sid_of) if shown else {}
    cache = opt.index.events
    out = []
    for r, f in shown:
        acts = actions.get(r["superevent_id"], {})
        key = (tuple(r.values()), f.get("id"), tuple(sorted(acts.items())))
        event = cache.get(key)
        if event is None:
            event = cache[key] = event_facts(r, f, acts)
        out.append(event)
    return out, len(events)


def _actions_by_superevent(
    conn: Connection, opt: StoreView, sid_of: dict[int, str]
) -> dict[str, dict[str, int]]:
    if not opt.actions:
        return {}
    out: dict[str, dict[str, int]] = {}
    for nid, state, count in conn.execute(
        sa.select(A.notice_id, A.state, sa.func.count()).group_by(A.notice_id, A.state)
    ):
        sid = sid_of.get(nid)
        if sid is not None:
            per = out.setdefault(sid, {})
            per[state] = per.get(state, 0) + int(count)
    return out


def groups(conn: Connection, opt: StoreView) -> list[str]:
    """The groups (CBC, Burst, ...) that occur, for the filter menu (as of the last load)."""
    return opt.index.groups()


# ----------------------------------------------------------------------------- detail
_NOTICE_COLS = [c for c in st.notices.c if c.name not in ("raw", "warnings")]  # see opt.warnings


_ACTION_KEYS = (
    "id",
    "rule",
    "action",
    "action_type",
    "state",
    "attempts",
    "max_attempts",
    "last_error",
    "created_at",
    "started_at",
    "finished_at",
)


def event_detail(conn: Connection, opt: StoreView, superevent_id: str) -> dict[str, Any] | None:
    """A superevent with every notice (oldest first), what changed, and their actions."""
    events, _ = list_events(conn, opt, Filters(q=superevent_id, limit=100000))
    event = next((e for e in events if e["superevent_id"] == superevent_id), None)
    if event is None:
        return None
    event = dict(event)  # the list's copy is cached and shared
    cols: list[sa.ColumnElement[Any]] = list(_NOTICE_COLS)
    if opt.warnings:
        cols.append(sa.literal_column("warnings"))
    rows = (
        conn.execute(
            sa.select(*cols).where(N.superevent_id == superevent_id).order_by(N.time_created, N.id)
        )
        .mappings()
        .all()
    )
    ids = [r["id"] for r in rows]
    actions: dict[int, list[dict[str, Any]]] = {}
    if opt.actions and ids:
        for a in conn.execute(
            sa.select(ledger.actions).where(A.notice_id.in_(ids)).order_by(A.notice_id, A.id)
        ).mappings():
            actions.setdefault(a["notice_id"], []).append(ledger_row(a, _ACTION_KEYS))
    feeds = _arrival_feeds(conn, opt, ids)
    notices = []
    previous: dict[str, Any] | None = None
    for r in rows:
        n = notice_facts(r, actions.get(r["id"], []), feeds.get(r["id"]))
        n["changes"] = notice_changes(previous, n) if previous else []
        if not n["is_retraction"]:
            previous = n
        notices.append(n)
    event["notices"] = notices
    with_map = [n for n in notices if n["has_skymap"]]
    event["skymap_notice_id"] = with_map[-1]["id"] if with_map else None
    combined = [n for n in notices if n["has_combined_skymap"]]
    event["combined_notice_id"] = combined[-1]["id"] if combined else None
    facts = [n for n in notices if not n["is_retraction"]]
    latest = facts[-1] if facts else None
    event["classification"] = latest["classification"] if latest else {}
    event["properties"] = latest["properties"] if latest else {}
    event["instruments"] = latest["instruments"] if latest else []
    ext = [n for n in notices if n["external_coinc"]]
    event["external_coinc"] = ext[-1]["external_coinc"] if ext else None
    event["urls"] = latest["urls"] if latest else {}
    return event


def _arrival_feeds(conn: Connection, opt: StoreView, ids: list[int]) -> dict[int, list[str]]:
    table = opt.arrivals
    if table is None or not ids or not {"notice_id", "feed"} <= set(table.c.keys()):
        return {}
    out: dict[int, list[str]] = {}
    try:
        order = [table.c[k] for k in ("received_at", "id") if k in table.c]
        for nid, feed in conn.execute(
            sa.select(table.c.notice_id, table.c.feed)
            .where(table.c.notice_id.in_(ids))
            .order_by(*order)
        ):
            if feed is not None and str(feed) not in out.setdefault(nid, []):
                out[nid].append(str(feed))
    except sa.exc.SQLAlchemyError:
        return {}
    return out


def notice_row(conn: Connection, notice_id: int, with_raw: bool = False) -> Any:
    cols = list(st.notices.c) if with_raw else _NOTICE_COLS
    return conn.execute(sa.select(*cols).where(N.id == notice_id)).mappings().first()
