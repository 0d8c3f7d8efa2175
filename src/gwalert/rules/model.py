"""What a loaded config is: rules (filters and actions), responder settings, match results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import GwalertError
from ..util import public
from .facts import Facts
from .registry import FILTERS

if TYPE_CHECKING:
    from ..alerts import Notice

#: Default ``max_age``: notices older than this when they arrive fire no action.
DEFAULT_MAX_AGE = timedelta(days=1)


class RuleError(GwalertError):
    """A rule could not be evaluated (e.g. the sky-map analysis it needs is missing)."""


@dataclass(frozen=True)
class ActionSpec:
    """One ``[[rule.action]]``: its type, its key in the ledger and its validated options."""

    type: str
    name: str
    options: Mapping[str, Any] = field(repr=False)
    #: Option names whose values are secrets (never logged, never printed).
    secret_keys: tuple[str, ...] = ()
    attempts: int | None = None
    timeout: float | None = None

    def public_options(self) -> dict[str, Any]:
        """The options with secret values replaced by ``"***"`` (for ``--json`` output)."""
        return {k: ("***" if k in self.secret_keys else public(v)) for k, v in self.options.items()}


@dataclass(frozen=True)
class Rule:
    """A named set of filters (:data:`gwalert.rules.filters.FILTERS` keys to their parsed
    values, in the table's order) and the actions they fire."""

    name: str
    actions: tuple[ActionSpec, ...] = ()
    filters: Mapping[str, Any] = field(default_factory=dict)
    #: Notices older than this (time_created to arrival) fire nothing; None = no limit.
    max_age: timedelta | None = DEFAULT_MAX_AGE

    def match(self, notice: Notice, summary: Mapping[str, Any] | None = None) -> Match:
        """Whether ``notice`` passes every filter (age is checked separately, see
        :meth:`too_old`). ``summary`` is :func:`gwalert.summary.summarize`'s output if known."""
        return match(self, Facts(notice, summary))

    def too_old(self, notice: Notice, now: datetime | None = None) -> bool:
        if self.max_age is None:
            return False
        created = notice.time_created
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        return (now or datetime.now(UTC)) - created > self.max_age

    def describe(self) -> dict[str, Any]:
        """The rule as JSON-ready values, secrets hidden."""
        out: dict[str, Any] = {"name": self.name}
        for key, value in self.filters.items():
            out[key] = FILTERS[key].describe(value)
        out["max_age"] = None if self.max_age is None else self.max_age.total_seconds()
        out["actions"] = [
            {"type": a.type, "name": a.name, **a.public_options()} for a in self.actions
        ]
        return out


@dataclass(frozen=True)
class ResponderSettings:
    workers: int = 8
    attempts: int = 4
    backoff: float = 10.0
    backoff_max: float = 600.0


@dataclass(frozen=True)
class Config:
    rules: tuple[Rule, ...]
    responder: ResponderSettings = ResponderSettings()
    path: str | None = None

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    def describe(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "responder": vars(self.responder),
            "rules": [r.describe() for r in self.rules],
        }


@dataclass(frozen=True)
class Match:
    rule: Rule
    matched: bool
    #: Why not, e.g. ``"far 1e-06 > far_max 1e-07"`` (None when matched).
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.matched


def match(rule: Rule, facts: Facts) -> Match:
    """Whether ``facts`` pass every filter of ``rule`` (the first failing one says why)."""
    details: dict[str, Any] = {}
    sky_checked = False
    for key, value in rule.filters.items():
        flt = FILTERS[key]
        if flt.skymap and not sky_checked:
            sky_checked = True
            if facts.skymap() is None:
                return Match(rule, False, "no usable sky map")
        reason = flt.match(value, facts, rule, details)
        if reason is not None:
            return Match(rule, False, reason)
    return Match(rule, True, None, details)
