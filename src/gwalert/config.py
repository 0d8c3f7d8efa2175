"""gwalert's one config file: where it is and how it is read.

``--config FILE`` (default ``<user config dir>/gwalert/gwalert.toml``) holds the rules
(``[responder]``, ``[[rule]]``: :mod:`gwalert.rules`), the store (``[store] url``) and the
broker credentials (``[gcn]``, ``[kafka]``: :mod:`gwalert.sources.credentials`)::

    [store]
    url = "postgresql://user@host/db"   # default: a SQLite file in the user data directory
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from .errors import GwalertError


class ConfigError(GwalertError):
    """The config file is not valid; the message names the file (and rule and key)."""


def default_config_path() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("gwalert", appauthor=False)) / "gwalert.toml"


def read_config(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The config file as a dict ({} when no ``path`` is given and the default file does not
    exist); :class:`ConfigError` naming the file when it cannot be read or is not TOML."""
    p = Path(path).expanduser() if path is not None else default_config_path()
    name = str(path) if path is not None else str(p)
    if path is None and not p.exists():
        return {}
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
    check_sections(data, name)
    return data


#: The listener's and the dashboard's tables: each key and the type its value must have (the
#: rules' tables, ``[responder]`` and ``[[rule]]``, are checked by :mod:`gwalert.rules`).
SECTIONS: dict[str, dict[str, tuple[type | tuple[type, ...], str]]] = {
    "store": {"url": (str, "a string")},
    "gcn": {"client_id": (str, "a string"), "client_secret": (str, "a string")},
    "kafka": {"auth": (str, "a string (the path of an auth.toml file)")},
    "serve": {
        "host": (str, "a string"),
        "port": (int, "an integer between 0 and 65535"),
        "token": (str, "a string"),
        "silence_warning": ((int, float), "a number of seconds"),
    },
}


def check_sections(data: dict[str, Any], name: str = "<config>") -> None:
    """Every key of ``[store]``, ``[gcn]``, ``[kafka]`` and ``[serve]`` known and of its type:
    :class:`ConfigError` naming the file, the table, the key and the expected type."""
    for section, keys in SECTIONS.items():
        if section not in data:
            continue
        table = data[section]
        if not isinstance(table, dict):
            raise ConfigError(f"{name}: [{section}] must be a table")
        for key, value in table.items():
            if key not in keys:
                raise ConfigError(
                    f"{name}: [{section}] {key}: unknown key (expected {', '.join(sorted(keys))})"
                )
            kind, expected = keys[key]
            ok = isinstance(value, kind) and not isinstance(value, bool)
            if ok and key == "port":
                ok = 0 <= value <= 65535
            if ok and isinstance(value, float):
                ok = value == value and abs(value) != float("inf") and value >= 0
            if not ok:
                raise ConfigError(f"{name}: [{section}] {key} must be {expected}")


def store_url(config: dict[str, Any], explicit: str | None = None) -> str | None:
    """``--store``, else ``[store] url`` of the config file, else None (the default store)."""
    if explicit:
        return explicit
    section = config.get("store")
    return section.get("url") if isinstance(section, dict) else None
