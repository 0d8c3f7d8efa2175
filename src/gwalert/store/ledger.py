"""The action ledger: one row per (notice, rule, action) in the store's database.

A row is written in the same transaction that stores the notice (so it exists before the
broker offset is committed) and moves ``due → running → done`` (or ``failed`` after its last
attempt; ``skipped`` when the notice was older than the rule's ``max_age``). The unique
constraint on (notice_id, rule, action) means a duplicate or a replay can never schedule an
action twice. A ``running`` row carries a lease (owner, expiry) that its runner renews; a row
whose owner died (its lease expired, or its process is gone on this host) is due again.

The table, its states and the read-only queries are in :mod:`gwalert.store.ledger_table` (in
its own :class:`~sqlalchemy.MetaData` on the store's engine); this module holds the state
transitions and re-exports those names, so ``ledger.X`` is the one way in.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..util import utcnow
from .ledger_table import (
    DONE,
    DUE,
    FAILED,
    RUNNING,
    SKIPPED,
    STATES,
    actions,
    counts,
    create,
    has_ready,
    has_running,
    iter_rows,
    metadata,
    new_owner,
    pending,
    ready,
)

__all__ = [
    "DONE",
    "DUE",
    "FAILED",
    "KILLED",
    "RUNNING",
    "SKIPPED",
    "STATES",
    "Claim",
    "actions",
    "attempt_history",
    "claim",
    "counts",
    "create",
    "expire_dead_owners",
    "finish",
    "has_ready",
    "has_running",
    "insert_new",
    "iter_rows",
    "make_due",
    "metadata",
    "new_owner",
    "pending",
    "renew",
    "retry_failed",
    "row",
]


# ---------------------------------------------------------------------------- writing
def insert_new(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows, silently keeping any (notice_id, rule, action) that already exists.

    Safe inside someone else's transaction (no failed statement on PostgreSQL). Returns how
    many rows were inserted.
    """
    if not rows:
        return 0
    name = conn.dialect.name
    if name in ("sqlite", "postgresql"):
        keys = ["notice_id", "rule", "action"]
        stmt: sa.Insert
        if name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(actions).on_conflict_do_nothing(index_elements=keys)
        else:
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt = pg_insert(actions).on_conflict_do_nothing(index_elements=keys)
        return sum(conn.execute(stmt, [row]).rowcount or 0 for row in rows)
    inserted = 0
    for row in rows:
        c = actions.c
        exists = conn.execute(
            sa.select(c.id).where(
                c.notice_id == row["notice_id"], c.rule == row["rule"], c.action == row["action"]
            )
        ).first()
        if exists is None:
            conn.execute(actions.insert().values(**row))
            inserted += 1
    return inserted


def row(
    notice_id: int,
    rule: str,
    action: str,
    action_type: str,
    *,
    max_attempts: int,
    state: str = DUE,
    error: str | None = None,
    details: Any = None,
    now: float | None = None,
) -> dict[str, Any]:
    """A new ledger row (for :func:`insert_new`)."""
    return {
        "notice_id": notice_id,
        "rule": rule,
        "action": action,
        "action_type": action_type,
        "state": state,
        "attempts": 0,
        "max_attempts": max_attempts,
        "next_attempt_at": time.time() if now is None else now,
        "last_error": error,
        "details": json.dumps(details, default=str) if details else None,
        "created_at": utcnow(),
        "finished_at": utcnow() if state in (FAILED, SKIPPED) else None,
    }


def make_due(conn: Connection, row_ids: Iterable[int]) -> int:
    """Make these ``skipped`` rows due (the responder decided they run now)."""
    ids = list(row_ids)
    if not ids:
        return 0
    c = actions.c
    result = conn.execute(
        actions.update()
        .where(c.id.in_(ids), c.state == SKIPPED)
        .values(state=DUE, next_attempt_at=time.time(), finished_at=None, last_error=None)
    )
    return result.rowcount or 0


def retry_failed(conn: Connection, notice_ids: Iterable[int] | None = None) -> int:
    """Make ``failed`` actions (of these notices, or all) due again with fresh attempts.

    A failed row never attempted (its rule could not be evaluated) is deleted instead, so that
    scheduling the notice again evaluates the rule afresh rather than running the action
    blindly. Returns how many rows were reset or deleted."""
    c = actions.c
    where = [c.state == FAILED]
    if notice_ids is not None:
        where.append(c.notice_id.in_(list(notice_ids)))
    deleted = conn.execute(actions.delete().where(*where, c.attempts == 0)).rowcount or 0
    reset = (
        conn.execute(
            actions.update()
            .where(*where)
            .values(state=DUE, attempts=0, next_attempt_at=time.time(), finished_at=None)
        ).rowcount
        or 0
    )
    return deleted + reset


@dataclass(frozen=True)
class Claim:
    """A row this runner now holds (``attempt`` is this run's number, from 1)."""

    id: int
    notice_id: int
    rule: str
    action: str
    action_type: str
    attempt: int
    max_attempts: int
    details: Any
    #: The previous attempt's runner died while it ran (kill -9, power cut).
    interrupted: bool = False
    #: That was the last attempt: only find out whether it completed; never run again.
    recover_only: bool = False

    @property
    def key(self) -> str:
        """The idempotency key actions get (``GWALERT_ACTION_ID``)."""
        return f"{self.notice_id}/{self.rule}/{self.action}"


