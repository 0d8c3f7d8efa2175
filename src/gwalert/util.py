"""Small helpers every part of gwalert shares, each in this one place: the time as stored, the
first line of an error, "did you mean", JSON-ready values. Standard library only (``gwalert
parse`` imports this)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar, cast, overload

T = TypeVar("T")


def utcnow() -> str:
    """The current time as stored: ISO 8601, UTC, microseconds, ``Z``."""
    return stamp(datetime.now(UTC))


def stamp(dt: datetime) -> str:
    """An aware time as stored: ISO 8601, UTC, microseconds, ``Z``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
    return _cut(_message(exc), limit) or type(exc).__name__


def why(exc: BaseException, limit: int | None = 200) -> str:
    """``Type: first line of the message`` (the line cut to ``limit``), or ``Type`` alone when
    the exception has no text: what failed, for a log line or a dead letter."""
    text = _cut(_message(exc), limit)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _message(exc: BaseException) -> str:
    try:
        text = str(getattr(exc, "orig", None) or exc).strip()
    except Exception:  # noqa: BLE001 - an exception whose text cannot be made
        text = ""
    return text.splitlines()[0] if text else ""


def _cut(line: str, limit: int | None) -> str:
    return line[: limit - 3] + "..." if limit is not None and len(line) > limit else line


def suggest(
    word: str,
    choices: Iterable[Any] | Mapping[str, str],
    key: Callable[[str], str] = str.lower,
) -> str:
    """``" (did you mean 'x'?)"`` for the choice closest to ``word``, or ``""``. Words are
    compared through ``key`` (case-insensitive by default); ``choices`` may map each
    candidate to the name to show (aliases of one thing)."""
    import difflib

    pairs = choices.items() if isinstance(choices, Mapping) else ((c, c) for c in choices)
    options = {key(str(c)): str(shown) for c, shown in pairs}
    close = difflib.get_close_matches(key(word), list(options), n=1, cutoff=0.6)
    return f" (did you mean {options[close[0]]!r}?)" if close else ""


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


def public(value: Any) -> Any:
    """A value as JSON-ready data (sets sorted, tables and lists walked, callables named)."""
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, Mapping):
        return {k: public(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [public(v) for v in value]
    if callable(value):
        return getattr(value, "__qualname__", repr(value))
    return value


class memo(Generic[T]):  # noqa: N801 - used as a decorator, like functools.cached_property
    """A per-instance cached property: computed on first use and kept in the instance's
    ``__dict__`` (frozen dataclasses included), like :func:`functools.cached_property` but
    without its lock, which on Python 3.11 is one for the whole class: two instances' first
    uses (two notices' sky maps parsed on two feeds' threads) would wait for each other. Two
    threads' first uses of one instance may both compute it; the value is the same."""

    def __init__(self, compute: Callable[[Any], T]) -> None:
        self.compute = compute
        self.name = compute.__name__
        self.__doc__ = compute.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> memo[T]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> T | memo[T]:
        if obj is None:
            return self
        cache = obj.__dict__
        try:
            return cast(T, cache[self.name])
        except KeyError:
            value = cache[self.name] = self.compute(obj)
            return value
