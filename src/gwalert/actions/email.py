"""``email``: send the notice by SMTP, with STARTTLS.

Options: ``host`` (required), ``port`` (default 587), ``tls`` (``"starttls"`` default,
``"ssl"`` for SMTPS on 465, or ``"none"``, allowed only without a login: no ``username``,
``password``, ``*_env`` key, nor ``GWALERT_SMTP_*`` variable set, unless
``allow_plaintext_auth = true`` and the host is a loopback one), ``cafile`` (trust this
CA instead of the system's), ``username``/``password`` or ``username_env``/``password_env``
(default: the variables ``GWALERT_SMTP_USERNAME`` and ``GWALERT_SMTP_PASSWORD``), ``from``,
``to`` (address or array), ``subject`` and ``body`` (``{field}`` templates over the summary;
default one headline, and the headline plus the summary as JSON), ``timeout`` (default 30 s).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from ..options import (
    OptionError,
    check_keys,
    check_secret,
    check_template,
    opt_bool,
    opt_int,
    opt_path,
    opt_str,
    opt_strs,
)
from .base import ActionContext, ActionError, PermanentError, headline, render, secret
from .webhook import is_loopback

SECRET_KEYS = ("password", "username")
DEFAULT_TIMEOUT = 30.0
USERNAME_ENV = "GWALERT_SMTP_USERNAME"
PASSWORD_ENV = "GWALERT_SMTP_PASSWORD"
TLS = ("starttls", "ssl", "none")


def validate(options: dict[str, Any], *, base: Path, resolve: bool = True) -> dict[str, Any]:
    check_keys(
        options,
        {
            "host",
            "port",
            "tls",
            "cafile",
            "username",
            "username_env",
            "password",
            "password_env",
            "from",
            "to",
            "subject",
            "body",
            "allow_plaintext_auth",
        },
    )
    out: dict[str, Any] = {"host": opt_str(options, "host", required=True)}
    tls = opt_str(options, "tls", "starttls")
    if tls not in TLS:
        raise OptionError("tls", f"must be one of {', '.join(TLS)}")
    out["tls"] = tls
    out["port"] = opt_int(options, "port", 465 if tls == "ssl" else 587, 1, 65535)
    if "cafile" in options:
        out["cafile"] = opt_path(options, "cafile", base)
        if resolve and not Path(out["cafile"]).is_file():
            raise OptionError("cafile", f"{out['cafile']}: no such file")
    for key in ("username", "password"):
        check_secret(options, key)
        for k in (key, f"{key}_env"):
            if k in options:
                out[k] = options[k]
    out["username_env_default"] = USERNAME_ENV
    out["password_env_default"] = PASSWORD_ENV
    allow = opt_bool(options, "allow_plaintext_auth", False)
    if allow and not is_loopback(out["host"]):
        raise OptionError(
            "allow_plaintext_auth",
            "is accepted only for a loopback host (localhost, 127.0.0.1, ::1)",
        )
    out["allow_plaintext_auth"] = allow
    if tls == "none" and not allow:
        sources = credential_sources(options, environ=resolve)
        if sources:
            raise OptionError(
                "tls",
                f'"none" would send the login ({sources[0]}) in clear text: use "starttls" '
                'or "ssl" (allow_plaintext_auth = true is accepted for a loopback host only)',
            )
    sender = opt_str(options, "from", required=True)
    recipients = opt_strs(options, "to") or []
    for key, addr in [("from", sender)] + [("to", a) for a in recipients]:
        if "@" not in parseaddr(addr)[1] or any(c in addr for c in "\r\n"):
            raise OptionError(key, f"{addr!r} is not an e-mail address")
    out["from"], out["to"] = sender, recipients
    for key in ("subject", "body"):
        template = check_template(options, key)
        if template is not None:
            out[key] = template
    return out


def credential_sources(options: dict[str, Any], *, environ: bool = True) -> list[str]:
    """Where this action would take a login from: its literal keys, its ``*_env`` keys, and
    (``environ``) the default variables when they are set."""
    found: list[str] = [
        k for k in ("username", "password", "username_env", "password_env") if k in options
    ]
    if environ:
        for key, name in (("username", USERNAME_ENV), ("password", PASSWORD_ENV)):
            if f"{key}_env" not in options and key not in options and os.environ.get(name):
                found.append(f"${name}")
    return found


def message_id(ctx: ActionContext, sender: str) -> str:
    """The same ``Message-ID`` on every attempt and after a restart (so a mail system, or the
    reader, recognises a repeat): from the action id and the notice's content hash (the action
    id alone only means something inside one store), at the domain of the ``from`` address."""
    domain = parseaddr(sender)[1].rpartition("@")[2]
    domain = _DOMAIN.sub("", domain).strip(".").lower() or "gwalert.invalid"
    content = ctx.content_hash
    digest = hashlib.sha256(f"{ctx.action_id}\0{content}".encode()).hexdigest()[:20]
    readable = _ATOM.sub("-", ctx.action_id.replace("/", "."))[:80]
    return f"<gwalert.{readable}.{digest}@{domain[:200]}>"


_ATOM = re.compile(r"[^A-Za-z0-9._-]")
_DOMAIN = re.compile(r"[^A-Za-z0-9.-]")


def message(ctx: ActionContext, options: dict[str, Any]) -> EmailMessage:
    msg = EmailMessage()
    subject = (
        render(options["subject"], ctx.facts) if options.get("subject") else headline(ctx.facts)
    )
    msg["Subject"] = " ".join(subject.split())[:400]
    msg["From"] = options["from"]
    msg["To"] = ", ".join(options["to"])
    msg["Message-ID"] = message_id(ctx, options["from"])
    msg["X-Gwalert-Action-Id"] = ctx.action_id
    text = (
        render(options["body"], ctx.facts)
        if options.get("body")
        else headline(ctx.facts)
        + "\n\n"
        + json.dumps(json.loads(ctx.summary_json()), indent=2, sort_keys=True)
    )
    msg.set_content(text)
    return msg


def run(ctx: ActionContext, options: dict[str, Any]) -> None:
    username = secret(options, "username", env_default=USERNAME_ENV)
    password = secret(options, "password", env_default=PASSWORD_ENV)
    host, port, tls = options["host"], options["port"], options["tls"]
    context = ssl.create_default_context(cafile=options.get("cafile"))
    msg = message(ctx, options)
    try:
        if tls == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port, timeout=ctx.timeout, context=context
            )
        else:
            client = smtplib.SMTP(host, port, timeout=ctx.timeout)
        with client:
            client.ehlo()
            if tls == "starttls":
                if not client.has_extn("starttls"):
                    raise ActionError(f"SMTP server {host}:{port} does not offer STARTTLS")
                client.starttls(context=context)
                client.ehlo()
            if username and password:
                if tls == "none" and not (
                    options.get("allow_plaintext_auth") and is_loopback(host)
                ):
                    raise PermanentError(
                        f'SMTP {host}:{port}: not logging in without TLS (tls = "none" '
                        "would send the password in clear text)"
                    )
                client.login(username, password)
            client.send_message(msg)
    except ActionError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise ActionError(f"SMTP {host}:{port}: login refused ({exc.smtp_code})") from None
    except smtplib.SMTPResponseException as exc:
        raise ActionError(f"SMTP {host}:{port}: {exc.smtp_code} {_text(exc.smtp_error)}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise ActionError(
            f"SMTP {host}:{port}: recipients refused: {', '.join(exc.recipients)}"
        ) from None
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        raise ActionError(f"SMTP {host}:{port}: {type(exc).__name__}: {exc}") from None


def _text(value: Any) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return " ".join(text.split())[:200]