def claim(
    conn: Connection,
    owner: str,
    limit: int,
    lease: float,
    now: float | None = None,
    exclude: Iterable[int] = (),
) -> list[Claim]:
    """Take up to ``limit`` rows that are due, or running under an expired lease (never the
    ``exclude`` rows: the caller's own actions still running, whatever their lease says)."""
    now = time.time() if now is None else now
    c = actions.c
    exclude = list(exclude)
    query = (
        sa.select(
            c.id,
            c.notice_id,
            c.rule,
            c.action,
            c.action_type,
            c.state,
            c.attempts,
            c.max_attempts,
            c.lease_owner,
            c.details,
        )
        .where(ready(now), *([c.id.not_in(exclude)] if exclude else []))
        .order_by(c.next_attempt_at, c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claims: list[Claim] = []
    for r in conn.execute(query).mappings().all():
        guard = [c.id == r["id"], c.state == r["state"], c.attempts == r["attempts"]]
        details = json.loads(r["details"]) if r["details"] else None
        if r["state"] == RUNNING and r["attempts"] >= r["max_attempts"]:
            # Its runner died during the last attempt: that attempt is used up, but it may
            # have completed (the action type's ``recover`` can tell): claimed without a new
            # attempt, to be recorded done or failed.
            result = conn.execute(
                actions.update().where(*guard).values(lease_owner=owner, lease_until=now + lease)
            )
            if result.rowcount == 1:
                claims.append(
                    Claim(
                        r["id"],
                        r["notice_id"],
                        r["rule"],
                        r["action"],
                        r["action_type"],
                        r["attempts"],
                        r["max_attempts"],
                        details,
                        interrupted=True,
                        recover_only=True,
                    )
                )
            continue
        result = conn.execute(
            actions.update()
            .where(*guard)
            .values(
                state=RUNNING,
                attempts=r["attempts"] + 1,
                lease_owner=owner,
                lease_until=now + lease,
                started_at=utcnow(),
            )
        )
        if result.rowcount == 1:
            claims.append(
                Claim(
                    r["id"],
                    r["notice_id"],
                    r["rule"],
                    r["action"],
                    r["action_type"],
                    r["attempts"] + 1,
                    r["max_attempts"],
                    details,
                    interrupted=r["state"] == RUNNING,
                )
            )
    return claims


def renew(conn: Connection, owner: str, ids: Iterable[int], until: float) -> None:
    ids = list(ids)
    if ids:
        c = actions.c
        conn.execute(
            actions.update()
            .where(c.id.in_(ids), c.state == RUNNING, c.lease_owner == owner)
            .values(lease_until=until)
        )


def finish(
    conn: Connection,
    claim: Claim,
    owner: str,
    *,
    error: str | None = None,
    retry_at: float | None = None,
) -> bool:
    """Record the end of an attempt: done (``error`` None), due again at ``retry_at``, or
    failed. Returns False if this runner no longer held the row (nothing is changed)."""
    c = actions.c
    guard = [
        c.id == claim.id,
        c.state == RUNNING,
        c.lease_owner == owner,
        c.attempts == claim.attempt,
    ]
    if error is not None:
        previous = conn.execute(sa.select(c.last_error).where(*guard)).scalar()
        error = attempt_history(
            error, claim.attempt, claim.max_attempts, previous, final=retry_at is None
        )
    if error is None:
        values: dict[str, Any] = {"state": DONE, "last_error": None, "finished_at": utcnow()}
    elif retry_at is not None:
        values = {"state": DUE, "last_error": error, "next_attempt_at": retry_at}
    else:
        values = {"state": FAILED, "last_error": error, "finished_at": utcnow()}
    values.update(lease_owner=None, lease_until=None)
    return (conn.execute(actions.update().where(*guard).values(**values)).rowcount or 0) == 1


#: Separates the attempts in a ledger error (see :func:`attempt_history`).
EARLIER_SEP = " | earlier: "
NEVER_COMPLETED = " — ran and was killed on each of its "
#: What a killed attempt's error says (see :class:`gwalert.actions.ActionError`).
KILLED = "and was killed"


def attempt_history(
    error: str, attempt: int, max_attempts: int, previous: str | None, *, final: bool
) -> str:
    """The ledger's error after an attempt: this attempt's error (with its number), then the
    earlier attempts' (``previous`` holds them, newest first), so that a row records what
    happened on every attempt. A final failure whose every attempt ran and was killed says so
    at the end: it ran each time and never completed."""
    if attempt <= 1:
        return error  # nothing earlier to tell (the row counts its attempts)
    text = f"{error} (attempt {attempt}/{max_attempts})"
    if previous:
        earlier = previous.split(NEVER_COMPLETED)[0]
        if attempt == 2 and EARLIER_SEP not in earlier:
            earlier += f" (attempt 1/{max_attempts})"
        text += EARLIER_SEP + earlier
    entries = text.split(EARLIER_SEP)
    if final and len(entries) >= attempt and all(KILLED in e for e in entries[:attempt]):
        text += f"{NEVER_COMPLETED}{attempt} attempt(s), never completed"
    return text[:4000]


def expire_dead_owners(conn: Connection, host: str | None = None) -> int:
    """Expire the leases of running rows whose owner process on this host has gone (a kill -9),
    so they are picked up at once instead of after the lease."""
    host = host or socket.gethostname()
    c = actions.c
    owners = (
        conn.execute(sa.select(c.lease_owner).where(c.state == RUNNING).distinct()).scalars().all()
    )
    dead = [o for o in owners if o and _dead_local(o, host)]
    if not dead:
        return 0
    result = conn.execute(
        actions.update().where(c.state == RUNNING, c.lease_owner.in_(dead)).values(lease_until=0.0)
    )
    return result.rowcount or 0


def _dead_local(owner: str, host: str) -> bool:
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
