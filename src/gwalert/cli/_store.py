"""The --store/--config options shared by the verbs that read the store."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..store import Store


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """``--store`` and ``--config``, as every verb that reads the store takes them."""
    parser.add_argument("--store", metavar="URL", help="store URL or SQLite path")
    parser.add_argument("--config", metavar="FILE", help="gwalert config file")


def superevent_facts(row: object) -> dict:
    """A superevent row as JSON-ready facts."""
    facts = dict(row._mapping)  # type: ignore[attr-defined]
    facts["retracted"] = bool(facts["retracted"])
    return facts


def missing_sqlite_file(url: str) -> str | None:
    """The path of a SQLite store ``url`` whose file does not exist, else None."""
    from pathlib import Path

    import sqlalchemy as sa

    from ..store import normalize_url

    try:
        parsed = sa.engine.make_url(normalize_url(url))
    except Exception:  # noqa: BLE001 - Store.open reports malformed URLs
        return None
    if not parsed.drivername.startswith("sqlite"):
        return None
    db = parsed.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    return None if Path(db).exists() else db


def open_store(args: argparse.Namespace, must_exist: bool = True) -> Store:
    """``--store``, else ``[store] url`` in the config file, else the default store.

    Verbs that only read (``must_exist``) refuse a SQLite file that does not exist instead of
    creating an empty store: "no store at PATH"."""
    from ..config import read_config, store_url
    from ..errors import GwalertError
    from ..store import Store, default_url

    config = read_config(getattr(args, "config", None))
    url = store_url(config, getattr(args, "store", None))
    if must_exist:
        missing = missing_sqlite_file(url or default_url())
        if missing is not None:
            raise GwalertError(
                f"no store at {missing} (nothing received yet? 'gwalert listen' "
                "creates it; --store names another)"
            )
    return Store.open(url)
