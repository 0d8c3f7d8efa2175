"""The action ledger's table (one row per notice, rule and action), its states and the
read-only queries on it; :mod:`gwalert.store.ledger` holds the state transitions (schedule,
claim, renew, finish, recover) and re-exports these names."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

DUE, RUNNING, DONE, FAILED, SKIPPED = "due", "running", "done", "failed", "skipped"
STATES = (DUE, RUNNING, DONE, FAILED, SKIPPED)

metadata = sa.MetaData()

actions = sa.Table(
    "gwalert_actions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("notice_id", sa.Integer, nullable=False, index=True),
    sa.Column("rule", sa.String(100), nullable=False),
    sa.Column("action", sa.String(100), nullable=False),
    sa.Column("action_type", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.Float, nullable=False),  # Unix time
    sa.Column("lease_owner", sa.String(200)),
    sa.Column("lease_until", sa.Float),  # Unix time
    sa.Column("last_error", sa.Text),
    sa.Column("details", sa.Text),  # JSON: what the rule matched on (e.g. targets)
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("started_at", sa.String(40)),
    sa.Column("finished_at", sa.String(40)),
    sa.UniqueConstraint("notice_id", "rule", "action", name="uq_gwalert_actions_once"),
    sa.Index("ix_gwalert_actions_state_next", "state", "next_attempt_at"),
)


def create(engine: Engine) -> None:
    """Create the ledger's tables if they do not exist."""
    from .db import create_all_locked

    create_all_locked(metadata, engine)


def new_owner() -> str:
    """A runner's identity: host, process id and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


def ready(now: float) -> Any:
    c = actions.c
    return sa.or_(
        sa.and_(c.state == DUE, c.next_attempt_at <= now),
        sa.and_(c.state == RUNNING, c.lease_until < now),
    )


def has_ready(conn: Connection, now: float | None = None) -> bool:
    """Whether any row could be claimed (a read: no write lock when there is nothing to do)."""
    now = time.time() if now is None else now
    return conn.execute(sa.select(actions.c.id).where(ready(now)).limit(1)).first() is not None


def has_running(conn: Connection) -> bool:
    return (
        conn.execute(sa.select(actions.c.id).where(actions.c.state == RUNNING).limit(1)).first()
        is not None
    )


# ---------------------------------------------------------------------------- reading
def iter_rows(conn: Connection, notice_ids: Iterable[int] | None = None) -> Iterator[Any]:
    c = actions.c
    query = sa.select(actions).order_by(c.notice_id, c.id)
    if notice_ids is not None:
        query = query.where(c.notice_id.in_(list(notice_ids)))
    yield from conn.execute(query).mappings()


def pending(conn: Connection, notice_ids: Iterable[int] | None = None) -> int:
    """How many rows are still due or running."""
    c = actions.c
    query = sa.select(sa.func.count()).select_from(actions).where(c.state.in_([DUE, RUNNING]))
    if notice_ids is not None:
        query = query.where(c.notice_id.in_(list(notice_ids)))
    return int(conn.execute(query).scalar() or 0)


def counts(conn: Connection) -> dict[str, int]:
    c = actions.c
    found: dict[str, int] = {
        state: n for state, n in conn.execute(sa.select(c.state, sa.func.count()).group_by(c.state))
    }
    return {state: int(found.get(state, 0)) for state in STATES}
