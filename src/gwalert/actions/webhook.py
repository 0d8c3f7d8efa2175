"""``webhook``: HTTP POST of the notice summary as JSON.

Options: ``url`` or ``url_env`` (the URL is a secret: a Slack webhook URL is a credential),
``mode`` (``"json"``: the summary object, default; ``"slack"``: ``{"text": …}`` as Slack,
Mattermost and Teams incoming webhooks take it), ``text`` (a ``{field}`` template for slack
mode, default one headline), ``headers`` (table; values are secrets), ``timeout`` (default 10 s).
A status outside 2xx is a failure (retried).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from .base import (
    ActionContext,
    ActionError,
    OptionError,
    PermanentError,
    check_keys,
    check_secret,
    check_template,
    headline,
    opt_str,
    opt_table,
    render,
    secret,
)

SECRET_KEYS = ("url", "headers")
DEFAULT_TIMEOUT = 10.0
MODES = ("json", "slack")


def validate(options: dict[str, Any], *, base: Path, resolve: bool = True) -> dict[str, Any]:
    check_keys(options, {"url", "url_env", "mode", "text", "headers"})
    check_secret(options, "url")
    if "url" not in options and "url_env" not in options:
        raise OptionError("url", "missing (give url, or url_env naming an environment variable)")
    if "url" in options:
        _check_url(options["url"])
    mode = opt_str(options, "mode", "json")
    if mode not in MODES:
        raise OptionError("mode", f"must be one of {', '.join(MODES)}")
    out = {k: options[k] for k in ("url", "url_env") if k in options}
    out.update(mode=mode, headers=opt_table(options, "headers"))
    text = check_template(options, "text")
    if text is not None:
        if mode != "slack":
            raise OptionError("text", "only used with mode = \"slack\"")
        out["text"] = text
    return out


def _check_url(url: str) -> None:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise OptionError("url", "must be an http:// or https:// URL")


def body(ctx: ActionContext, options: dict[str, Any]) -> bytes:
    if options.get("mode") == "slack":
        text = (render(options["text"], ctx.summary) if options.get("text")
                else headline(ctx.summary))
        return json.dumps({"text": text}).encode()
    return ctx.summary_json().encode()


def run(ctx: ActionContext, options: dict[str, Any]) -> None:
    url = secret(options, "url")
    if not url:
        raise PermanentError(f"no webhook URL (environment variable "
                             f"{options.get('url_env')} is not set)")
    try:
        _check_url(url)
    except OptionError:
        raise ActionError("the webhook URL is not an http(s) URL") from None
    headers = {"Content-Type": "application/json", "User-Agent": "gwalert",
               "Idempotency-Key": ctx.action_id, **options.get("headers", {})}
    request = urllib.request.Request(url, data=body(ctx, options), headers=headers,
                                     method="POST")
    host = urllib.parse.urlsplit(url).hostname
    try:
        with urllib.request.urlopen(request, timeout=ctx.timeout) as response:
            response.read(65536)
    except urllib.error.HTTPError as exc:
        raise ActionError(f"webhook on {host} answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ActionError(f"webhook on {host} unreachable: {reason}") from None
