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


def open_store(args: argparse.Namespace) -> Store:
    """``--store``, else ``[store] url`` in the config file, else the default store."""
    from ..sources.config import load_config, store_url
    from ..store import Store

    config = load_config(getattr(args, "config", None))
    return Store.open(store_url(config, getattr(args, "store", None)))
