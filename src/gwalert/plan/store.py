"""Stored plans: one row per plan made for a superevent and a telescope (``gwalert plan
SUPEREVENT``, the ``plan`` action), so that a new notice's plan can be compared with the
previous one and the dashboard can show them.

The table lives in this module's own :class:`~sqlalchemy.MetaData` on the store's engine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..store.db import create_all_locked, write_transaction
from ..util import utcnow

metadata = sa.MetaData()

plans = sa.Table(
    "gwalert_plans",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("superevent_id", sa.String(64), nullable=False),
    sa.Column("telescope", sa.String(100), nullable=False),  # telescope or footprint name
    sa.Column("notice_id", sa.Integer),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("probability", sa.Float),
    sa.Column("plan", sa.Text, nullable=False),  # the JSON report
    sa.Column("picture", sa.LargeBinary),  # PNG, optional
    sa.Index("ix_gwalert_plans_event", "superevent_id", "telescope", "id"),
)


@dataclass(frozen=True)
class StoredPlan:
    id: int
    superevent_id: str
    telescope: str
    notice_id: int | None
    created_at: str
    probability: float | None
    plan: dict[str, Any]
    has_picture: bool


def create(engine: Engine) -> None:
    create_all_locked(metadata, engine)


def _row(r: Any) -> StoredPlan:
    return StoredPlan(
        r.id,
        r.superevent_id,
        r.telescope,
        r.notice_id,
        r.created_at,
        r.probability,
        json.loads(r.plan),
        r.picture is not None,
    )


def save(
    engine: Engine,
    superevent_id: str,
    telescope: str,
    report: dict[str, Any],
    *,
    notice_id: int | None = None,
    picture: bytes | None = None,
) -> int:
    create(engine)
    with write_transaction(engine) as conn:
        result = conn.execute(
            plans.insert().values(
                superevent_id=superevent_id,
                telescope=telescope,
                notice_id=notice_id,
                created_at=utcnow(),
                probability=report.get("probability"),
                plan=json.dumps(report),
                picture=picture,
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def latest(engine: Engine, superevent_id: str, telescope: str) -> StoredPlan | None:
    if not sa.inspect(engine).has_table("gwalert_plans"):
        return None
    with engine.connect() as conn:
        r = conn.execute(
            sa.select(plans)
            .where(plans.c.superevent_id == superevent_id, plans.c.telescope == telescope)
            .order_by(plans.c.id.desc())
            .limit(1)
        ).first()
    return _row(r) if r is not None else None


def for_event(engine: Engine, superevent_id: str) -> list[StoredPlan]:
    """Every stored plan of a superevent, newest first."""
    with engine.connect() as conn:
        return for_event_on(conn, superevent_id)


def for_event_on(conn: Connection, superevent_id: str) -> list[StoredPlan]:
    """``for_event`` on an open connection (the dashboard's)."""
    if not sa.inspect(conn).has_table("gwalert_plans"):
        return []
    rows = conn.execute(
        sa.select(plans).where(plans.c.superevent_id == superevent_id).order_by(plans.c.id.desc())
    )
    return [_row(r) for r in rows]


def picture_on(conn: Connection, plan_id: int) -> bytes | None:
    if not sa.inspect(conn).has_table("gwalert_plans"):
        return None
    r = conn.execute(sa.select(plans.c.picture).where(plans.c.id == plan_id)).first()
    return None if r is None or r.picture is None else bytes(r.picture)


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What changed between two plans: fields added and dropped (by id, or by position to
    0.01° when ids differ), and the covered probability before and after."""

    def key(t: dict[str, Any]) -> str:
        return f"{round(float(t['ra']), 2) % 360:.2f},{round(float(t['dec']), 2):.2f}"

    a = {key(t): t for t in old.get("tiles", [])}
    b = {key(t): t for t in new.get("tiles", [])}
    return {
        "previous_created_at": old.get("created_at"),
        "previous_probability": old.get("probability"),
        "probability": new.get("probability"),
        "added": [b[k]["id"] for k in b if k not in a],
        "dropped": [a[k]["id"] for k in a if k not in b],
        "kept": sum(1 for k in b if k in a),
        "order_changed": [t for t in b if t in a][: len(a)] != [t for t in a if t in b],
    }


def diff_text(d: dict[str, Any]) -> list[str]:
    old = d.get("previous_probability") or 0.0
    new = d.get("probability") or 0.0
    lines = [
        f"  changes since the previous plan ({d.get('previous_created_at') or 'stored'}): "
        f"{d['kept']} fields kept, {len(d['added'])} added, {len(d['dropped'])} dropped; "
        f"probability covered {100 * old:.1f}% -> {100 * new:.1f}% (each on its own map)"
    ]
    if d["added"]:
        lines.append(f"    added: {', '.join(map(str, d['added'][:30]))}")
    if d["dropped"]:
        lines.append(f"    dropped: {', '.join(map(str, d['dropped'][:30]))}")
    return lines
