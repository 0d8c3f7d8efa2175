"""What the dashboard reads from the store: every function takes a connection and returns plain,
JSON-ready dicts. Read-only.

Besides the store's own tables (:mod:`gwalert.store`) and the action ledger
(:mod:`gwalert.ledger`), newer listeners may write a per-feed status table (``gwalert_feeds``),
one row per arrival of a notice (``gwalert_arrivals``) and a ``warnings`` column on notices;
:class:`StoreView` finds out which exist (cheaply, re-checked now and then) and every query
degrades gracefully without them.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..store import ledger
from ..store import notices as st
from . import fmt

N = st.notices.c
S = st.superevents.c
D = st.dead_letters.c
A = ledger.actions.c

#: Sources whose silence is not news (files are read once).
_QUIET_KINDS = ("file",)


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
                    col["name"] == "warnings" for col in insp.get_columns("gwalert_notices"))
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
    kind: str = ""          # "", "real", "mock", "test"
    significant: str = ""   # "", "yes", "no"
    retracted: str = ""     # "", "yes", "no"
    group: str = ""         # "", "CBC", "Burst", ...
    q: str = ""             # text search
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
        return cls(kind=pick("kind", ("real", "mock", "test")),
                   significant=pick("significant", ("yes", "no")),
                   retracted=pick("retracted", ("yes", "no")),
                   group=pick("group"), q=pick("q"), limit=max(1, min(limit, 10000)))

    def as_query(self) -> dict[str, str]:
        out = {k: v for k, v in (("kind", self.kind), ("significant", self.significant),
                                 ("retracted", self.retracted), ("group", self.group),
                                 ("q", self.q)) if v}
        if self.limit != 1000:
            out["limit"] = str(self.limit)
        return out


_PREFIX = {"real": "S", "mock": "M", "test": "T"}

#: Columns stored before ``raw`` in gwalert_notices: SQLite reads them without walking the
#: overflow pages of the (large) raw notice, so listing every notice by them is cheap.
_HEAD = (N.id, N.superevent_id, N.alert_type, N.time_created, N.content_hash)
_FACTS = (N.id, N.event_time, N.group, N.pipeline, N.search, N.far, N.significant, N.distmean,
          N.diststd, N.area_50, N.area_90, N.summary, N.source, N.received_at)


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
                for r in conn.execute(sa.select(*_FACTS).where(N.id.in_(ids[i:i + 500]))
                                      ).mappings():
                    nid, sid, alert_type, time_created, content_hash = missing[r["id"]]
                    facts[nid] = dict(_list_facts(r), superevent_id=sid, alert_type=alert_type,
                                      time_created=time_created, content_hash=content_hash)
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
            return sorted({f["group"] for f in self._facts.values()
                           if isinstance(f["group"], str) and f["group"]})


def _list_facts(r: Any) -> dict[str, Any]:
    summary = _summary(r["summary"])
    cls = summary.get("classification")
    classification = ({str(k): float(v) for k, v in cls.items() if _num(v) is not None}
                      if isinstance(cls, dict) else {})
    return {
        "id": r["id"], "event_time": r["event_time"],
        "group": r["group"], "pipeline": r["pipeline"], "search": r["search"],
        "far": _num(r["far"]),
        "significant": None if r["significant"] is None else bool(r["significant"]),
        "distmean": _num(r["distmean"]), "diststd": _num(r["diststd"]),
        "area_50": _num(r["area_50"]), "area_90": _num(r["area_90"]),
        "classification": classification,
        "external_coinc": isinstance(summary.get("external_coinc"), dict),
        "source": r["source"], "received_at": r["received_at"],
    }


def list_events(conn: Connection, opt: StoreView, filters: Filters = Filters()
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
        if filters.significant and (f.get("significant") is True) != (
                filters.significant == "yes"):
            continue
        if filters.retracted and bool(r["retracted"]) != (filters.retracted == "yes"):
            continue
        if filters.group and f.get("group") != filters.group:
            continue
        if q and not any(q in str(x).lower() for x in (
                sid, r["latest_alert_type"], f.get("group"), f.get("pipeline"),
                f.get("search")) if x):
            continue
        events.append((r, f))
    events.sort(key=lambda e: (e[1].get("event_time") or e[0]["latest_time_created"],
                               e[0]["superevent_id"]), reverse=True)
    shown = events[:filters.limit]
    actions = _actions_by_superevent(conn, opt, sid_of) if shown else {}
    cache = opt.index.events
    out = []
    for r, f in shown:
        acts = actions.get(r["superevent_id"], {})
        key = (tuple(r.values()), f.get("id"), tuple(sorted(acts.items())))
        event = cache.get(key)
        if event is None:
            event = cache[key] = _event_facts(r, f, acts)
        out.append(event)
    return out, len(events)


def _actions_by_superevent(conn: Connection, opt: StoreView, sid_of: dict[int, str]
                           ) -> dict[str, dict[str, int]]:
    if not opt.actions:
        return {}
    out: dict[str, dict[str, int]] = {}
    for nid, state, count in conn.execute(sa.select(A.notice_id, A.state, sa.func.count())
                                          .group_by(A.notice_id, A.state)):
        sid = sid_of.get(nid)
        if sid is not None:
            per = out.setdefault(sid, {})
            per[state] = per.get(state, 0) + int(count)
    return out


def _summary(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _event_facts(r: Any, f: dict[str, Any], actions: dict[str, int]) -> dict[str, Any]:
    sid = r["superevent_id"]
    classification = f.get("classification") or {}
    lead = fmt.leading(classification)
    far = f.get("far")
    return {
        "superevent_id": sid,
        "kind": "real" if sid.startswith("S") else "mock" if sid.startswith("M")
        else "test" if sid.startswith("T") else "other",
        "is_mock": sid.startswith("M"), "is_real": sid.startswith("S"),
        "is_test": sid.startswith("T"),
        "latest_alert_type": r["latest_alert_type"],
        "latest_notice_id": r["latest_notice_id"],
        "time_created": r["latest_time_created"],
        "retracted": bool(r["retracted"]),
        "n_notices": int(r["n_notices"]),
        "first_received_at": r["first_received_at"],
        "last_received_at": r["last_received_at"],
        "event_time": f.get("event_time"),
        "group": f.get("group"), "pipeline": f.get("pipeline"), "search": f.get("search"),
        "far": far, "far_human": fmt.far_human(far),
        "significant": f.get("significant"),
        "distmean": f.get("distmean"), "diststd": f.get("diststd"),
        "area_50": f.get("area_50"), "area_90": f.get("area_90"),
        "classification": dict(classification),
        "leading_class": None if lead is None else {"name": lead[0], "probability": lead[1]},
        "external_coinc": bool(f.get("external_coinc")),
        "actions": {s: actions.get(s, 0) for s in ledger.STATES if actions.get(s)},
        "actions_fired": sum(actions.values()),
        "actions_failed": actions.get(ledger.FAILED, 0),
    }


def groups(conn: Connection, opt: StoreView) -> list[str]:
    """The groups (CBC, Burst, ...) that occur, for the filter menu (as of the last load)."""
    return opt.index.groups()


# ----------------------------------------------------------------------------- detail
_NOTICE_COLS = [c for c in st.notices.c if c.name not in ("raw", "warnings")]  # see opt.warnings


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
    rows = conn.execute(sa.select(*cols).where(N.superevent_id == superevent_id)
                        .order_by(N.time_created, N.id)).mappings().all()
    ids = [r["id"] for r in rows]
    actions: dict[int, list[dict[str, Any]]] = {}
    if opt.actions and ids:
        for a in conn.execute(sa.select(ledger.actions).where(A.notice_id.in_(ids))
                              .order_by(A.notice_id, A.id)).mappings():
            actions.setdefault(a["notice_id"], []).append(
                {k: a[k] for k in ("id", "rule", "action", "action_type", "state", "attempts",
                                   "max_attempts", "last_error", "created_at", "started_at",
                                   "finished_at")})
    feeds = _arrival_feeds(conn, opt, ids)
    notices = []
    previous: dict[str, Any] | None = None
    for r in rows:
        n = _notice_facts(r, actions.get(r["id"], []), feeds.get(r["id"]))
        n["changes"] = _changes(previous, n) if previous else []
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
        for nid, feed in conn.execute(sa.select(table.c.notice_id, table.c.feed)
                                      .where(table.c.notice_id.in_(ids)).order_by(*order)):
            if feed is not None and str(feed) not in out.setdefault(nid, []):
                out[nid].append(str(feed))
    except sa.exc.SQLAlchemyError:
        return {}
    return out


def _notice_facts(r: Any, actions: list[dict[str, Any]], feeds: list[str] | None
                  ) -> dict[str, Any]:
    summary = _summary(r["summary"])

    def mapping(name: str) -> dict[str, float]:
        value = summary.get(name)
        if not isinstance(value, dict):
            return {}
        return {str(k): float(v) for k, v in value.items() if _num(v) is not None}

    ext = summary.get("external_coinc")
    ext = {str(k): v for k, v in ext.items()} if isinstance(ext, dict) else None
    warnings = r.get("warnings") if hasattr(r, "get") else None
    if isinstance(warnings, str):
        try:
            warnings = json.loads(warnings)
        except ValueError:
            warnings = [warnings]
    if warnings is not None and not isinstance(warnings, list):
        warnings = [warnings]
    urls = summary.get("urls")
    far = _num(r["far"])
    return {
        "id": r["id"], "superevent_id": r["superevent_id"], "alert_type": r["alert_type"],
        "is_retraction": r["alert_type"] == "RETRACTION",
        "time_created": r["time_created"], "received_at": r["received_at"],
        "format": r["format"], "source": r["source"], "partition": r["partition"],
        "offset": r["offset"], "feeds": feeds or [str(r["source"])],
        "event_time": r["event_time"], "group": r["group"], "pipeline": r["pipeline"],
        "search": r["search"], "far": far, "far_human": fmt.far_human(far),
        "significant": None if r["significant"] is None else bool(r["significant"]),
        "ra": _num(r["ra"]), "dec": _num(r["dec"]),
        "distmean": _num(r["distmean"]), "diststd": _num(r["diststd"]),
        "area_50": _num(r["area_50"]), "area_90": _num(r["area_90"]),
        "vol_90": _num(summary.get("vol_90")),
        "classification": mapping("classification"), "properties": mapping("properties"),
        "instruments": [str(i) for i in summary.get("instruments") or []
                        if isinstance(i, str | int)],
        "skymap_error": summary.get("skymap_error"),
        "has_skymap": _num(r["area_90"]) is not None,
        "has_combined_skymap": bool(ext and _num(ext.get("combined_skymap_bytes"))),
        "external_coinc": ext,
        "urls": {str(k): str(v) for k, v in urls.items()} if isinstance(urls, dict) else {},
        "warnings": [str(w) for w in warnings] if warnings else [],
        "actions": actions,
    }


def _changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What an astronomer notices between two successive notices."""
    if after["is_retraction"]:
        return ["retracted"]
    out = []
    a, b = before["area_90"], after["area_90"]
    if a is not None and b is not None and abs(a - b) > 0.01 * max(a, b):
        out.append(f"90% area {fmt.area(a)} → {fmt.area(b)}")
    a, b = before["distmean"], after["distmean"]
    if a is not None and b is not None and abs(a - b) > 0.01 * max(a, b):
        out.append(f"distance {fmt.distance(a, before['diststd'])} → "
                   f"{fmt.distance(b, after['diststd'])}")
    la, lb = fmt.leading(before["classification"]), fmt.leading(after["classification"])
    if la and lb and (la[0] != lb[0] or abs(la[1] - lb[1]) >= 0.05):
        out.append(f"{la[0]} {fmt.percent(la[1])} → {lb[0]} {fmt.percent(lb[1])}")
    a, b = before["far"], after["far"]
    if a and b and abs(math.log10(a / b)) > 0.3:
        out.append(f"FAR {fmt.far_human(a)} → {fmt.far_human(b)}")
    if after["external_coinc"] and not before["external_coinc"]:
        out.append("external coincidence")
    return out


