"""Rules: a TOML config of ``[[rule]]`` tables, strictly validated, and matching of notices.

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

Every filter is optional; a rule matches a notice when all of its filters do. Unknown keys and
wrong types are errors naming the file, the rule and the key. Each action's own keys are checked
by its action type (:mod:`gwalert.actions`).
"""

from __future__ import annotations

import csv
import math
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .actions.base import OptionError
from .errors import GwalertError
from .notice import AlertType, Notice

#: Default ``max_age``: notices older than this when they arrive fire no action.
DEFAULT_MAX_AGE = timedelta(days=1)
#: Most rows a ``targets`` CSV may hold.
MAX_TARGETS = 100_000
#: Top-level tables of the same file that belong to the listener (checked there, not here).
FOREIGN_SECTIONS = ("gcn", "kafka", "store")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class ConfigError(GwalertError):
    """The config file is not valid; the message names the file, rule and key."""


class RuleError(GwalertError):
    """A rule could not be evaluated (e.g. the sky-map analysis it needs is missing)."""


# ----------------------------------------------------------------------------- the model
@dataclass(frozen=True)
class Field:
    """A circle on the sky that must hold at least ``prob_min`` of the probability."""

    ra: float
    dec: float
    radius: float
    prob_min: float


@dataclass(frozen=True)
class Targets:
    """Sky positions (from a CSV); a notice matches when at least one target qualifies:
    it lies inside the ``credible_level`` credible region (ligo.skymap's ``searched_prob``), or
    the circle of ``radius`` degrees around it holds at least ``prob_min``."""

    file: str
    ra: tuple[float, ...]
    dec: tuple[float, ...]
    names: tuple[str, ...]
    credible_level: float | None = None
    prob_min: float | None = None
    radius: float | None = None


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
        return {k: ("***" if k in self.secret_keys else _public(v))
                for k, v in self.options.items()}


@dataclass(frozen=True)
class Rule:
    name: str
    actions: tuple[ActionSpec, ...] = ()
    alert_type: frozenset[str] | None = None
    real: bool | None = None
    mock: bool | None = None
    test: bool | None = None
    group: frozenset[str] | None = None
    pipeline: frozenset[str] | None = None
    search: frozenset[str] | None = None
    significant: bool | None = None
    far_max: float | None = None
    classification_min: Mapping[str, float] | None = None
    properties_min: Mapping[str, float] | None = None
    area_90_max: float | None = None
    distance_max: float | None = None
    field: Field | None = None
    targets: Targets | None = None
    #: Notices older than this (time_created to arrival) fire nothing; None = no limit.
    max_age: timedelta | None = DEFAULT_MAX_AGE

    @property
    def needs_skymap(self) -> bool:
        return any(x is not None for x in (self.area_90_max, self.distance_max, self.field,
                                           self.targets))

    def match(self, notice: Notice, summary: Mapping[str, Any] | None = None) -> Match:
        """Whether ``notice`` passes every filter (age is checked separately, see
        :meth:`too_old`). ``summary`` is :func:`gwalert.summary.summarize`'s output if known."""
        return _match(self, Facts(notice, summary))

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
        for key in _FILTER_KEYS:
            value = getattr(self, key)
            if value is not None:
                out[key] = _public(value)
        out["max_age"] = None if self.max_age is None else self.max_age.total_seconds()
        out["actions"] = [{"type": a.type, "name": a.name, **a.public_options()}
                          for a in self.actions]
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
        return {"path": self.path, "responder": vars(self.responder),
                "rules": [r.describe() for r in self.rules]}


@dataclass(frozen=True)
class Match:
    rule: Rule
    matched: bool
    #: Why not, e.g. ``"far 1e-06 > far_max 1e-07"`` (None when matched).
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.matched


# ---------------------------------------------------------------------------- loading
def default_config_path() -> Path:
    """gwalert's one config file (shared with the listener's ``[gcn]``/``[kafka]`` tables)."""
    try:
        from .sources.config import default_config_path as listener_default
    except ImportError:  # the listener is not installed: the documented default
        from platformdirs import user_config_dir

        return Path(user_config_dir("gwalert", appauthor=False)) / "gwalert.toml"
    return listener_default()


