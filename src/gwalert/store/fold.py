"""A superevent's state as a fold of its stored notices.

The row of ``gwalert_superevents`` is never read, changed and written back: it is recomputed
from the superevent's stored notices, inside the transaction that stores a new notice and
while that transaction holds the superevent's row lock (see
:meth:`gwalert.store.notices.Store.add`). The fold is deterministic and independent of the
order the notices arrived in or of how several writers interleaved:

- ``n_notices``: how many notices are stored;
- the latest notice: the greatest ``(time_created, content_hash, alert_type)`` (time as
  stored, compared as text like ISO 8601 does; the content hash and alert type break ties
  between different notices created at the same instant, so the choice never depends on
  which was stored first, as an id would);
- ``retracted``: whether any stored notice is a RETRACTION;
- ``key_notice_id``: the latest notice (same order) that carries an event (the key numbers:
  FAR, significance, distance, areas), None if none does;
- ``first_received_at``/``last_received_at``: the least and greatest receive times.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol


class NoticeFacts(Protocol):
    """What the fold reads of a stored notice (a row of ``gwalert_notices``)."""

    id: int
    alert_type: str
    time_created: str
    content_hash: str
    received_at: str
    event_time: str | None


@dataclass(frozen=True)
class SupereventState:
    """A superevent's row as folded from its notices."""

    superevent_id: str
    n_notices: int
    latest_notice_id: int
    latest_alert_type: str
    latest_time_created: str
    retracted: bool
    key_notice_id: int | None
    first_received_at: str
    last_received_at: str

    def row(self) -> dict[str, Any]:
        return {
            "superevent_id": self.superevent_id,
            "n_notices": self.n_notices,
            "latest_notice_id": self.latest_notice_id,
            "latest_alert_type": self.latest_alert_type,
            "latest_time_created": self.latest_time_created,
            "retracted": self.retracted,
            "key_notice_id": self.key_notice_id,
            "first_received_at": self.first_received_at,
            "last_received_at": self.last_received_at,
        }


#: The superevent and what the fold reads of its notices (the store indexes them together,
#: so the fold never reads the notices' rows).
FOLD_COLUMNS = (
    "superevent_id",
    "id",
    "alert_type",
    "time_created",
    "content_hash",
    "received_at",
    "event_time",
)


def order_key(n: NoticeFacts) -> tuple[str, str, str]:
    """How notices of one superevent are ordered: creation time, then content, then alert
    type (with the superevent, a notice's stored identity: a total order)."""
    return (n.time_created, n.content_hash, n.alert_type)


def has_key_numbers(n: NoticeFacts) -> bool:
    """Whether a notice carries an event (a RETRACTION does not)."""
    return n.alert_type != "RETRACTION" and n.event_time is not None


def fold(superevent_id: str, rows: Iterable[NoticeFacts]) -> SupereventState | None:
    """The state of ``superevent_id`` given its stored notices; None when there are none."""
    items = list(rows)
    if not items:
        return None
    latest = max(items, key=order_key)
    keyed = [n for n in items if has_key_numbers(n)]
    key = max(keyed, key=order_key) if keyed else None
    return SupereventState(
        superevent_id=superevent_id,
        n_notices=len(items),
        latest_notice_id=int(latest.id),
        latest_alert_type=latest.alert_type,
        latest_time_created=latest.time_created,
        retracted=any(n.alert_type == "RETRACTION" for n in items),
        key_notice_id=None if key is None else int(key.id),
        first_received_at=min(n.received_at for n in items),
        last_received_at=max(n.received_at for n in items),
    )
