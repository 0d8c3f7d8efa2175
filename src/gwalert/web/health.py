"""What the dashboard's health page reads: per-feed status, dead letters, failed actions,
counts, and the version token that changes whenever anything the pages show changes."""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..store import ledger
from ..store import notices as st
from . import fmt
from .queries import A, D, N, StoreView

#: Sources whose silence is not news (files are read once).
_QUIET_KINDS = ("file",)


# ----------------------------------------------------------------------------- health
def _feed_name(source: Any, file_feeds: Sequence[str] = ()) -> str:
    """A notice's source as a feed: Kafka sources as they are; a file as the file or
    directory feed that read it (``listen DIR``), else "files"."""
    text = str(source or "?")
    if not text.startswith("file:"):
        return text
    path = text[len("file:") :]
    for feed in file_feeds:  # the longest (most specific) first
        if _reads(feed, path):
            return feed
    return "files"


def _reads(feed: str, path: str) -> bool:
    """Whether the file feed ``feed`` (a path as the listener was given it, perhaps
    relative) is the file ``path`` (absolute) or the directory holding it."""
    name = posixpath.normpath(feed.strip())
    if name in (".", ""):
        return False
    parent = posixpath.dirname(path)
    if name.startswith("/"):
        return path == name or parent == name
    return path.endswith("/" + name) or parent.endswith("/" + name)


def _is_file_feed(name: str) -> bool:
    return "://" not in name and name not in ("files", "?")


def _age(now: datetime, text: Any) -> float | None:
    dt = fmt.parse_time(text)
    return None if dt is None else (now - dt).total_seconds()


def _blank_feed(name: str) -> dict[str, Any]:
    return {
        "feed": name,
        "notices": 0,
        "dead_letters": 0,
        "last_message_at": None,
        "last_heartbeat_at": None,
        "state": None,
        "detail": None,
        "updated_at": None,
    }


def sources(conn: Connection, opt: StoreView, silence: float) -> list[dict[str, Any]]:
    """Per feed: last message, last heartbeat, state and a silence warning."""
    now = datetime.now(UTC)
    out: dict[str, dict[str, Any]] = {}
    rows: list[Any] = []
    table = opt.feeds
    if table is not None:
        try:
            rows = list(conn.execute(sa.select(table)).mappings())
        except sa.exc.SQLAlchemyError:
            rows = []
    file_feeds = sorted(
        (str(r.get("feed")) for r in rows if _is_file_feed(str(r.get("feed")))),
        key=len,
        reverse=True,
    )
    for n in opt.index.load(conn):
        name = _feed_name(n["source"], file_feeds)
        feed = out.setdefault(name, _blank_feed(name))
        feed["notices"] += 1
        feed["last_message_at"] = max(
            filter(None, (feed["last_message_at"], n["received_at"])), default=None
        )
    for source, last, count in conn.execute(
        sa.select(D.source, sa.func.max(D.received_at), sa.func.count()).group_by(D.source)
    ):
        name = _feed_name(source, file_feeds)
        feed = out.setdefault(name, _blank_feed(name))
        feed["dead_letters"] += int(count)
        feed["last_message_at"] = max(filter(None, (feed["last_message_at"], last)), default=None)
    for row in rows:
        name = str(row.get("feed"))
        feed = out.setdefault(name, _blank_feed(name))
        for key in ("last_message_at", "last_heartbeat_at", "state", "detail", "updated_at"):
            value = row.get(key)
            if value is not None:
                feed[key] = value if key in ("state", "detail") else str(value)
    result = []
    for feed in sorted(out.values(), key=lambda f: f["feed"]):
        msg_age = _age(now, feed["last_message_at"])
        hb_age = _age(now, feed.get("last_heartbeat_at"))
        contact = min((a for a in (msg_age, hb_age) if a is not None), default=None)
        feed["seconds_since_last_message"] = msg_age
        feed["seconds_since_last_heartbeat"] = hb_age
        warning = None
        state = str(feed.get("state") or "")
        files = feed["feed"] == "files" or _is_file_feed(feed["feed"])
        if files and state.lower() in ("stopped", "ok", ""):
            warning = None  # files are read once: finished is their normal end
        elif state and state.lower() not in ("ok", "listening", "connected", "live", "idle"):
            warning = f"{state}: {feed.get('detail') or ''}".rstrip(": ")
        elif silence > 0 and not files and contact is not None and contact > silence:
            warning = f"silent for {fmt.ago(contact).removesuffix(' ago')}"
        feed["warning"] = warning
        result.append(feed)
    return result


def dead_letters(conn: Connection, limit: int = 50) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(
            D.id,
            D.error,
            D.source,
            D.partition,
            D.offset,
            D.received_at,
            D.raw_sha256,
            sa.func.length(D.raw).label("size"),
        )
        .order_by(D.id.desc())
        .limit(limit)
    ).mappings()
    return [dict(r) for r in rows]


def dead_letter(conn: Connection, dead_letter_id: int) -> Any:
    return conn.execute(sa.select(st.dead_letters).where(D.id == dead_letter_id)).mappings().first()


def failed_actions(conn: Connection, opt: StoreView, limit: int = 50) -> list[dict[str, Any]]:
    if not opt.actions:
        return []
    rows = conn.execute(
        sa.select(
            A.id,
            A.notice_id,
            A.rule,
            A.action,
            A.action_type,
            A.attempts,
            A.last_error,
            A.finished_at,
            N.superevent_id,
            N.alert_type,
        )
        .select_from(ledger.actions.join(st.notices, N.id == A.notice_id))
        .where(A.state == ledger.FAILED)
        .order_by(A.id.desc())
        .limit(limit)
    ).mappings()
    from ..redact import ledger_row

    return [ledger_row(r) for r in rows]


def counts(conn: Connection, opt: StoreView) -> dict[str, Any]:
    def count(table: sa.Table) -> int:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0)

    out: dict[str, Any] = {
        "notices": count(st.notices),
        "superevents": count(st.superevents),
        "dead_letters": count(st.dead_letters),
        "duplicates": None,
        "actions": ledger.counts(conn) if opt.actions else {},
    }
    table = opt.arrivals
    if table is not None and "is_first" in table.c:
        try:
            out["duplicates"] = int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(table).where(sa.not_(table.c.is_first))
                ).scalar()
                or 0
            )
        except sa.exc.SQLAlchemyError:
            pass
    return out


def version(conn: Connection, opt: StoreView) -> str:
    """A token that changes whenever anything the pages show changes."""
    parts: list[Any] = [
        conn.execute(sa.select(sa.func.max(N.id), sa.func.count()).select_from(st.notices)).one(),
        conn.execute(sa.select(sa.func.max(D.id)).select_from(st.dead_letters)).one(),
    ]
    if opt.actions:
        parts.append(
            tuple(sorted(conn.execute(sa.select(A.state, sa.func.count()).group_by(A.state)).all()))
        )
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]