def load_config(path: str | os.PathLike | None = None, *, resolve: bool = True) -> Config:
    """Read and validate a config file (default :func:`default_config_path`; when that file
    does not exist the config has no rules).

    ``resolve`` also imports ``python`` action callables and checks that the sky-map analysis
    the rules use is available, so a mistake shows at start, not at the first alert.
    """
    p = Path(path).expanduser() if path is not None else default_config_path()
    name = str(path) if path is not None else str(p)
    if path is None and not p.exists():
        return Config((), ResponderSettings(), None)
    try:
        text = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{name}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{name}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: invalid TOML: {exc}") from None
    return parse_config(data, source=name, base=p.parent, resolve=resolve)


def parse_config(data: Mapping[str, Any], *, source: str = "<config>",
                 base: str | os.PathLike = ".", resolve: bool = True) -> Config:
    """Validate an already-parsed config (a dict as :mod:`tomllib` returns)."""
    ctx = _Ctx(source, Path(base))
    unknown = set(data) - {"rule", "responder"} - set(FOREIGN_SECTIONS)
    if unknown:
        key = sorted(unknown)[0]
        raise ctx.error(None, key, "unknown key" + _suggest(key, ["rule", "responder",
                                                                 *FOREIGN_SECTIONS])
                        + f" (expected rule, responder, {', '.join(FOREIGN_SECTIONS)})")
    for key in FOREIGN_SECTIONS:
        if key in data and not isinstance(data[key], dict):
            raise ctx.error(None, key, f"must be a table ([{key}])")
    settings, default_age = _responder(ctx, data.get("responder", {}))
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        raise ctx.error(None, "rule", "must be an array of tables ([[rule]])")
    rules: list[Rule] = []
    for i, raw in enumerate(raw_rules):
        rule = _rule(ctx, raw, i, default_age, resolve)
        if any(r.name == rule.name for r in rules):
            raise ctx.error(rule.name, "name", "two rules have this name")
        rules.append(rule)
    if resolve:
        check_skymap_support(rules, source)
    return Config(tuple(rules), settings, source)


def check_skymap_support(rules: Sequence[Rule], source: str = "<config>") -> None:
    """Raise :class:`ConfigError` if a rule needs sky-map analysis this gwalert lacks."""
    from .skymap import SkyMap

    for rule in rules:
        needs = []
        if rule.area_90_max is not None:
            needs.append(("area_90_max", "credible_area"))
        if rule.field is not None:
            needs.append(("field", "probability_in_circle"))
        if rule.targets is not None:
            needs.append(("targets", "crossmatch" if rule.targets.credible_level is not None
                          else "probability_in_circle"))
        for key, method in needs:
            if not hasattr(SkyMap, method):
                raise ConfigError(f"{source}: rule {rule.name!r}: key {key!r}: needs the sky-map "
                                  f"engine's SkyMap.{method}, which this gwalert lacks")


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


_FILTER_KEYS = ("alert_type", "real", "mock", "test", "group", "pipeline", "search",
                "significant", "far_max", "classification_min", "properties_min",
                "area_90_max", "distance_max", "field", "targets")
_RULE_KEYS = {"name", "action", "max_age", *_FILTER_KEYS}


def _responder(ctx: _Ctx, raw: Any) -> tuple[ResponderSettings, timedelta | None]:
    where = "responder"
    if not isinstance(raw, dict):
        raise ctx.error(None, where, "must be a table ([responder])")
    allowed = {"workers", "attempts", "backoff", "backoff_max", "max_age"}
    for key in raw:
        if key not in allowed:
            raise ctx.error(None, f"{where}.{key}", "unknown key" + _suggest(key, allowed))
    d = ResponderSettings()
    settings = ResponderSettings(
        workers=_int(ctx, None, f"{where}.workers", raw.get("workers", d.workers), 1, 256),
        attempts=_int(ctx, None, f"{where}.attempts", raw.get("attempts", d.attempts), 1, 100),
        backoff=_number(ctx, None, f"{where}.backoff", raw.get("backoff", d.backoff), 0),
        backoff_max=_number(ctx, None, f"{where}.backoff_max",
                            raw.get("backoff_max", d.backoff_max), 0),
    )
    age = (_duration(ctx, None, f"{where}.max_age", raw["max_age"]) if "max_age" in raw
           else DEFAULT_MAX_AGE)
    return settings, age


