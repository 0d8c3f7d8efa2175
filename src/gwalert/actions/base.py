"""What every action type shares: the context an action runs with, secrets, templates.

An action type is a module (or any object) with::

    SECRET_KEYS: tuple[str, ...]          # option names never shown in logs or --json output
    DEFAULT_TIMEOUT: float                # seconds
    def validate(options: dict, *, base: Path, resolve: bool) -> dict: ...   # raise OptionError
    def run(context: ActionContext, options: dict) -> None: ...              # raise ActionError

Options are checked with :mod:`gwalert.options` (``OptionError``, ``opt_str``, ``check_keys``…),
the validator the rules use too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..errors import GwalertError

if TYPE_CHECKING:
    from ..alerts import Notice
    from ..summary import Summary


class ActionError(GwalertError):
    """An action failed; the message (secrets removed) is recorded in the ledger. ``ran``: the
    action did run (a program started); ``killed``: it was killed before it completed."""

    def __init__(self, message: str, *, ran: bool = False, killed: bool = False) -> None:
        super().__init__(message)
        self.ran = ran
        self.killed = killed


class PermanentError(ActionError):
    """An action failed in a way no retry can fix (an unset environment variable, a bug in a
    handler): the responder records it as failed at once instead of retrying."""


@dataclass
class ActionContext:
    """Everything one run of one action gets: the notice's :class:`~gwalert.summary.Summary`
    and raw bytes as the store holds them (read, never recomputed) and the decoded
    :class:`~gwalert.alerts.Notice` only on demand (:attr:`notice`: decoded the first time an
    action asks, e.g. a Python callable or a plot; webhooks, e-mail and commands never do)."""

    #: Stable idempotency key of this (notice, rule, action): the same on every retry and after
    #: a restart, so an action can recognise work it already did (env ``GWALERT_ACTION_ID``).
    action_id: str
    attempt: int
    rule: str
    action: str
    #: The summary stored with the notice (:meth:`gwalert.summary.Summary.from_json`).
    summary: Summary
    timeout: float
    #: Secret values of this action, removed from any error text before it is recorded.
    secrets: tuple[str, ...] = field(default=(), repr=False)
    #: Unique on this machine for this ledger row (store + row id): lets a new attempt find
    #: processes a previous attempt left running (e.g. its runner was killed with -9).
    run_key: str = ""
    #: A directory for this ledger's run records (e.g. a command's exit marker), or "".
    state_dir: str = ""
    #: The stored notice: its content hash, raw bytes and format (``json``, ``avro``...).
    content_hash: str = ""
    raw: bytes = field(default=b"", repr=False)
    format: str = ""
    #: What the rule matched on (e.g. targets), if it says.
    details: Any = None
    #: Decodes the stored notice (called at most once, by :attr:`notice`).
    load_notice: Callable[[], Notice] | None = field(default=None, repr=False, compare=False)
    #: The stored notice's id and the store's SQLAlchemy engine, for actions that keep what
    #: they make in the store (the ``plan`` action's plans, shown by the dashboard); None when
    #: the action runs outside a store.
    notice_id: int | None = None
    engine: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def for_notice(
        cls, notice: Notice, summary: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> ActionContext:
        """A context for an already decoded notice (its summary computed if not given)."""
        from ..summary import Summary, summarize

        if summary is None:
            typed = summarize(notice)
        elif isinstance(summary, Summary):
            typed = summary
        else:
            typed = Summary.from_json(summary)
        kwargs.setdefault("content_hash", notice.content_hash)
        kwargs.setdefault("raw", bytes(notice.raw))
        kwargs.setdefault("format", str(notice.format))
        return cls(summary=typed, load_notice=lambda: notice, **kwargs)

    @cached_property
    def notice(self) -> Notice:
        """The decoded notice, decoded on first use (raises :class:`ActionError` if the stored
        bytes no longer decode)."""
        if self.load_notice is None:
            raise PermanentError("this action has no notice to decode")
        try:
            return self.load_notice()
        except GwalertError as exc:  # the stored bytes no longer decode: no retry helps
            raise PermanentError(f"the stored notice does not decode: {exc}") from exc

    def skymap_bytes(self) -> bytes | None:
        """The notice's sky-map FITS bytes, read from the stored message without decoding the
        notice (unless it is decoded already)."""
        if "notice" in self.__dict__:
            ev = self.notice.event
            return ev.skymap_bytes if ev else None
        from ..alerts import embedded_skymap

        return embedded_skymap(self.raw, self.content_hash)

    @cached_property
    def facts(self) -> dict[str, Any]:
        """What an action hands on (templates, JSON bodies, ``GWALERT_*`` variables): the
        stored summary's JSON plus ``rule``, ``action``, ``action_id``, ``attempt`` and, if the
        rule says what it matched, ``match``."""
        data = self.summary.to_json()
        data.update(
            rule=self.rule, action=self.action, action_id=self.action_id, attempt=self.attempt
        )
        if self.details:
            data["match"] = self.details
        return data

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def summary_json(self) -> str:
        return json.dumps(self.facts, default=json_default, sort_keys=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    """:func:`gwalert.redact.redact` (the one redaction) with this action's secrets."""
    from ..redact import redact as _redact

    return _redact(text, secrets)


