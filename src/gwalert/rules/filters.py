"""Rule filters: one table entry per key of a ``[[rule]]``.

Each :class:`Filter` says how its key's value is checked and parsed (raising
:class:`~gwalert.options.OptionError`), how a notice's :class:`~gwalert.rules.facts.Facts`
pass it (``None``, or the reason they do not), and how ``gwalert rules check`` shows it. A new
filter is one :func:`register` call (in the order a rule checks them: cheap notice fields
first, sky-map numbers last) plus its test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import options as opt
from ..options import OptionError
from .facts import Facts
from .model import match
from .registry import FILTERS, Filter, register
from .targets import Targets, read_targets

if TYPE_CHECKING:
    from .model import Rule

__all__ = ["FILTERS", "Filter", "match", "register"]


# --------------------------------------------------------------------- notice fields
def _alert_type(raw: Any, base: Path) -> frozenset[str]:
    from ..alerts import AlertType

    types = [t.upper() for t in opt.strings("alert_type", raw)]
    bad = [t for t in types if t not in AlertType.__members__]
    if bad:
        raise OptionError(
            "alert_type",
            f"unknown alert type {bad[0]!r}"
            f"{opt.suggest(bad[0], AlertType.__members__)} (expected "
            f"{', '.join(AlertType.__members__)})",
        )
    return frozenset(types)


def _alert_type_match(value: frozenset[str], f: Facts, rule: Rule, details: dict) -> str | None:
    n = f.notice
    if str(n.alert_type) not in value:
        return f"alert_type {n.alert_type} not in {sorted(value)}"
    return None


register(Filter("alert_type", _alert_type, _alert_type_match, event=False))

KINDS = ("real", "mock", "test")


def _kind_filter(key: str) -> Filter:
    def match(value: bool, f: Facts, rule: Rule, details: dict) -> str | None:
        kind, sid = f.kind, f.notice.superevent_id
        if value is True and kind != key:
            return f"{sid} is {kind}, not {key}"
        # a kind = true elsewhere in the rule decides alone (it says "not <that kind>")
        if value is False and kind == key and not any(rule.filters.get(k) is True for k in KINDS):
            return f"{sid} is {kind} ({kind} = false)"
        return None

    return Filter(key, lambda raw, base: opt.boolean(key, raw), match, event=False)


for _key in KINDS:
    register(_kind_filter(_key))


def _event_strings_filter(key: str) -> Filter:
    def parse(raw: Any, base: Path) -> frozenset[str]:
        return frozenset(s.lower() for s in opt.strings(key, raw))

    def match(allowed: frozenset[str], f: Facts, rule: Rule, details: dict) -> str | None:
        ev = f.notice.event
        value = getattr(ev, key, None) if ev else None
        if value is None or value.lower() not in allowed:
            return f"{key} {value} not in {sorted(allowed)}"
        return None

    return Filter(key, parse, match)


for _key in ("group", "pipeline", "search"):
    register(_event_strings_filter(_key))


def _significant_match(value: bool, f: Facts, rule: Rule, details: dict) -> str | None:
    ev = f.notice.event
    if ev is None or ev.significant is not value:
        return f"significant is {None if ev is None else ev.significant}"
    return None


register(
    Filter("significant", lambda raw, base: opt.boolean("significant", raw), _significant_match)
)


def _far_match(far_max: float, f: Facts, rule: Rule, details: dict) -> str | None:
    ev = f.notice.event
    if ev is None or ev.far is None or not ev.far <= far_max:
        return f"far {None if ev is None else ev.far} > far_max {far_max}"
    return None


register(Filter("far_max", lambda raw, base: opt.number("far_max", raw, 0), _far_match))

#: The names LVK notices use in ``event.classification`` and ``event.properties``.
KNOWN_NAMES = {
    "classification": ("BNS", "NSBH", "BBH", "Terrestrial"),
    "properties": ("HasNS", "HasRemnant", "HasMassGap", "HasSSM"),
}


def _thresholds_filter(source: str) -> Filter:
    key = f"{source}_min"
    known = KNOWN_NAMES[source]

    def parse(raw: Any, base: Path) -> dict[str, float]:
        value = opt.table(key, raw, "of name = threshold, e.g. { BNS = 0.5 }")
        for k in value:
            if k not in known:
                raise OptionError(
                    f"{key}.{k}",
                    f"unknown name{opt.suggest(k, known)} (LVK "
                    f"notices use {', '.join(known)}; names are case-sensitive)",
                )
        return {k: opt.number(f"{key}.{k}", v, 0, 1) for k, v in value.items()}

    def match(thresholds: Mapping[str, float], f: Facts, rule: Rule, details: dict) -> str | None:
        ev = f.notice.event
        values = getattr(ev, source, {}) if ev else {}
        for name, threshold in thresholds.items():
            value = values.get(name)
            if value is None or not value >= threshold:
                return f"{source} {name} = {value} < {threshold}"
        return None

    return Filter(key, parse, match, cbc_only=True)


for _source in ("classification", "properties"):
    register(_thresholds_filter(_source))


# ------------------------------------------------------------------- sky-map numbers
def _area_match(area_max: float, f: Facts, rule: Rule, details: dict) -> str | None:
    area = details["area_90"] = f.area_90()
    if area is None or not area <= area_max:
        return (
            f"area_90 {area:.4g} deg2 > area_90_max {area_max:g}"
            if area is not None
            else "no 90% area"
        )
    return None


register(
    Filter(
        "area_90_max", lambda raw, base: opt.number("area_90_max", raw, 0), _area_match, skymap=True
    )
)


def _distance_match(dist_max: float, f: Facts, rule: Rule, details: dict) -> str | None:
    dist = details["distance"] = f.distance()
    if dist is None or not dist <= dist_max:
        return (
            f"distance {dist} Mpc > distance_max {dist_max:g}"
            if dist is not None
            else "sky map has no distance"
        )
    return None


register(
    Filter(
        "distance_max",
        lambda raw, base: opt.number("distance_max", raw, 0),
        _distance_match,
        skymap=True,
        cbc_only=True,
    )
)


@dataclass(frozen=True)
class Field:
    """A circle on the sky that must hold at least ``prob_min`` of the probability."""

    ra: float
    dec: float
    radius: float
    prob_min: float


def _field(raw: Any, base: Path) -> Field:
    if not isinstance(raw, dict):
        raise OptionError("field", "must be a table { ra, dec, radius, prob_min }")
    opt.only("field", raw, {"ra", "dec", "radius", "prob_min"})
    for k in ("ra", "dec", "radius", "prob_min"):
        if k not in raw:
            raise OptionError(f"field.{k}", "missing")
    return Field(
        ra=opt.number("field.ra", raw["ra"], 0, 360),
        dec=opt.number("field.dec", raw["dec"], -90, 90),
        radius=opt.number("field.radius", raw["radius"], 0, 180),
        prob_min=opt.number("field.prob_min", raw["prob_min"], 0, 1),
    )


def _field_match(fld: Field, f: Facts, rule: Rule, details: dict) -> str | None:
    prob = details["field_prob"] = f.prob_in_circle(fld.ra, fld.dec, fld.radius)
    if prob is None or not prob >= fld.prob_min:
        return f"probability in field {prob:.4g} < prob_min {fld.prob_min:g}"
    return None


register(Filter("field", _field, _field_match, describe=vars, skymap=True))


def _targets(raw: Any, base: Path) -> Targets:
    if not isinstance(raw, dict):
        raise OptionError(
            "targets", "must be a table { file, credible_level } or { file, prob_min, radius }"
        )
    opt.only("targets", raw, {"file", "credible_level", "prob_min", "radius"})
    if not isinstance(raw.get("file"), str):
        raise OptionError("targets.file", "missing or not a string (a CSV with ra, dec)")
    level = (
        opt.number("targets.credible_level", raw["credible_level"], 0, 1)
        if "credible_level" in raw
        else None
    )
    prob_min = opt.number("targets.prob_min", raw["prob_min"], 0, 1) if "prob_min" in raw else None
    radius = opt.number("targets.radius", raw["radius"], 0, 180) if "radius" in raw else None
    if (level is None) == (prob_min is None):
        raise OptionError("targets", "give either credible_level, or prob_min with radius")
    if prob_min is not None and radius is None:
        raise OptionError("targets.radius", "missing (prob_min needs a radius in degrees)")
    if level is not None and radius is not None:
        raise OptionError("targets.radius", "only used with prob_min")
    path = Path(raw["file"]).expanduser()
    if not path.is_absolute():
        path = base / path
    ra, dec, names = read_targets(path)
    return Targets(str(path), ra, dec, names, level, prob_min, radius)


def _targets_match(t: Targets, f: Facts, rule: Rule, details: dict) -> str | None:
    if t.credible_level is not None:
        searched = f.searched_prob(t) or []
        hit = [name for name, p in zip(t.names, searched, strict=False) if p <= t.credible_level]
    else:
        assert t.prob_min is not None and t.radius is not None
        hit = [
            name
            for name, ra, dec in zip(t.names, t.ra, t.dec, strict=True)
            if (f.prob_in_circle(ra, dec, t.radius) or 0.0) >= t.prob_min
        ]
    if not hit:
        return "no target qualifies"
    details["targets"] = hit
    return None


def _targets_describe(t: Targets) -> dict[str, Any]:
    return {
        "file": t.file,
        "count": len(t.ra),
        "credible_level": t.credible_level,
        "prob_min": t.prob_min,
        "radius": t.radius,
    }


register(Filter("targets", _targets, _targets_match, describe=_targets_describe, skymap=True))