def notice_row(conn: Connection, notice_id: int, with_raw: bool = False) -> Any:
    cols = list(st.notices.c) if with_raw else _NOTICE_COLS
    return conn.execute(sa.select(*cols).where(N.id == notice_id)).mappings().first()


# ----------------------------------------------------------------------------- health
def _feed_name(source: Any) -> str:
    """A notice's source as a feed: Kafka sources as they are, files as "files"."""
    text = str(source or "?")
    return "files" if text.startswith("file:") else text


def _age(now: datetime, text: Any) -> float | None:
    dt = fmt.parse_time(text)
    return None if dt is None else (now - dt).total_seconds()


def _blank_feed(name: str) -> dict[str, Any]:
    return {"feed": name, "notices": 0, "dead_letters": 0, "last_message_at": None,
            "last_heartbeat_at": None, "state": None, "detail": None, "updated_at": None}


def sources(conn: Connection, opt: StoreView, silence: float) -> list[dict[str, Any]]:
    """Per feed: last message, last heartbeat, state and a silence warning."""
    now = datetime.now(UTC)
    out: dict[str, dict[str, Any]] = {}
    for n in opt.index.load(conn):
        name = _feed_name(n["source"])
        feed = out.setdefault(name, _blank_feed(name))
        feed["notices"] += 1
        feed["last_message_at"] = max(filter(None, (feed["last_message_at"], n["received_at"])),
                                      default=None)
    for source, last, count in conn.execute(
            sa.select(D.source, sa.func.max(D.received_at), sa.func.count()).group_by(D.source)):
        feed = out.setdefault(_feed_name(source), _blank_feed(_feed_name(source)))
        feed["dead_letters"] += int(count)
        feed["last_message_at"] = max(filter(None, (feed["last_message_at"], last)), default=None)
    table = opt.feeds
    if table is not None:
        try:
            for row in conn.execute(sa.select(table)).mappings():
                name = str(row.get("feed"))
                feed = out.setdefault(name, _blank_feed(name))
                for key in ("last_message_at", "last_heartbeat_at", "state", "detail",
                            "updated_at"):
                    value = row.get(key)
                    if value is not None:
                        feed[key] = value if key in ("state", "detail") else str(value)
        except sa.exc.SQLAlchemyError:
            pass
    result = []
    for feed in sorted(out.values(), key=lambda f: f["feed"]):
        msg_age = _age(now, feed["last_message_at"])
        hb_age = _age(now, feed.get("last_heartbeat_at"))
        contact = min((a for a in (msg_age, hb_age) if a is not None), default=None)
        feed["seconds_since_last_message"] = msg_age
        feed["seconds_since_last_heartbeat"] = hb_age
        warning = None
        state = str(feed.get("state") or "")
        if state and state.lower() not in ("ok", "listening", "connected", "live", "idle"):
            warning = f"{state}: {feed.get('detail') or ''}".rstrip(": ")
        elif (silence > 0 and feed["feed"] not in ("files",) and contact is not None
              and contact > silence):
            warning = f"silent for {fmt.ago(contact).removesuffix(' ago')}"
        feed["warning"] = warning
        result.append(feed)
    return result


