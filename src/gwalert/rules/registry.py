"""The table of rule filters: what a :class:`Filter` is and every registered one by key.

The built-in filters register themselves in :mod:`.filters`; :mod:`.model` reads the table to
match and describe a rule. Neither of those two imports the other, so this table has no
dependency on either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..util import public

if TYPE_CHECKING:
    from .facts import Facts
    from .model import Rule

#: Parse a raw TOML value: ``(value, base directory of the config file) -> parsed``.
Parse = Callable[[Any, Path], Any]
#: Test a notice: ``(parsed value, facts, rule, details to fill) -> None or why not``.
Test = Callable[[Any, "Facts", "Rule", dict[str, Any]], str | None]


@dataclass(frozen=True)
class Filter:
    key: str
    parse: Parse
    match: Test
    #: The value as JSON-ready data for ``rules check --json`` (secrets never appear here).
    describe: Callable[[Any], Any] = public
    #: Needs a usable sky map (a notice without one fails with "no usable sky map").
    skymap: bool = False
    #: Reads the event (a RETRACTION carries none, so such a rule is refused).
    event: bool = True
    #: Burst notices never carry what it reads (such a rule with group = "Burst" is refused).
    cbc_only: bool = False


#: Every filter by key, in the order a rule checks them.
FILTERS: dict[str, Filter] = {}


def register(flt: Filter) -> Filter:
    """Add (or replace) a filter; a rule then accepts its key."""
    FILTERS[flt.key] = flt
    return flt
