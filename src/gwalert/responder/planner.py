"""The planner: which actions a new notice triggers, recorded as ledger rows in the
transaction that stores the notice (the store hook), so they exist before the broker offset is
committed, and at most once (unique constraint). Never raises for a rule that cannot be
evaluated: its actions are recorded as ``failed`` with the reason instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from ..alerts import Notice
from ..rules import ActionSpec, Config, Match, Rule, match_all
from ..store import ledger

log = logging.getLogger("gwalert.responder")


class Planner:
    """Plans actions for new notices from ``config``'s rules. ``ignore_age`` plans them even
    for notices older than their rule's ``max_age`` (for a replay the user asked for);
    ``planned`` is called after each notice's rows are recorded (e.g. to wake a runner)."""

    def __init__(
        self, config: Config, *, ignore_age: bool = False, planned: Callable[[], None] | None = None
    ) -> None:
        self.config = config
        self.ignore_age = ignore_age
        self.planned = planned

    def schedule(
        self,
        conn: Connection,
        notice_id: int,
        notice: Notice,
        summary: Mapping[str, Any] | None = None,
    ) -> None:
        """The store hook: record the actions ``notice`` triggers, in the caller's transaction.

        Never raises for a rule that cannot be evaluated (that would keep the notice out of the
        store): its actions are recorded as ``failed`` with the reason instead.
        """
        rows = self.plan(notice_id, notice, summary)
        ledger.insert_new(conn, rows)
        if self.ignore_age:
            ledger.unskip(conn, [notice_id])
        if self.planned is not None:
            self.planned()

    def plan(
        self, notice_id: int, notice: Notice, summary: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The ledger rows for one notice (what :meth:`schedule` inserts)."""
        rules = self.config.rules
        matches: list[Match | _Failed] | None
        try:
            matches = list(match_all(rules, notice, summary))
        except Exception:  # noqa: BLE001 - one bad rule must not stop the others
            matches = None
        if matches is None:  # evaluate rule by rule to find which one failed
            matches = []
            for rule in rules:
                try:
                    matches.extend(match_all([rule], notice, summary))
                except Exception as exc:  # noqa: BLE001
                    error = f"rule could not be evaluated: {type(exc).__name__}: {exc}"
                    log.error(
                        "%s %s: rule %s: %s",
                        notice.superevent_id,
                        notice.alert_type,
                        rule.name,
                        error,
                    )
                    matches.append(_Failed(rule, error))
        rows: list[dict[str, Any]] = []
        now = datetime.now(UTC)
        for m in matches:
            if isinstance(m, _Failed):
                rows += [
                    self._row(notice_id, m.rule, a, state=ledger.FAILED, error=m.error)
                    for a in m.rule.actions
                ]
                continue
            if not m.matched:
                continue
            if not self.ignore_age and m.rule.too_old(notice, now):
                age = m.rule.max_age
                log.info(
                    "%s %s: rule %s matches but the notice is older than max_age %s: no action",
                    notice.superevent_id,
                    notice.alert_type,
                    m.rule.name,
                    age,
                )
                rows += [
                    self._row(
                        notice_id,
                        m.rule,
                        a,
                        state=ledger.SKIPPED,
                        error=f"older than max_age {age}",
                    )
                    for a in m.rule.actions
                ]
                continue
            log.info(
                "%s %s: rule %s: %s",
                notice.superevent_id,
                notice.alert_type,
                m.rule.name,
                ", ".join(a.name for a in m.rule.actions),
            )
            rows += [
                self._row(notice_id, m.rule, a, details=dict(m.details) or None)
                for a in m.rule.actions
            ]
        return rows

    def _row(self, notice_id: int, rule: Rule, action: ActionSpec, **kw: Any) -> dict[str, Any]:
        attempts = action.attempts or self.config.responder.attempts
        return ledger.row(
            notice_id, rule.name, action.name, action.type, max_attempts=attempts, **kw
        )


@dataclass(frozen=True)
class _Failed:
    rule: Rule
    error: str
    matched = False