def json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, bytes | bytearray):
        return {"bytes": len(value)}
    return str(value)


def secret(options: Mapping[str, Any], key: str, *, env_default: str | None = None) -> str | None:
    """A secret option's value: ``key`` in the config, else the environment variable named by
    ``key_env``, else ``env_default``'s variable. Read when the action runs, never logged."""
    if options.get(key):
        return str(options[key])
    env_name = options.get(f"{key}_env") or env_default
    if env_name:
        return os.environ.get(str(env_name)) or None
    return None


# ----------------------------------------------------------------------- facts for actions
def flat_env(summary: Mapping[str, Any]) -> dict[str, str]:
    """The summary as ``GWALERT_*`` environment variables (tables as JSON)."""
    env: dict[str, str] = {}
    for key, value in summary.items():
        name = "GWALERT_" + "".join(c if c.isalnum() else "_" for c in key).upper()
        if value is None:
            text = ""
        elif isinstance(value, bool):
            text = "1" if value else "0"
        elif isinstance(value, str):
            text = value
        elif isinstance(value, int | float):
            text = repr(value)
        else:
            text = json.dumps(value, default=json_default, sort_keys=True)
        if "\x00" not in text:
            env[name] = text
    return env


# --------------------------------------------------------------------------- templates
def render(template: str, summary: Mapping[str, Any]) -> str:
    """Fill a template checked by :func:`check_template`; unknown keys become empty."""
    import string

    class _Facts(dict):
        def __missing__(self, key: str) -> str:
            return ""

    facts = _Facts({k: ("" if v is None else v) for k, v in summary.items()})
    try:
        return string.Formatter().vformat(template, (), facts)
    except (ValueError, TypeError):  # a format spec that does not fit the value
        return template


def headline(summary: Mapping[str, Any]) -> str:
    """One human line about a notice, for chat messages and e-mail subjects."""
    sid = summary.get("superevent_id", "?")
    kind = "mock " if summary.get("is_mock") else "test " if summary.get("is_test") else ""
    text = f"{sid} {summary.get('alert_type', '?')} ({kind}rule {summary.get('rule', '?')})"
    if summary.get("alert_type") == "RETRACTION":
        return f"{sid} was retracted ({kind}rule {summary.get('rule', '?')})"
    parts = [text]
    if summary.get("group"):
        parts.append(f"{summary['group']}/{summary.get('pipeline')}")
    if isinstance(summary.get("far"), int | float) and summary["far"] > 0:
        years = 1 / summary["far"] / 3.15576e7
        parts.append(f"FAR {summary['far']:.3g} Hz (1 per {years:.3g} yr)")
    cls = summary.get("classification") or {}
    if cls:
        best = max(cls, key=lambda k: cls[k])
        parts.append(f"{best} {cls[best]:.2f}")
    if isinstance(summary.get("area_90"), int | float):
        parts.append(f"90% area {summary['area_90']:.0f} deg2")
    if isinstance(summary.get("distmean"), int | float):
        std = summary.get("diststd")
        parts.append(
            f"{summary['distmean']:.0f} ± {std:.0f} Mpc"
            if isinstance(std, int | float)
            else f"{summary['distmean']:.0f} Mpc"
        )
    url = (summary.get("urls") or {}).get("gracedb")
    if url:
        parts.append(url)
    return " — ".join(parts)


def collect_secrets(options: Mapping[str, Any], secret_keys: Iterable[str]) -> tuple[str, ...]:
    """The secret values of one action: its secret options (tables: their values) and the
    environment variables its ``*_env`` options name."""
    found: list[str] = []
    for key in secret_keys:
        value = options.get(key)
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, Mapping):
            found.extend(str(v) for v in value.values())
        env_name = options.get(f"{key}_env")
        if isinstance(env_name, str) and os.environ.get(env_name):
            found.append(os.environ[env_name])
    for key, value in options.items():  # default variables (e.g. GWALERT_SMTP_PASSWORD)
        if key.endswith("_env_default") and isinstance(value, str) and os.environ.get(value):
            found.append(os.environ[value])
    from ..redact import register

    register(found)
    return tuple(sorted(set(found), key=len, reverse=True))
