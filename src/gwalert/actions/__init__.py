"""Action types: one module each (command, webhook, email, save, python, plan), plus plugins.

A plugin registers an action type through the entry-point group ``gwalert.actions``::

    [project.entry-points."gwalert.actions"]
    telescope = "mypkg.gwalert_actions:telescope"

The entry point is either a module/object with ``validate`` and ``run`` (see
:mod:`gwalert.actions.base`), or a plain function ``run(context, options)`` whose options are
passed through unchecked.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import SimpleNamespace
from typing import Any

from ..errors import GwalertError
from ..options import OptionError
from .base import ActionContext, ActionError

__all__ = [
    "ActionContext",
    "ActionError",
    "OptionError",
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "get_action_type",
]

BUILTIN = ("command", "webhook", "email", "save", "python", "plan")
ENTRY_POINT_GROUP = "gwalert.actions"


@cache
def _plugins() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def get_action_type(name: str) -> Any:
    """The action type called ``name``: a built-in module or a plugin."""
    if name in BUILTIN:
        return importlib.import_module(f"gwalert.actions.{name}")
    ep = _plugins().get(name)
    if ep is None:
        known = ", ".join(list(BUILTIN) + sorted(_plugins()))
        raise GwalertError(f"unknown action type {name!r} (known: {known})")
    try:
        obj = ep.load()
    except Exception as exc:  # noqa: BLE001 - a broken plugin is a config error
        raise GwalertError(
            f"plugin action type {name!r} cannot be loaded: {type(exc).__name__}: {exc}"
        ) from None
    if hasattr(obj, "run"):
        if not hasattr(obj, "validate"):
            return SimpleNamespace(
                run=obj.run,
                validate=_passthrough,
                SECRET_KEYS=getattr(obj, "SECRET_KEYS", ()),
                DEFAULT_TIMEOUT=getattr(obj, "DEFAULT_TIMEOUT", 60.0),
            )
        return obj
    if callable(obj):
        return SimpleNamespace(run=obj, validate=_passthrough, SECRET_KEYS=(), DEFAULT_TIMEOUT=60.0)
    raise GwalertError(f"plugin action type {name!r} is neither callable nor has run()")


def _passthrough(options: dict[str, Any], **_: Any) -> dict[str, Any]:
    return dict(options)
