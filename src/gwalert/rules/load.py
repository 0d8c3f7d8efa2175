"""Rules from the config file: ``[[rule]]`` tables, strictly validated.

A config looks like::

    [responder]                 # optional: how actions run
    workers = 8                 # actions running at once
    attempts = 4                # tries per action before it is recorded as failed
    backoff = 10                # seconds before the first retry, doubling up to backoff_max
    max_age = "1d"              # default for rules: older notices fire nothing

    [[rule]]
    name = "bns"
    real = true
    alert_type = ["PRELIMINARY", "INITIAL", "UPDATE"]
    group = "CBC"
    classification_min = { BNS = 0.5 }
    area_90_max = 1000

    [[rule.action]]
    type = "command"
    argv = ["schedule-telescope"]

Every filter (:mod:`gwalert.rules.filters`) is optional; a rule matches a notice when all of
its filters do. Unknown keys and wrong types are errors naming the file, the rule and the key.
Each action's own keys are checked by its action type (:mod:`gwalert.actions`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from .. import options as opt
from ..config import ConfigError, default_config_path, read_config
from ..errors import GwalertError
from ..options import OptionError
from .filters import FILTERS
from .model import DEFAULT_MAX_AGE, ActionSpec, Config, ResponderSettings, Rule

#: Top-level tables of the same file that belong to the listener (checked there, not here).
FOREIGN_SECTIONS = ("gcn", "kafka", "store", "serve")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_GROUPS = ("cbc", "burst")


def load_config(path: str | os.PathLike | None = None, *, resolve: bool = True) -> Config:
    """Read and validate a config file (default :func:`gwalert.config.default_config_path`;
    when that file does not exist the config has no rules).

    ``resolve`` also imports ``python`` action callables, so a mistake shows at start, not at
    the first alert.
    """
    if path is None and not default_config_path().exists():
        return Config((), ResponderSettings(), None)
    data = read_config(path)
    p = Path(path).expanduser() if path is not None else default_config_path()
    name = str(path) if path is not None else str(p)
    return parse_config(data, source=name, base=p.parent, resolve=resolve)


def parse_config(
    data: Mapping[str, Any],
    *,
    source: str = "<config>",
    base: str | os.PathLike = ".",
    resolve: bool = True,
) -> Config:
    """Validate an already-parsed config (a dict as :mod:`tomllib` returns)."""
    ctx = _Ctx(source, Path(base))
    unknown = set(data) - {"rule", "responder"} - set(FOREIGN_SECTIONS)
    if unknown:
        key = sorted(unknown)[0]
        raise ctx.error(
            None,
            key,
            "unknown key"
            + opt.suggest(key, ["rule", "responder", *FOREIGN_SECTIONS])
            + f" (expected rule, responder, {', '.join(FOREIGN_SECTIONS)})",
        )
    for key in FOREIGN_SECTIONS:
        if key in data and not isinstance(data[key], dict):
            raise ctx.error(None, key, f"must be a table ([{key}])")
    try:
        settings, default_age = _responder(data.get("responder", {}))
    except OptionError as exc:
        raise ctx.error(None, exc.key, exc.message) from None
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        raise ctx.error(None, "rule", "must be an array of tables ([[rule]])")
    rules: list[Rule] = []
    for i, raw in enumerate(raw_rules):
        rule = _rule(ctx, raw, i, default_age, resolve)
        if any(r.name == rule.name for r in rules):
            raise ctx.error(rule.name, "name", "two rules have this name")
        rules.append(rule)
    return Config(tuple(rules), settings, source)


class _Ctx:
    def __init__(self, source: str, base: Path) -> None:
        self.source = source
        self.base = base

    def error(self, rule: str | None, key: str | None, message: str) -> ConfigError:
        parts = [self.source]
        if rule is not None:
            parts.append(f"rule {rule!r}")
        if key is not None:
            parts.append(f"key {key!r}")
        return ConfigError(": ".join(parts + [message]))


def _responder(raw: Any) -> tuple[ResponderSettings, timedelta | None]:
    where = "responder"
    if not isinstance(raw, dict):
        raise OptionError(where, "must be a table ([responder])")
    allowed = {"workers", "attempts", "backoff", "backoff_max", "max_age"}
    for key in raw:
        if key not in allowed:
            raise OptionError(f"{where}.{key}", "unknown key" + opt.suggest(key, allowed))
    d = ResponderSettings()
    settings = ResponderSettings(
        workers=opt.integer(f"{where}.workers", raw.get("workers", d.workers), 1, 256),
        attempts=opt.integer(f"{where}.attempts", raw.get("attempts", d.attempts), 1, 100),
        backoff=opt.number(f"{where}.backoff", raw.get("backoff", d.backoff), 0),
        backoff_max=opt.number(f"{where}.backoff_max", raw.get("backoff_max", d.backoff_max), 0),
    )
    age = duration(f"{where}.max_age", raw["max_age"]) if "max_age" in raw else DEFAULT_MAX_AGE
    return settings, age


def _rule(ctx: _Ctx, raw: Any, index: int, default_age: timedelta | None, resolve: bool) -> Rule:
    if not isinstance(raw, dict):
        raise ctx.error(f"#{index + 1}", None, "each [[rule]] must be a table")
    name = raw.get("name")
    if name is None:
        raise ctx.error(f"#{index + 1}", "name", "missing (every rule needs a name)")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ctx.error(
            f"#{index + 1}",
            "name",
            "must be a string of letters, digits, '_', '.', ':' or '-' (at most 100 characters)",
        )
    rule_keys = ["name", "action", "max_age", *FILTERS]
    for key in raw:
        if key not in rule_keys:
            raise ctx.error(name, key, "unknown key" + opt.suggest(key, rule_keys))
    try:
        filters = {key: flt.parse(raw[key], ctx.base) for key, flt in FILTERS.items() if key in raw}
        max_age = duration("max_age", raw["max_age"]) if "max_age" in raw else default_age
        _check_possible(filters)
    except OptionError as exc:
        raise ctx.error(name, exc.key, exc.message) from None
    actions = raw.get("action", [])
    if not isinstance(actions, list) or not all(isinstance(a, dict) for a in actions):
        raise ctx.error(name, "action", "must be an array of tables ([[rule.action]])")
    if not actions:
        raise ctx.error(name, "action", "a rule needs at least one [[rule.action]]")
    specs: list[ActionSpec] = []
    for i, a in enumerate(actions):
        try:
            spec = _action(ctx, i, a, resolve, [s.type for s in specs])
        except OptionError as exc:
            raise ctx.error(name, exc.key, exc.message) from None
        if any(s.name == spec.name for s in specs):
            raise ctx.error(
                name, f"action[{i}].name", f"two actions of this rule are named {spec.name!r}"
            )
        specs.append(spec)
    return Rule(name=name, actions=tuple(specs), filters=filters, max_age=max_age)


def _action(
    ctx: _Ctx, index: int, raw: dict[str, Any], resolve: bool, earlier: list[str]
) -> ActionSpec:
    from ..actions import get_action_type

    where = f"action[{index}]"
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise OptionError(
            f"{where}.type",
            "missing or not a string (command, webhook, email, save, python or a plugin's type)",
        )
    try:
        action_type = get_action_type(kind)
    except GwalertError as exc:
        raise OptionError(f"{where}.type", str(exc)) from None
    name = raw.get("name", f"{kind}{index}" if kind in earlier else kind)
    if not isinstance(name, str) or not _NAME.match(name):
        raise OptionError(
            f"{where}.name", "must be a short string of letters, digits, '_', '.', ':' or '-'"
        )
    options = {k: v for k, v in raw.items() if k not in ("type", "name", "attempts", "timeout")}
    attempts = (
        opt.integer(f"{where}.attempts", raw["attempts"], 1, 100) if "attempts" in raw else None
    )
    timeout = opt.number(f"{where}.timeout", raw["timeout"], 0) if "timeout" in raw else None
    if timeout is not None and timeout <= 0:
        raise OptionError(f"{where}.timeout", "must be greater than 0")
    try:
        validated = action_type.validate(options, base=ctx.base, resolve=resolve)
    except OptionError as exc:
        raise OptionError(f"{where}.{exc.key}" if exc.key else where, exc.message) from None
    return ActionSpec(
        type=kind,
        name=name,
        options=validated,
        secret_keys=tuple(getattr(action_type, "SECRET_KEYS", ())),
        attempts=attempts,
        timeout=timeout,
    )


def duration(key: str, value: Any) -> timedelta | None:
    """Seconds (a number), a string like ``"90m"``/``"12h"``/``"2d"``, or false: no limit."""
    if value is False:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise OptionError(
            key,
            'must be seconds, a duration like "12h" or "2d" '
            "(units s, m, h, d, w), or false for no limit",
        )
    if not math.isfinite(seconds) or seconds <= 0 or seconds > 1e10:
        raise OptionError(key, "must be a positive duration (or false for no limit)")
    return timedelta(seconds=seconds)


def _check_possible(kw: Mapping[str, Any]) -> None:
    """Refuse filters that no LVK notice can ever satisfy together."""
    kinds = [k for k in ("real", "mock", "test") if kw.get(k) is True]
    if len(kinds) > 1:
        other = next(k for k in ("real", "mock", "test") if k not in kinds[:2])
        raise OptionError(
            kinds[1],
            f"{kinds[0]} = true and {kinds[1]} = true: a notice "
            f"is exactly one of real, mock or test, so it cannot be both; for "
            f"either kind write {other} = false instead",
        )
    if kw.get("real") is False and kw.get("mock") is False and kw.get("test") is False:
        raise OptionError("real", "real, mock and test are all false: nothing can match")
    cls = kw.get("classification_min")
    if cls and sum(cls.values()) > 1.0 + 1e-9:
        raise OptionError(
            "classification_min",
            f"thresholds add up to "
            f"{sum(cls.values()):g}, but a notice's classification "
            "probabilities add up to 1: nothing can match",
        )
    groups = kw.get("group")
    if groups is not None:
        bad = sorted(g for g in groups if g not in _GROUPS)
        if bad:
            raise OptionError(
                "group",
                f"unknown group {bad[0]!r}{opt.suggest(bad[0], _GROUPS)} (LVK groups: CBC, Burst)",
            )
        if groups == {"burst"}:
            for key, flt in FILTERS.items():
                if flt.cbc_only and kw.get(key) is not None:
                    raise OptionError(
                        key,
                        "Burst notices carry no source classification, "
                        'properties or distance: with group = "Burst" '
                        "nothing can match",
                    )
    if kw.get("alert_type") == {"RETRACTION"}:
        for key, flt in FILTERS.items():
            if flt.event and kw.get(key) is not None:
                raise OptionError(
                    key,
                    "a RETRACTION carries no event or sky map: with "
                    'alert_type = "RETRACTION" this filter never matches',
                )
    if kw.get("far_max") == 0:
        raise OptionError("far_max", "0 Hz: every event has a false alarm rate above 0")