def dead_letters(conn: Connection, limit: int = 50) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(D.id, D.error, D.source, D.partition, D.offset, D.received_at,
                                  D.raw_sha256, sa.func.length(D.raw).label("size"))
                        .order_by(D.id.desc()).limit(limit)).mappings()
    return [dict(r) for r in rows]


def dead_letter(conn: Connection, dead_letter_id: int) -> Any:
    return conn.execute(sa.select(st.dead_letters).where(D.id == dead_letter_id)
                        ).mappings().first()


def failed_actions(conn: Connection, opt: StoreView, limit: int = 50) -> list[dict[str, Any]]:
    if not opt.actions:
        return []
    rows = conn.execute(
        sa.select(A.id, A.notice_id, A.rule, A.action, A.action_type, A.attempts,
                  A.last_error, A.finished_at, N.superevent_id, N.alert_type)
        .select_from(ledger.actions.join(st.notices, N.id == A.notice_id))
        .where(A.state == ledger.FAILED).order_by(A.id.desc()).limit(limit)).mappings()
    return [dict(r) for r in rows]


def counts(conn: Connection, opt: StoreView) -> dict[str, Any]:
    def count(table: sa.Table) -> int:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0)

    out: dict[str, Any] = {"notices": count(st.notices), "superevents": count(st.superevents),
                           "dead_letters": count(st.dead_letters), "duplicates": None,
                           "actions": ledger.counts(conn) if opt.actions else {}}
    table = opt.arrivals
    if table is not None and "is_first" in table.c:
        try:
            out["duplicates"] = int(conn.execute(
                sa.select(sa.func.count()).select_from(table)
                .where(sa.not_(table.c.is_first))).scalar() or 0)
        except sa.exc.SQLAlchemyError:
            pass
    return out


def version(conn: Connection, opt: StoreView) -> str:
    """A token that changes whenever anything the pages show changes."""
    parts: list[Any] = [
        conn.execute(sa.select(sa.func.max(N.id), sa.func.count()).select_from(st.notices)).one(),
        conn.execute(sa.select(sa.func.max(D.id)).select_from(st.dead_letters)).one()]
    if opt.actions:
        parts.append(tuple(sorted(conn.execute(sa.select(A.state, sa.func.count())
                                               .group_by(A.state)).all())))
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]
