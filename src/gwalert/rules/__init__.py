"""Rules: which notices fire which actions.

- :mod:`~gwalert.rules.model`: what a loaded config is (:class:`Rule`, :class:`ActionSpec`,
  :class:`Config`, :class:`Match`);
- :mod:`~gwalert.rules.load`: the config file's ``[responder]`` and ``[[rule]]`` tables,
  strictly validated;
- :mod:`~gwalert.rules.registry`: the filter table (:class:`Filter`, :func:`register`);
- :mod:`~gwalert.rules.filters`: the built-in filters, one table entry per key (parse, match,
  describe);
- :mod:`~gwalert.rules.facts`: what rules read from one notice, computed once;
- :mod:`~gwalert.rules.targets`: sky positions from CSV (also ``gwalert skymap --catalog``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..config import ConfigError
from .facts import Facts
from .filters import FILTERS, Filter, match, register
from .load import load_config, parse_config
from .model import ActionSpec, Config, Match, ResponderSettings, Rule, RuleError

__all__ = [
    "FILTERS",
    "ActionSpec",
    "Config",
    "ConfigError",
    "Facts",
    "Filter",
    "Match",
    "ResponderSettings",
    "Rule",
    "RuleError",
    "load_config",
    "match_all",
    "parse_config",
    "register",
]


def match_all(
    rules: Sequence[Rule], notice: Any, summary: Mapping[str, Any] | None = None
) -> list[Match]:
    """Evaluate every rule on one notice, sharing sky-map computations."""
    facts = Facts(notice, summary)
    return [match(rule, facts) for rule in rules]
