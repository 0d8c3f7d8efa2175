"""Numbers as people read them on the dashboard."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
_YEAR = 365.25 * 86400.0
_UNITS = (("year", _YEAR), ("day", 86400.0), ("hour", 3600.0), ("minute", 60.0), ("second", 1.0))


def _number(value: float) -> str:
    """Two significant figures (three for 100-999), thousands separated; scientific notation
    past a million."""
    if value >= 1e6:
        mantissa, exponent = f"{value:.1e}".split("e")
        return f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPT)}"
    if value >= 1000:  # two significant figures: "320,000", not "316,881"
        return f"{float(f'{value:.2g}'):,.0f}"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.0f}"
    return f"{value:.2g}" if value < 1 else f"{value:.1f}".rstrip("0").rstrip(".")


def far_human(far: Any) -> str:
    """A false-alarm rate in Hz as "1 per 12 years" (the largest unit with a count >= 1)."""
    if far is None or isinstance(far, bool):
        return "—"
    try:
        far = float(far)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(far) or far < 0:
        return "—"
    if far == 0:
        return "0 (never by chance)"
    period = 1.0 / far
    if math.isinf(period):
        return "0 (never by chance)"
    for name, seconds in _UNITS:
        count = period / seconds
        if count >= 1 or name == "second":
            if name == "second" and count < 1:
                return f"{_number(far)} per second"
            text = _number(count)
            plural = "" if text == "1" else "s"
            return f"1 per {text} {name}{plural}"
    raise AssertionError("unreachable")


def far_period_seconds(far: Any) -> float | None:
    """1 / FAR in seconds (None when unknown or zero)."""
    try:
        far = float(far)
    except (TypeError, ValueError):
        return None
    return 1.0 / far if math.isfinite(far) and far > 0 else None


def area(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return "—"
    return f"{value:,.0f} deg²" if value >= 10 else f"{value:.2g} deg²"


def distance(mean: Any, std: Any = None) -> str:
    if not isinstance(mean, int | float) or isinstance(mean, bool) or not math.isfinite(mean):
        return "—"
    if isinstance(std, int | float) and not isinstance(std, bool) and math.isfinite(std):
        return f"{mean:,.0f} ± {std:,.0f} Mpc"
    return f"{mean:,.0f} Mpc"


def percent(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return "—"
    pct = 100.0 * value
    if 0 < pct < 1:
        return "<1%"
    if 99 < pct < 100:
        return ">99%"
    return f"{pct:.0f}%"


def leading(classification: Any) -> tuple[str, float] | None:
    """The most probable class of a classification mapping, or None."""
    if not isinstance(classification, dict):
        return None
    best: tuple[str, float] | None = None
    for name, value in classification.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            if best is None or value > best[1]:
                best = (str(name), float(value))
    return best


def parse_time(text: Any) -> datetime | None:
    """An ISO 8601 time as the store writes it ("...Z"), or None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def utc(text: Any) -> str:
    """A stored time shown as "2026-01-01 00:10:00 UTC" (the text itself when unparsable)."""
    dt = parse_time(text)
    if dt is None:
        return "—" if not text else str(text)
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def utc_short(text: Any) -> str:
    """A stored time as "2026-01-01 00:10:00" (UTC said once, in the column heading)."""
    dt = parse_time(text)
    if dt is None:
        return "—" if not text else str(text)
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def ago(seconds: float | None) -> str:
    """A duration as "3 min ago"."""
    if seconds is None:
        return "never"
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"
