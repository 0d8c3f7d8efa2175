"""The durable store, one SQL database (SQLite or PostgreSQL) holding everything gwalert keeps:

- :mod:`~gwalert.store.db`: URLs, engines, write transactions, outages and their retries;
- :mod:`~gwalert.store.durable`: commits made durable before a message is acknowledged;
- :mod:`~gwalert.store.notices`: :class:`Store` (notices, dead letters, superevents);
- :mod:`~gwalert.store.fold`: a superevent's row as an order-independent fold of its notices;
- :mod:`~gwalert.store.marks`: where Kafka consumer groups started and stand;
- :mod:`~gwalert.store.ledger`: the actions due per notice, rule and action;
- :mod:`~gwalert.store.arrivals`: which feed delivered each notice, and when;
- :mod:`~gwalert.store.feeds`: each feed's liveness as the listeners last saw it;
- :mod:`~gwalert.store.sanitize`: values made storable whatever a sender wrote.

The names below are imported on first use, so ``gwalert.store.sanitize`` (used by
``gwalert parse --json``) loads without SQLAlchemy. The tables are in their modules
(``gwalert.store.notices.notices`` ...).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .db import (
        create_all_locked,
        default_url,
        describe_url,
        is_outage,
        normalize_url,
        write_transaction,
    )
    from .notices import Hook, Store, metadata

_EXPORTS = {
    "Store": "notices",
    "Hook": "notices",
    "metadata": "notices",
    "create_all_locked": "db",
    "default_url": "db",
    "describe_url": "db",
    "is_outage": "db",
    "normalize_url": "db",
    "write_transaction": "db",
}

__all__ = [
    "Hook",
    "Store",
    "create_all_locked",
    "default_url",
    "describe_url",
    "is_outage",
    "metadata",
    "normalize_url",
    "write_transaction",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
