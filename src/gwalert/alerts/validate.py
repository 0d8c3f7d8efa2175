"""A decoded record read as leniently as the LVK user guide's script reads it.

gwalert needs three things to understand a notice: ``superevent_id``, ``alert_type`` and
``time_created``; without them (or with values it cannot read) the notice is refused. Every
other way a record strays from the official IGWN alert schema — a missing field, an unknown
one, a value of the wrong type, a number that is NaN, infinite or out of range — becomes a
warning, and the field gwalert would have used is taken as unknown (None). The warnings name
the field, one line each, in the order of the schema.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from ..errors import NoticeError

#: Warnings kept per notice (a hostile record could produce millions).
MAX_WARNINGS = 20
_KEY = re.compile(r"[A-Za-z0-9_]{1,40}\Z")


def short(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters; never raises."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - RecursionError on deep nesting, int digit limit, ...
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Warnings:
    """Deviations found in one record: at most one per field, at most :data:`MAX_WARNINGS`."""

    def __init__(self) -> None:
        self._by_path: dict[str, str] = {}
        self.dropped = 0

    def add(self, path: str, message: str) -> None:
        if path in self._by_path:
            return
        if len(self._by_path) >= MAX_WARNINGS:
            self.dropped += 1
            return
        self._by_path[path] = message

    def __contains__(self, path: str) -> bool:
        return path in self._by_path

    def as_tuple(self) -> tuple[str, ...]:
        out = tuple(self._by_path.values())
        if self.dropped:
            out += (f"... and {self.dropped} more deviation(s) from the schema",)
        return out


# ---------------------------------------------------------------- deviations from the schema
def check_schema(record: dict[str, Any], schema: dict[str, Any], found: Warnings) -> None:
    """Add to ``found`` every way ``record`` (defaults already filled) differs from
    ``schema``; leaf values are checked by fastavro's own validator."""
    _walk(record, schema, "", found)


def _sub(path: str, key: Any) -> str:
    if isinstance(key, str) and _KEY.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{short(key)}]"


def _valid(value: Any, schema: Any) -> bool:
    from fastavro.validation import validate

    try:
        return bool(validate(value, schema, raise_errors=False))
    except Exception:  # noqa: BLE001 - a value fastavro cannot even inspect is invalid
        return False


def _invalid(path: str, value: Any, found: Warnings) -> None:
    found.add(path, f"{path or 'record'} has an invalid value {short(value)}")


def _walk(value: Any, schema: Any, path: str, found: Warnings) -> None:
    if isinstance(schema, list):  # a union
        if value is None and "null" in schema:
            return
        for branch in schema:
            if isinstance(branch, dict) and branch.get("type") == "record":
                if isinstance(value, dict):
                    _walk(value, branch, path, found)
                    return
            elif _valid(value, branch):
                return
        _invalid(path, value, found)
        return
    kind = schema.get("type") if isinstance(schema, dict) else schema
    if kind == "record":
        if not isinstance(value, dict):
            found.add(path, f"{path or 'record'} is not a record: {short(value)}")
            return
        names = set()
        for f in schema["fields"]:
            names.add(f["name"])
            sub = _sub(path, f["name"])
            if f["name"] not in value:
                found.add(sub, f"missing field {sub}")
            else:
                _walk(value[f["name"]], f["type"], sub, found)
        for key in value:
            if key not in names:
                sub = _sub(path, key)
                found.add(sub, f"unknown field {sub}")
        return
    if kind in ("map", "array") and _valid(value, schema):
        return  # the common case, checked at once
    if kind == "map":
        if not isinstance(value, dict):
            _invalid(path, value, found)
            return
        for key, item in value.items():
            if not isinstance(key, str):
                _invalid(_sub(path, key), key, found)
            else:
                _walk(item, schema["values"], _sub(path, key), found)
        return
    if kind == "array":
        if not isinstance(value, list):
            _invalid(path, value, found)
            return
        for i, item in enumerate(value):
            _walk(item, schema["items"], f"{path}[{i}]", found)
        return
    if not _valid(value, schema):
        _invalid(path, value, found)


