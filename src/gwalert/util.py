"""Small helpers every part of gwalert shares: the time as stored and the first line of an
error. Standard library only (``gwalert parse`` imports this)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utcnow() -> str:
    """The current time as stored: ISO 8601, UTC, microseconds, ``Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso(dt: datetime) -> str:
    """A time as stored: ISO 8601 in UTC with ``Z`` (naive times are taken as UTC); never
    raises.

    A time that cannot be expressed in UTC (``9999-12-31T23:59:59-01:00`` is past year 9999
    there) keeps the offset it was written with: the text still sorts by its year."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, ValueError):
        return dt.isoformat()


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """The first line of ``exc``'s message (of the driver's error for a SQLAlchemy one), cut
    to ``limit`` characters; the exception's type name when it has no text."""
    try:
        text = str(getattr(exc, "orig", None) or exc).strip()
    except Exception:  # noqa: BLE001 - an exception whose text cannot be made
        text = ""
    line = text.splitlines()[0] if text else type(exc).__name__
    if limit is not None and len(line) > limit:
        line = line[: limit - 3] + "..."
    return line


def duration(td: timedelta | None) -> str:
    """A duration as a person reads it, in the config's units, the two largest that apply:
    ``1 d``, ``12 h``, ``1 h 30 m``, ``45 s``, ``0.5 s``; ``no limit`` for None."""
    if td is None:
        return "no limit"
    seconds = td.total_seconds()
    if seconds < 60 and seconds != int(seconds):
        return f"{seconds:g} s"
    rest = round(seconds)
    parts = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            n, rest = divmod(rest, size)
            parts.append(f"{n} {unit}")
    return " ".join(parts[:2]) or "0 s"
