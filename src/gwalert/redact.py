"""One redaction for every text that leaves gwalert: log lines, ledger rows (``last_error``),
``rules status``, ``doctor``, ``--json`` output, metrics and pages.

:func:`redact` removes, from any text:

- the userinfo of every URL in it (``https://alice:hunter2@host/`` → ``https://***@host/``),
  and of ``user:password@host`` fragments without a scheme;
- the values of query (and fragment) parameters whose name says secret (``token``, ``key``,
  ``password``, ``secret``, ``sig``, …): ``?token=abc`` → ``?token=***``;
- ``Bearer``/``Basic`` credentials;
- every *known secret value*: the values passed in, and those registered with :func:`register`
  (an action's secret options and the environment variables they name, registered when the
  action is loaded or run), with the parts a URL secret is made of (its password, user name and
  secret query values), so a fragment of a secret URL quoted by an error is removed too.

:func:`redact_url` is the same for one URL (what a page or a ``--json`` field shows of it).
"""

from __future__ import annotations

import logging
import re
import threading
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
#: Shorter values are not removed from text (``"a"`` would mangle every line).
MIN_SECRET = 3
#: Values registered for every text (:func:`register`) must be longer: a short user name
#: removed from every log line would hide more than it protects.
MIN_REGISTERED = 6

#: Query/fragment parameter names whose values are secrets (matched as a part of the name,
#: case-insensitively: ``access_token``, ``X-Amz-Signature``, ``apikey``, ``client_secret``).
SECRET_PARAM = re.compile(
    r"token|key|pass|pwd|secret|sig|auth|credential|session|cookie|code|jwt|bearer", re.I
)

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]*")
_USERINFO = re.compile(r"(?<![\w/])([^\s/@:'\"<>`()\[\]]+:[^\s/@'\"<>`]+)@(?=[\w\[])")
_PARAM = re.compile(r"([?&;#]([^=&;#\s'\"<>]*)=)([^&;#\s'\"<>`]*)")
#: An HTTP credential as a header carries it (``Authorization: Bearer …``/``Basic …``).
_AUTH = re.compile(r"\b(Bearer|Basic|BEARER|bearer)\s+[A-Za-z0-9._~+/=-]{8,}")

_lock = threading.Lock()
_known: set[str] = set()


def secret_parts(value: str) -> list[str]:
    """The value and, when it is a URL, the parts that are secret on their own: its user name
    and password (raw and percent-decoded) and its secret query values."""
    parts = [value]
    if "://" not in value:
        return parts
    try:
        u = urllib.parse.urlsplit(value)
        user, password = u.username, u.password
    except ValueError:
        user = password = None
        u = None
    if u is None:
        netloc = value.split("://", 1)[1].split("/", 1)[0]
        if "@" in netloc:
            info = netloc.rpartition("@")[0]
            user, _, password = info.partition(":")
    for p in (user, password):
        if p:
            parts += [p, urllib.parse.unquote(p)]
    for m in _PARAM.finditer(value):
        if SECRET_PARAM.search(m.group(2)) and m.group(3):
            parts += [m.group(3), urllib.parse.unquote_plus(m.group(3))]
    return parts


def register(values: Iterable[str | None]) -> None:
    """Remember secret values (and their URL parts) so :func:`redact` removes them from any
    later text, wherever it is printed."""
    with _lock:
        for value in values:
            if isinstance(value, str):
                _known.update(p for p in secret_parts(value) if len(p) >= MIN_REGISTERED)


def forget_all() -> None:
    """Drop every registered secret (tests)."""
    with _lock:
        _known.clear()


def _url_sub(m: re.Match[str]) -> str:
    return redact_url(m.group(0))


def redact_url(url: str) -> str:
    """``url`` without its userinfo and with the values of its secret parameters masked."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return _params(url)
    end = len(rest)
    for c in "/?#":
        i = rest.find(c)
        if i != -1:
            end = min(end, i)
    netloc, tail = rest[:end], rest[end:]
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rpartition("@")[2]
    return f"{scheme}://{netloc}{_params(tail)}"


def _params(text: str) -> str:
    return _PARAM.sub(
        lambda m: (
            m.group(1) + MASK if SECRET_PARAM.search(m.group(2)) and m.group(3) else m.group(0)
        ),
        text,
    )


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every known secret value, URL userinfo, secret query value and
    ``Bearer``/``Basic`` credential replaced by ``***``."""
    if not isinstance(text, str):
        text = str(text)
    values: set[str] = set()
    for value in secrets:
        if isinstance(value, str):
            values.update(p for p in secret_parts(value) if len(p) >= MIN_SECRET)
    with _lock:
        values |= _known
    for value in sorted(values, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    text = _URL.sub(_url_sub, text)
    text = _USERINFO.sub(MASK + "@", text)
    text = _AUTH.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record's final message (installed on the root
    handlers by the CLI, so no log line carries a secret)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: let logging report it
            return True
        clean = redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text = redact(str(exc))
            if text != str(exc):
                record.exc_text = None
                try:
                    exc.args = (text,)
                except Exception:  # noqa: BLE001
                    pass
        if clean != message:
            record.msg, record.args = clean, None
        return True


def ledger_row(row: Mapping[Any, Any], keys: Iterable[str] | None = None) -> dict[str, Any]:
    """A ledger row (or its ``keys``) as every reader shows it (the dashboard's event and
    health pages, ``rules status``, ``replay``): its ``last_error`` redacted here, the one
    place rows are read back (written with the action's own secrets redacted; secrets
    registered since, and rows of older releases, are caught here)."""
    out = {k: row[k] for k in keys} if keys is not None else dict(row)
    if out.get("last_error"):
        out["last_error"] = redact(out["last_error"])
    return out


def install_log_filter(logger: logging.Logger | None = None) -> None:
    """Add :class:`RedactingFilter` to every handler of ``logger`` (default: root)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
