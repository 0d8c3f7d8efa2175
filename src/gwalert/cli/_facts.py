"""The key numbers a follow-up astronomer looks for, as one short text: false alarm rate as
"1 per N years", significance, leading classification, distance and 90% area."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Seconds in a Julian year (as LVK's "one per N years" uses).
YEAR_S = 365.25 * 86400.0


def far_text(far_hz: float | None) -> str | None:
    """``1e-9`` Hz -> ``"1 per 31.7 yr"``; rates above once a year in days or hours."""
    if far_hz is None or not far_hz > 0:
        return None
    period = 1.0 / far_hz
    for unit, seconds in (("yr", YEAR_S), ("d", 86400.0), ("h", 3600.0)):
        if period >= seconds:
            return f"1 per {_number(period / seconds)} {unit}"
    return f"1 per {_number(period)} s"


def _number(x: float) -> str:
    if x >= 1e5:
        return f"{x:.2g}".replace("e+0", "e").replace("e+", "e")
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def leading_class(classification: Mapping[str, Any] | None) -> str | None:
    """``{"BNS": 0.95, ...}`` -> ``"BNS 95%"`` (the most probable source class)."""
    items = [(k, v) for k, v in (classification or {}).items() if isinstance(v, int | float)]
    if not items:
        return None
    name, p = max(items, key=lambda kv: kv[1])
    return f"{name} {100 * p:.0f}%"


def key_numbers(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The key facts of a notice summary (as ``summarize`` writes it), JSON-ready."""
    ext = facts.get("external_coinc") or None
    return {
        "far": facts.get("far"),
        "far_text": far_text(facts.get("far")),
        "significant": facts.get("significant"),
        "classification": leading_class(facts.get("classification")),
        "distmean": facts.get("distmean"),
        "diststd": facts.get("diststd"),
        "area_90": facts.get("area_90"),
        "external": (ext or {}).get("observatory") if isinstance(ext, Mapping) else None,
    }


def key_text(facts: Mapping[str, Any]) -> str:
    """``FAR 1 per 31.7 yr, significant, BNS 95%, 40 ± 8 Mpc, 90% 31 deg²`` (what is known)."""
    k = key_numbers(facts)
    parts = []
    if k["far_text"]:
        parts.append(f"FAR {k['far_text']}")
    if k["significant"] is not None:
        parts.append("significant" if k["significant"] else "low significance")
    if k["classification"]:
        parts.append(k["classification"])
    if k["distmean"] is not None:
        std = f" ± {k['diststd']:.0f}" if k["diststd"] is not None else ""
        parts.append(f"{k['distmean']:.0f}{std} Mpc")
    if k["area_90"] is not None:
        parts.append(f"90% {k['area_90']:,.0f} deg²")
    if k["external"]:
        parts.append(f"+ {k['external']} coincidence")
    return ", ".join(parts)
