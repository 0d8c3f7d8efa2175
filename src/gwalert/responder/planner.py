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
from ..util import duration

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

        What changes is :meth:`decide`'s verdict on the notice's ledger rows (the same code a
        dry run reports). Never raises for a rule that cannot be evaluated (that would keep the
        notice out of the store): its actions are recorded as ``failed`` with the reason.
        """
        decisions = self.decide(notice_id, notice, summary, recorded(conn, notice_id)).decisions
        ledger.insert_new(conn, [d.row for d in decisions if d.row is not None])
        again = [d.row_id for d in decisions if d.verdict == FIRE and d.state == ledger.SKIPPED]
        ledger.make_due(conn, [i for i in again if i is not None])
        if self.planned is not None:
            self.planned()

    def decide(
        self,
        notice_id: int,
        notice: Notice,
        summary: Mapping[str, Any] | None,
        existing: Mapping[tuple[str, str], Recorded],
        *,
        retry_failed: bool = False,
    ) -> Plan:
        """What scheduling ``notice`` does given its ledger rows ``existing`` ((rule, action)
        -> state): one :class:`Decision` per action. ``retry_failed`` first applies what
        :func:`gwalert.store.ledger.retry_failed` does to the rows (a replay's
        ``--retry-failed``). Pure: :meth:`schedule` applies it, a dry run prints it."""
        rows: dict[tuple[str, str], Recorded | None] = dict(existing)
        if retry_failed:
            for key, rec in list(rows.items()):
                if rec is not None and rec.state == ledger.FAILED:
                    if rec.attempts == 0:  # the rule could not be evaluated: evaluate afresh
                        del rows[key]
                    else:
                        rows[key] = Recorded(ledger.DUE, 0, rec.row_id)
        matches = self._matches(notice, summary)
        out: list[Decision] = []
        for row in self._rows(notice_id, notice, matches):
            key = (row["rule"], row["action"])
            rec = rows.pop(key, None)
            if rec is None:
                verdict = {ledger.DUE: FIRE, ledger.SKIPPED: TOO_OLD}.get(row["state"], BROKEN)
                out.append(Decision(*key, verdict, None, None, row))
            elif rec.state == ledger.SKIPPED and row["state"] == ledger.DUE:
                # skipped as too old, asked for now (ignore_age): due again
                out.append(Decision(*key, FIRE, rec.state, rec.row_id, None))
            else:
                out.append(_recorded(key, rec, self.config))
        out += [_recorded(key, rec, self.config) for key, rec in rows.items() if rec]
        no_match = {
            m.rule.name: m.reason or "" for m in matches if isinstance(m, Match) and not m.matched
        }
        return Plan(out, no_match)

    def plan(
        self, notice_id: int, notice: Notice, summary: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The ledger rows for one notice as if it had none yet."""
        return self._rows(notice_id, notice, self._matches(notice, summary))

    def _matches(self, notice: Notice, summary: Mapping[str, Any] | None) -> list[Match | _Failed]:
        rules = self.config.rules
        try:
            return list(match_all(rules, notice, summary))
        except Exception:  # noqa: BLE001 - one bad rule must not stop the others
            pass
        matches: list[Match | _Failed] = []  # evaluate rule by rule to find which one failed
        for rule in rules:
            try:
                matches.extend(match_all([rule], notice, summary))
            except Exception as exc:  # noqa: BLE001
                error = f"rule could not be evaluated: {type(exc).__name__}: {exc}"
                log.error(
                    "%s %s: rule %s: %s", notice.superevent_id, notice.alert_type, rule.name, error
                )
                matches.append(_Failed(rule, error))
        return matches

    def _rows(
        self, notice_id: int, notice: Notice, matches: list[Match | _Failed]
    ) -> list[dict[str, Any]]:
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
                    duration(age),
                )
                rows += [
                    self._row(
                        notice_id,
                        m.rule,
                        a,
                        state=ledger.SKIPPED,
                        error=f"older than max_age {duration(age)}",
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


#: Verdicts of :meth:`Planner.decide`: the action runs in this run (a new row, a row due from
#: before, a skipped row asked for with ignore_age, a failed row retried) ...
FIRE = "fire"
#: ... a new row recorded ``skipped``: the notice is older than the rule's max_age ...
TOO_OLD = "too old"
#: ... a new row recorded ``failed``: the rule could not be evaluated ...
BROKEN = "rule failed"
#: ... the row is due but its rule or action is no longer in the config: recorded failed ...
VANISHED = "not in the config"
#: ... or the ledger already holds it (done, failed, skipped, running elsewhere): nothing.
ALREADY = "already"


@dataclass(frozen=True)
class Recorded:
    """A ledger row as :meth:`Planner.decide` needs it."""

    state: str
    attempts: int = 0
    row_id: int | None = None


@dataclass(frozen=True)
class Decision:
    rule: str
    action: str
    verdict: str  # FIRE, TOO_OLD, BROKEN, VANISHED or ALREADY
    state: str | None  # the ledger row's state before (None: no row yet)
    row_id: int | None  # the existing row's id
    row: dict[str, Any] | None  # the new row to insert


@dataclass(frozen=True)
class Plan:
    decisions: list[Decision]
    no_match: dict[str, str]  # rule -> why it does not match

    def by(self, verdict: str) -> list[Decision]:
        return [d for d in self.decisions if d.verdict == verdict]


def _recorded(key: tuple[str, str], rec: Recorded, config: Config) -> Decision:
    if rec.state == ledger.DUE:
        rule = config.rule(key[0])
        known = rule is not None and any(a.name == key[1] for a in rule.actions)
        return Decision(*key, FIRE if known else VANISHED, rec.state, rec.row_id, None)
    return Decision(*key, ALREADY, rec.state, rec.row_id, None)


@dataclass(frozen=True)
class _Failed:
    rule: Rule
    error: str
    matched = False


def recorded(conn: Connection, notice_id: int) -> dict[tuple[str, str], Recorded]:
    """(rule, action) -> the ledger row of notice ``notice_id`` as :meth:`Planner.decide`
    reads it: the store hook and ``replay --dry-run`` read it here, so they cannot differ."""
    return {
        (r["rule"], r["action"]): Recorded(r["state"], int(r["attempts"] or 0), int(r["id"]))
        for r in ledger.iter_rows(conn, [notice_id])
    }