# ------------------------------------------------------------------- the values gwalert uses
def identity(
    record: dict[str, Any], id_pattern: re.Pattern[str], alert_types: tuple[str, ...]
) -> tuple[str, str, datetime]:
    """(superevent_id, alert_type, time_created), or :class:`NoticeError` naming the field."""
    keys = ("superevent_id", "alert_type", "time_created")
    if not any(k in record for k in keys):  # no field of a notice at all: another document
        raise NoticeError(
            "not a notice: JSON or Avro, but without superevent_id, alert_type or time_created"
        )
    for name in keys:
        if name not in record:
            raise NoticeError(f"missing field {name}")
    sid = record["superevent_id"]
    if not isinstance(sid, str) or not id_pattern.match(sid):
        raise NoticeError(f"superevent_id {short(sid)} is not a GraceDB superevent id")
    alert_type = record["alert_type"]
    if not isinstance(alert_type, str) or alert_type not in alert_types:
        raise NoticeError(f"unknown alert_type {short(alert_type)}")
    created = parse_time(record["time_created"])
    if created is None:
        raise NoticeError(f"time_created is not an ISO 8601 time: {short(record['time_created'])}")
    return sid, alert_type, created


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError, OverflowError):
        return None


class Fields:
    """Reads the fields of one sub-record (``event``, ``external_coinc``) leniently: a value
    that cannot be used is None and a warning (unless the schema check already named it)."""

    def __init__(self, record: dict[str, Any], path: str, found: Warnings) -> None:
        self.record = record
        self.path = path
        self.found = found

    def _warn(self, name: str, message: str) -> None:
        sub = _sub(self.path, name)
        self.found.add(sub, f"{sub} {message}; taken as unknown")

    def time(self, name: str) -> datetime | None:
        value = self.record.get(name)
        if value is None:
            return None
        result = parse_time(value)
        if result is None:
            self._warn(name, f"is not an ISO 8601 time: {short(value)}")
        return result

    def text(self, name: str) -> str | None:
        value = self.record.get(name)
        if value is None or isinstance(value, str):
            return value
        self._warn(name, f"is not a string: {short(value)}")
        return None

    def flag(self, name: str) -> bool | None:
        value = self.record.get(name)
        if value is None or isinstance(value, bool):
            return value
        self._warn(name, f"is not a boolean: {short(value)}")
        return None

    def number(self, name: str, *, nonnegative: bool = False) -> float | None:
        value = self.record.get(name)
        if value is None:
            return None
        result = self._number(value)
        if result is None:
            self._warn(name, f"is not a finite number: {short(value)}")
        elif nonnegative and result < 0:
            self._warn(name, f"is negative: {short(value)}")
            return None
        return result

    @staticmethod
    def _number(value: Any) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        try:
            result = float(value)
        except OverflowError:
            return None
        return result if math.isfinite(result) else None

    def text_list(self, name: str) -> tuple[str, ...]:
        value = self.record.get(name)
        if value is None:
            return ()
        if not isinstance(value, list):
            self._warn(name, f"is not a list: {short(value)}")
            return ()
        items = tuple(v for v in value if isinstance(v, str))
        if len(items) != len(value):
            self._warn(name, "holds values that are not strings (dropped)")
        return items

    def numbers(self, name: str) -> dict[str, float]:
        """A map of names to finite numbers; other entries are dropped with a warning."""
        value = self.record.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self._warn(name, f"is not a map: {short(value)}")
            return {}
        out = {}
        for key, item in value.items():
            number = self._number(item) if isinstance(key, str) else None
            if number is None:
                sub = _sub(_sub(self.path, name), key)
                self.found.add(sub, f"{sub} is not a finite number: {short(item)}; dropped")
            else:
                out[key] = number
        return out

    def number_list(self, record: dict[str, Any], name: str) -> tuple[float, ...] | None:
        value = record.get(name)
        if not isinstance(value, list):
            return None
        items = tuple(self._number(v) for v in value)
        return None if any(v is None for v in items) else items  # type: ignore[return-value]

    def blob(self, name: str) -> bytes | None:
        value = self.record.get(name)
        if value is None or isinstance(value, bytes):
            return value
        if isinstance(value, bytearray | memoryview):
            return bytes(value)
        self._warn(name, f"is not bytes: {short(value)}")
        return None

    def text_or_int(self, name: str) -> int | str | None:
        value = self.record.get(name)
        if value is None or (isinstance(value, int | str) and not isinstance(value, bool)):
            return value
        self._warn(name, f"is not an integer or a string: {short(value)}")
        return None


def text_map(value: Any, path: str, found: Warnings) -> dict[str, str]:
    """A map of strings to strings (``urls``); other entries dropped with a warning."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        found.add(path, f"{path} is not a map: {short(value)}; ignored")
        return {}
    out = {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}
    if len(out) != len(value):
        found.add(path, f"{path} holds values that are not strings (dropped)")
    return out
