"""One place that checks config values, for rules (:mod:`gwalert.rules.load`) and for action
types (:mod:`gwalert.actions`): each check raises :class:`OptionError` naming the key, and the
caller adds where the key is (file, rule, action).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import GwalertError
from .util import suggest as suggest  # re-exported: opt.suggest(...) in the option parsers


class OptionError(GwalertError):
    """A config value is wrong; ``key`` names it (raised by rules' filters and by action types'
    ``validate``)."""

    def __init__(self, key: str | None, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message


def type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


# ------------------------------------------------------------------- one value, its key
def boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise OptionError(key, f"must be true or false, not {type_name(value)}")
    return value


def number(
    key: str, value: Any, minimum: float | None = None, maximum: float | None = None
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise OptionError(key, f"must be a number, not {type_name(value)}")
    if minimum is not None and value < minimum:
        raise OptionError(key, f"must be at least {minimum:g}")
    if maximum is not None and value > maximum:
        raise OptionError(key, f"must be at most {maximum:g}")
    return float(value)


def integer(key: str, value: Any, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise OptionError(key, f"must be an integer, not {type_name(value)}")
    if not minimum <= value <= maximum:
        raise OptionError(key, f"must be between {minimum} and {maximum}")
    return value


def strings(key: str, value: Any) -> list[str]:
    """A string or a non-empty array of strings, as a list."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(s, str) for s in items):
        raise OptionError(key, "must be a string or a non-empty array of strings")
    return list(items)


def table(key: str, value: Any, example: str) -> dict[str, Any]:
    """A non-empty table (``example`` shows its form in the error)."""
    if not isinstance(value, dict) or not value:
        raise OptionError(key, f"must be a table {example}")
    return value


def only(key: str, value: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """No keys in the table ``key`` but ``allowed``."""
    allowed = set(allowed)
    for k in value:
        if k not in allowed:
            raise OptionError(f"{key}.{k}", f"unknown key (expected {', '.join(sorted(allowed))})")


# ------------------------------------------------------ a key of an options table (actions)
def check_keys(options: Mapping[str, Any], allowed: Iterable[str]) -> None:
    allowed = set(allowed)
    for key in options:
        if key not in allowed:
            raise OptionError(key, f"unknown key (expected {', '.join(sorted(allowed))})")


def opt_str(
    options: Mapping[str, Any], key: str, default: Any = ..., *, required: bool = False
) -> Any:
    if key not in options:
        if required or default is ...:
            raise OptionError(key, "missing")
        return default
    value = options[key]
    if not isinstance(value, str) or not value:
        raise OptionError(key, "must be a non-empty string")
    return value


def opt_strs(
    options: Mapping[str, Any], key: str, *, required: bool = True, allow_one: bool = True
) -> list[str] | None:
    if key not in options:
        if required:
            raise OptionError(key, "missing")
        return None
    value = options[key]
    if allow_one and isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise OptionError(key, "must be a non-empty array of strings")
    return list(value)


def opt_int(options: Mapping[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise OptionError(key, f"must be an integer between {lo} and {hi}")
    return value


def opt_bool(options: Mapping[str, Any], key: str, default: bool) -> bool:
    value = options.get(key, default)
    if not isinstance(value, bool):
        raise OptionError(key, "must be true or false")
    return value


def opt_table(options: Mapping[str, Any], key: str) -> dict[str, str]:
    value = options.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise OptionError(key, "must be a table of strings")
    return dict(value)


def opt_path(options: Mapping[str, Any], key: str, base: Path, default: Any = ...) -> Any:
    value = opt_str(options, key, default)
    if value is default and default is not ...:
        return default
    path = Path(os.path.expandvars(value)).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def check_secret(options: Mapping[str, Any], key: str) -> None:
    if key in options and (not isinstance(options[key], str) or not options[key]):
        raise OptionError(key, "must be a non-empty string")
    env_key = f"{key}_env"
    if env_key in options and (not isinstance(options[env_key], str) or not options[env_key]):
        raise OptionError(env_key, "must be the name of an environment variable")


def check_template(options: Mapping[str, Any], key: str) -> str | None:
    """A ``{field}`` template (summary keys only: no attribute or index access)."""
    if key not in options:
        return None
    value = options[key]
    if not isinstance(value, str):
        raise OptionError(key, "must be a string")
    import string

    try:
        for _text, name, spec, _conv in string.Formatter().parse(value):
            if name is not None and (not name.isidentifier() or "{" in (spec or "")):
                raise OptionError(key, f"field {{{name}}} must be a plain summary key")
    except ValueError as exc:
        raise OptionError(key, f"invalid template: {exc}") from None
    return value
