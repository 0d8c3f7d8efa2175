"""The --store/--config options shared by the verbs that read the store."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..store import Store


def open_store(args: argparse.Namespace) -> Store:
    """``--store``, else ``[store] url`` in the config file, else the default store."""
    from ..sources.config import load_config, store_url
    from ..store import Store

    config = load_config(getattr(args, "config", None))
    return Store.open(store_url(config, getattr(args, "store", None)))
