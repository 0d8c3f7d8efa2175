"""``python``: call a Python function with the notice.

Options: ``callable`` (``"package.module:function"`` or ``"package.module.function"``),
``kwargs`` (a table passed as keyword arguments), ``timeout`` (default 60 s: after it the
attempt counts as failed; the thread cannot be killed, so it is left to finish on its own and its
result is ignored). The function is called as ``function(notice, **kwargs)``, or
``function(notice, context, **kwargs)`` when it has a parameter named ``context``
(an :class:`~gwalert.actions.base.ActionContext`). Raising OSError (network, files) or
ActionError fails the attempt (retried); any other exception is a bug that no retry fixes: it
fails at once and its traceback is logged.
In the Python API (:mod:`gwalert.handlers`) ``callable`` may be the function itself.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..options import OptionError, check_keys
from .base import ActionContext, ActionError, PermanentError

log = logging.getLogger("gwalert.actions.python")

SECRET_KEYS = ("kwargs",)
DEFAULT_TIMEOUT = 60.0


def resolve_callable(path: str) -> Callable[..., Any]:
    """Import ``module:attr`` or ``module.attr``; raise :class:`OptionError` if impossible."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise OptionError("callable", f"{path!r} is not a dotted path like 'pkg.module:func'")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is a config error
        raise OptionError(
            "callable", f"cannot import {module_name!r}: {type(exc).__name__}: {exc}"
        ) from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise OptionError("callable", f"{module_name!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise OptionError("callable", f"{path!r} is not callable")
    return obj


def validate(options: dict[str, Any], *, base: Path, resolve: bool = True) -> dict[str, Any]:
    check_keys(options, {"callable", "kwargs"})
    target = options.get("callable")
    if target is None:
        raise OptionError("callable", "missing")
    if not callable(target):
        if not isinstance(target, str):
            raise OptionError("callable", "must be a dotted path like 'pkg.module:func'")
        if resolve:
            resolve_callable(target)
    kwargs = options.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise OptionError("kwargs", "must be a table")
    return {"callable": target, "kwargs": dict(kwargs)}


def run(ctx: ActionContext, options: dict[str, Any]) -> None:
    target = options["callable"]
    try:
        func = target if callable(target) else resolve_callable(target)
    except OptionError as exc:
        raise ActionError(exc.message) from None
    kwargs = dict(options.get("kwargs", {}))
    params: Mapping[str, inspect.Parameter]
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        params = {}
    if "context" in params:
        kwargs["context"] = ctx
    try:
        func(ctx.notice, **kwargs)
    except ActionError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's code: record why
        name = getattr(func, "__qualname__", target)
        message = f"{name} raised {type(exc).__name__}: {exc}"
        if isinstance(exc, OSError):  # network or file trouble: worth another attempt
            raise ActionError(message) from exc
        log.error(
            "%s %s: %s\n%s",
            ctx.notice.superevent_id,
            ctx.notice.alert_type,
            message,
            "".join(traceback.format_exception(exc)).rstrip(),
        )
        raise PermanentError(message) from exc