def _rule(ctx: _Ctx, raw: Any, index: int, default_age: timedelta | None,
          resolve: bool) -> Rule:
    if not isinstance(raw, dict):
        raise ctx.error(f"#{index + 1}", None, "each [[rule]] must be a table")
    name = raw.get("name")
    if name is None:
        raise ctx.error(f"#{index + 1}", "name", "missing (every rule needs a name)")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ctx.error(f"#{index + 1}", "name",
                        "must be a string of letters, digits, '_', '.', ':' or '-' "
                        "(at most 100 characters)")
    for key in raw:
        if key not in _RULE_KEYS:
            raise ctx.error(name, key, "unknown key" + _suggest(key, _RULE_KEYS))
    kw: dict[str, Any] = {"name": name}
    if "alert_type" in raw:
        types = [t.upper() for t in _strings(ctx, name, "alert_type", raw["alert_type"])]
        bad = [t for t in types if t not in AlertType.__members__]
        if bad:
            raise ctx.error(name, "alert_type", f"unknown alert type {bad[0]!r}"
                            f"{_suggest(bad[0], AlertType.__members__)} (expected "
                            f"{', '.join(AlertType.__members__)})")
        kw["alert_type"] = frozenset(types)
    for key in ("real", "mock", "test", "significant"):
        if key in raw:
            kw[key] = _bool(ctx, name, key, raw[key])
    for key in ("group", "pipeline", "search"):
        if key in raw:
            kw[key] = frozenset(s.lower() for s in _strings(ctx, name, key, raw[key]))
    if "far_max" in raw:
        kw["far_max"] = _number(ctx, name, "far_max", raw["far_max"], 0)
    for key in ("classification_min", "properties_min"):
        if key in raw:
            kw[key] = _thresholds(ctx, name, key, raw[key], _KNOWN_NAMES[key])
    if "area_90_max" in raw:
        kw["area_90_max"] = _number(ctx, name, "area_90_max", raw["area_90_max"], 0)
    if "distance_max" in raw:
        kw["distance_max"] = _number(ctx, name, "distance_max", raw["distance_max"], 0)
    if "field" in raw:
        kw["field"] = _field(ctx, name, raw["field"])
    if "targets" in raw:
        kw["targets"] = _targets(ctx, name, raw["targets"])
    kw["max_age"] = (_duration(ctx, name, "max_age", raw["max_age"]) if "max_age" in raw
                     else default_age)
    _check_possible(ctx, name, kw)
    actions = raw.get("action", [])
    if not isinstance(actions, list) or not all(isinstance(a, dict) for a in actions):
        raise ctx.error(name, "action", "must be an array of tables ([[rule.action]])")
    if not actions:
        raise ctx.error(name, "action", "a rule needs at least one [[rule.action]]")
    specs: list[ActionSpec] = []
    for i, a in enumerate(actions):
        spec = _action(ctx, name, i, a, resolve, [s.type for s in specs])
        if any(s.name == spec.name for s in specs):
            raise ctx.error(name, f"action[{i}].name",
                            f"two actions of this rule are named {spec.name!r}")
        specs.append(spec)
    kw["actions"] = tuple(specs)
    return Rule(**kw)


def _action(ctx: _Ctx, rule: str, index: int, raw: dict[str, Any], resolve: bool,
            earlier: list[str]) -> ActionSpec:
    from .actions import get_action_type

    where = f"action[{index}]"
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise ctx.error(rule, f"{where}.type", "missing or not a string (command, webhook, "
                        "email, save, python or a plugin's type)")
    try:
        action_type = get_action_type(kind)
    except GwalertError as exc:
        raise ctx.error(rule, f"{where}.type", str(exc)) from None
    name = raw.get("name", f"{kind}{index}" if kind in earlier else kind)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ctx.error(rule, f"{where}.name", "must be a short string of letters, digits, "
                        "'_', '.', ':' or '-'")
    options = {k: v for k, v in raw.items() if k not in ("type", "name", "attempts", "timeout")}
    attempts = (_int(ctx, rule, f"{where}.attempts", raw["attempts"], 1, 100)
                if "attempts" in raw else None)
    timeout = (_number(ctx, rule, f"{where}.timeout", raw["timeout"], 0)
               if "timeout" in raw else None)
    if timeout is not None and timeout <= 0:
        raise ctx.error(rule, f"{where}.timeout", "must be greater than 0")
    try:
        validated = action_type.validate(options, base=ctx.base, resolve=resolve)
    except OptionError as exc:
        raise ctx.error(rule, f"{where}.{exc.key}" if exc.key else where, exc.message) from None
    return ActionSpec(type=kind, name=name, options=validated,
                      secret_keys=tuple(getattr(action_type, "SECRET_KEYS", ())),
                      attempts=attempts, timeout=timeout)


