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
        return tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{name}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: invalid TOML: {exc}") from None


def store_url(config: dict[str, Any], explicit: str | None = None) -> str | None:
    """``--store``, else ``[store] url`` of the config file, else None (the default store)."""
    if explicit:
        return explicit
    section = config.get("store")
    return section.get("url") if isinstance(section, dict) else None