# ------------------------------------------------------------------ value validation
def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)


def _bool(ctx: _Ctx, rule: str | None, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ctx.error(rule, key, f"must be true or false, not {_type_name(value)}")
    return value


def _number(ctx: _Ctx, rule: str | None, key: str, value: Any, minimum: float | None = None,
            maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ctx.error(rule, key, f"must be a number, not {_type_name(value)}")
    if minimum is not None and value < minimum:
        raise ctx.error(rule, key, f"must be at least {minimum:g}")
    if maximum is not None and value > maximum:
        raise ctx.error(rule, key, f"must be at most {maximum:g}")
    return float(value)


def _int(ctx: _Ctx, rule: str | None, key: str, value: Any, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ctx.error(rule, key, f"must be an integer, not {_type_name(value)}")
    if not minimum <= value <= maximum:
        raise ctx.error(rule, key, f"must be between {minimum} and {maximum}")
    return value


def _strings(ctx: _Ctx, rule: str, key: str, value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(s, str) for s in items):
        raise ctx.error(rule, key, "must be a string or a non-empty array of strings")
    return items


def _thresholds(ctx: _Ctx, rule: str, key: str, value: Any,
                known: tuple[str, ...]) -> dict[str, float]:
    if not isinstance(value, dict) or not value:
        raise ctx.error(rule, key, "must be a table of name = threshold, e.g. { BNS = 0.5 }")
    for k in value:
        if k not in known:
            raise ctx.error(rule, f"{key}.{k}", f"unknown name{_suggest(k, known)} (LVK "
                            f"notices use {', '.join(known)}; names are case-sensitive)")
    return {k: _number(ctx, rule, f"{key}.{k}", v, 0, 1) for k, v in value.items()}


#: The names LVK notices use in ``event.classification`` and ``event.properties``.
_KNOWN_NAMES = {"classification_min": ("BNS", "NSBH", "BBH", "Terrestrial"),
                "properties_min": ("HasNS", "HasRemnant", "HasMassGap", "HasSSM")}
_GROUPS = ("cbc", "burst")


def _suggest(word: str, choices: Any) -> str:
    """" (did you mean 'x'?)" for the closest of ``choices`` (case-insensitive), or ""."""
    import difflib

    options = {str(c).lower(): str(c) for c in choices}
    close = difflib.get_close_matches(word.lower(), list(options), n=1, cutoff=0.6)
    return f" (did you mean {options[close[0]]!r}?)" if close else ""


def _check_possible(ctx: _Ctx, rule: str, kw: dict[str, Any]) -> None:
    """Refuse filters that no LVK notice can ever satisfy together."""
    kinds = [k for k in ("real", "mock", "test") if kw.get(k) is True]
    if len(kinds) > 1:
        other = next(k for k in ("real", "mock", "test") if k not in kinds[:2])
        raise ctx.error(rule, kinds[1], f"{kinds[0]} = true and {kinds[1]} = true: a notice "
                        f"is exactly one of real, mock or test, so it cannot be both; for "
                        f"either kind write {other} = false instead")
    if kw.get("real") is False and kw.get("mock") is False and kw.get("test") is False:
        raise ctx.error(rule, "real", "real, mock and test are all false: nothing can match")
    cls = kw.get("classification_min")
    if cls and sum(cls.values()) > 1.0 + 1e-9:
        raise ctx.error(rule, "classification_min", f"thresholds add up to "
                        f"{sum(cls.values()):g}, but a notice's classification probabilities "
                        "add up to 1: nothing can match")
    groups = kw.get("group")
    if groups is not None:
        bad = sorted(g for g in groups if g not in _GROUPS)
        if bad:
            raise ctx.error(rule, "group", f"unknown group {bad[0]!r}{_suggest(bad[0], _GROUPS)}"
                            " (LVK groups: CBC, Burst)")
        if groups == {"burst"}:
            for key in ("classification_min", "properties_min", "distance_max"):
                if kw.get(key) is not None:
                    raise ctx.error(rule, key, "Burst notices carry no source classification, "
                                    "properties or distance: with group = \"Burst\" nothing "
                                    "can match")
    types = kw.get("alert_type")
    if types == {"RETRACTION"}:
        for key in ("classification_min", "properties_min", "far_max", "significant",
                    "group", "pipeline", "search", "area_90_max", "distance_max", "field",
                    "targets"):
            if kw.get(key) is not None:
                raise ctx.error(rule, key, "a RETRACTION carries no event or sky map: with "
                                "alert_type = \"RETRACTION\" this filter never matches")
    if kw.get("far_max") == 0:
        raise ctx.error(rule, "far_max", "0 Hz: every event has a false alarm rate above 0")


def _duration(ctx: _Ctx, rule: str | None, key: str, value: Any) -> timedelta | None:
    """Seconds (a number), a string like ``"90m"``/``"12h"``/``"2d"``, or false: no limit."""
    if value is False:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ctx.error(rule, key, "must be seconds, a duration like \"12h\" or \"2d\" "
                        "(units s, m, h, d, w), or false for no limit")
    if not math.isfinite(seconds) or seconds <= 0 or seconds > 1e10:
        raise ctx.error(rule, key, "must be a positive duration (or false for no limit)")
    return timedelta(seconds=seconds)


def _only(ctx: _Ctx, rule: str, key: str, raw: dict[str, Any], allowed: set[str]) -> None:
    for k in raw:
        if k not in allowed:
            raise ctx.error(rule, f"{key}.{k}",
                            f"unknown key (expected {', '.join(sorted(allowed))})")


def _field(ctx: _Ctx, rule: str, raw: Any) -> Field:
    if not isinstance(raw, dict):
        raise ctx.error(rule, "field", "must be a table { ra, dec, radius, prob_min }")
    _only(ctx, rule, "field", raw, {"ra", "dec", "radius", "prob_min"})
    for k in ("ra", "dec", "radius", "prob_min"):
        if k not in raw:
            raise ctx.error(rule, f"field.{k}", "missing")
    return Field(ra=_number(ctx, rule, "field.ra", raw["ra"], 0, 360),
                 dec=_number(ctx, rule, "field.dec", raw["dec"], -90, 90),
                 radius=_number(ctx, rule, "field.radius", raw["radius"], 0, 180),
                 prob_min=_number(ctx, rule, "field.prob_min", raw["prob_min"], 0, 1))


def _targets(ctx: _Ctx, rule: str, raw: Any) -> Targets:
    if not isinstance(raw, dict):
        raise ctx.error(rule, "targets", "must be a table { file, credible_level } or "
                        "{ file, prob_min, radius }")
    _only(ctx, rule, "targets", raw, {"file", "credible_level", "prob_min", "radius"})
    if not isinstance(raw.get("file"), str):
        raise ctx.error(rule, "targets.file", "missing or not a string (a CSV with ra, dec)")
    level = (_number(ctx, rule, "targets.credible_level", raw["credible_level"], 0, 1)
             if "credible_level" in raw else None)
    prob_min = (_number(ctx, rule, "targets.prob_min", raw["prob_min"], 0, 1)
                if "prob_min" in raw else None)
    radius = (_number(ctx, rule, "targets.radius", raw["radius"], 0, 180)
              if "radius" in raw else None)
    if (level is None) == (prob_min is None):
        raise ctx.error(rule, "targets", "give either credible_level, or prob_min with radius")
    if prob_min is not None and radius is None:
        raise ctx.error(rule, "targets.radius", "missing (prob_min needs a radius in degrees)")
    if level is not None and radius is not None:
        raise ctx.error(rule, "targets.radius", "only used with prob_min")
    path = Path(raw["file"]).expanduser()
    if not path.is_absolute():
        path = ctx.base / path
    ra, dec, names = _read_targets(ctx, rule, path)
    return Targets(str(path), ra, dec, names, level, prob_min, radius)


def _read_targets(ctx: _Ctx, rule: str, path: Path
                  ) -> tuple[tuple[float, ...], tuple[float, ...], tuple[str, ...]]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            cols = {(c or "").strip().lower(): c for c in reader.fieldnames or []}
            ra_col = next((cols[c] for c in ("ra", "ra_deg", "raj2000") if c in cols), None)
            dec_col = next((cols[c] for c in ("dec", "dec_deg", "dej2000") if c in cols), None)
            name_col = next((cols[c] for c in ("name", "id") if c in cols), None)
            if ra_col is None or dec_col is None:
                raise ctx.error(rule, "targets.file", f"{path}: needs a header with 'ra' and "
                                "'dec' columns (degrees)")
            ra: list[float] = []
            dec: list[float] = []
            names: list[str] = []
            for line, row in enumerate(reader, start=2):
                if len(ra) >= MAX_TARGETS:
                    raise ctx.error(rule, "targets.file",
                                    f"{path}: more than {MAX_TARGETS} targets")
                try:
                    r, d = float(row[ra_col]), float(row[dec_col])
                except (TypeError, ValueError):
                    raise ctx.error(rule, "targets.file",
                                    f"{path}:{line}: ra/dec are not numbers") from None
                if not (0 <= r <= 360 and -90 <= d <= 90):
                    raise ctx.error(rule, "targets.file",
                                    f"{path}:{line}: ra/dec out of range")
                ra.append(r)
                dec.append(d)
                names.append(str(row.get(name_col) or f"#{line - 1}") if name_col else
                             f"#{line - 1}")
    except OSError as exc:
        raise ctx.error(rule, "targets.file", f"{path}: {exc.strerror or exc}") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ctx.error(rule, "targets.file", f"{path}: not a CSV file ({exc})") from None
    if not ra:
        raise ctx.error(rule, "targets.file", f"{path}: no targets")
    return tuple(ra), tuple(dec), tuple(names)


def _public(value: Any) -> Any:
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, Field):
        return vars(value)
    if isinstance(value, Targets):
        return {"file": value.file, "count": len(value.ra), "credible_level": value.credible_level,
                "prob_min": value.prob_min, "radius": value.radius}
    if isinstance(value, Mapping):
        return {k: _public(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_public(v) for v in value]
    if callable(value):
        return getattr(value, "__qualname__", repr(value))
    return value


# ---------------------------------------------------------------------------- matching
class Facts:
    """A notice, its summary and sky-map numbers computed at most once for all rules."""

    def __init__(self, notice: Notice, summary: Mapping[str, Any] | None = None) -> None:
        self.notice = notice
        self.summary = dict(summary or {})
        self._cache: dict[Any, Any] = {}

    def skymap(self) -> Any:
        if "skymap" not in self._cache:
            from .errors import SkyMapError

            try:
                self._cache["skymap"] = self.notice.skymap
            except SkyMapError:
                self._cache["skymap"] = None
        return self._cache["skymap"]

    def area_90(self) -> float | None:
        value = self.summary.get("area_90")
        if isinstance(value, int | float):
            return float(value)
        if "area_90" not in self._cache:
            sky = self.skymap()
            self._cache["area_90"] = (None if sky is None else
                                      float(_method(sky, "credible_area")(0.9)))
        return self._cache["area_90"]

    def distance(self) -> float | None:
        value = self.summary.get("distmean")
        if isinstance(value, int | float):
            return float(value)
        sky = self.skymap()
        return None if sky is None or not sky.has_distance else sky.distmean

    def prob_in_circle(self, ra: float, dec: float, radius: float) -> float | None:
        key = ("circle", ra, dec, radius)
        if key not in self._cache:
            sky = self.skymap()
            self._cache[key] = (None if sky is None else
                                _probability(_method(sky, "probability_in_circle")(ra, dec,
                                                                                   radius)))
        return self._cache[key]

    def searched_prob(self, targets: Targets) -> list[float] | None:
        key = ("crossmatch", targets.file)
        if key not in self._cache:
            sky = self.skymap()
            if sky is None:
                self._cache[key] = None
            else:
                import numpy as np

                result = _method(sky, "crossmatch")(np.asarray(targets.ra),
                                                     np.asarray(targets.dec))
                values = np.atleast_1d(np.asarray(_get(result, "searched_prob"), float))
                self._cache[key] = [float(v) for v in values]
        return self._cache[key]


def _method(sky: Any, name: str) -> Any:
    fn = getattr(sky, name, None)
    if fn is None:
        raise RuleError(f"this gwalert's sky-map engine has no SkyMap.{name}")
    return fn


def _probability(result: Any) -> float:
    """A probability from ``probability_in_circle`` (a number, or an object with one)."""
    return float(getattr(result, "probability", result))


def _get(result: Any, name: str) -> Any:
    return result[name] if isinstance(result, Mapping) else getattr(result, name)


def match_all(rules: Sequence[Rule], notice: Notice,
              summary: Mapping[str, Any] | None = None) -> list[Match]:
    """Evaluate every rule on one notice, sharing sky-map computations."""
    facts = Facts(notice, summary)
    return [_match(rule, facts) for rule in rules]


def _no(rule: Rule, reason: str) -> Match:
    return Match(rule, False, reason)


def _match(rule: Rule, f: Facts) -> Match:
    n = f.notice
    ev = n.event
    if rule.alert_type is not None and str(n.alert_type) not in rule.alert_type:
        return _no(rule, f"alert_type {n.alert_type} not in {sorted(rule.alert_type)}")
    kinds = {"real": n.is_real, "mock": n.is_mock, "test": n.is_test}
    wanted = [k for k in kinds if getattr(rule, k) is True]
    unwanted = [k for k in kinds if getattr(rule, k) is False]
    kind = next((k for k, v in kinds.items() if v), "other")
    if wanted and kind not in wanted:
        return _no(rule, f"{n.superevent_id} is {kind}, not {' or '.join(wanted)}")
    if kind in unwanted:
        return _no(rule, f"{n.superevent_id} is {kind} ({kind} = false)")
    for key in ("group", "pipeline", "search"):
        allowed = getattr(rule, key)
        if allowed is not None:
            value = getattr(ev, key, None) if ev else None
            if value is None or value.lower() not in allowed:
                return _no(rule, f"{key} {value} not in {sorted(allowed)}")
    if rule.significant is not None:
        if ev is None or ev.significant is not rule.significant:
            return _no(rule, f"significant is {None if ev is None else ev.significant}")
    if rule.far_max is not None:
        if ev is None or ev.far is None or not ev.far <= rule.far_max:
            return _no(rule, f"far {None if ev is None else ev.far} > far_max {rule.far_max}")
    for key, source in (("classification_min", "classification"),
                        ("properties_min", "properties")):
        thresholds = getattr(rule, key)
        if thresholds is not None:
            values = getattr(ev, source, {}) if ev else {}
            for name, threshold in thresholds.items():
                value = values.get(name)
                if value is None or not value >= threshold:
                    return _no(rule, f"{source} {name} = {value} < {threshold}")
    details: dict[str, Any] = {}
    if rule.needs_skymap and f.skymap() is None:
        return _no(rule, "no usable sky map")
    if rule.area_90_max is not None:
        area = f.area_90()
        details["area_90"] = area
        if area is None or not area <= rule.area_90_max:
            return _no(rule, f"area_90 {area:.4g} deg2 > area_90_max {rule.area_90_max:g}"
                       if area is not None else "no 90% area")
    if rule.distance_max is not None:
        dist = f.distance()
        details["distance"] = dist
        if dist is None or not dist <= rule.distance_max:
            return _no(rule, f"distance {dist} Mpc > distance_max {rule.distance_max:g}"
                       if dist is not None else "sky map has no distance")
    if rule.field is not None:
        fld = rule.field
        prob = f.prob_in_circle(fld.ra, fld.dec, fld.radius)
        details["field_prob"] = prob
        if prob is None or not prob >= fld.prob_min:
            return _no(rule, f"probability in field {prob:.4g} < prob_min {fld.prob_min:g}")
    if rule.targets is not None:
        hit = _targets_hit(rule.targets, f)
        if not hit:
            return _no(rule, "no target qualifies")
        details["targets"] = hit
    return Match(rule, True, None, details)


def _targets_hit(t: Targets, f: Facts) -> list[str]:
    if t.credible_level is not None:
        searched = f.searched_prob(t) or []
        return [name for name, p in zip(t.names, searched, strict=False)
                if p <= t.credible_level]
    assert t.prob_min is not None and t.radius is not None
    return [name for name, ra, dec in zip(t.names, t.ra, t.dec, strict=True)
            if (f.prob_in_circle(ra, dec, t.radius) or 0.0) >= t.prob_min]
