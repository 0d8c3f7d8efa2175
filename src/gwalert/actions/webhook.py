"""``webhook``: HTTP POST of the notice summary as JSON.

Options: ``url`` or ``url_env`` (the URL is a secret: a Slack webhook URL is a credential),
``mode`` (``"json"``: the summary object, default; ``"slack"``: ``{"text": …}`` as Slack,
Mattermost and Teams incoming webhooks take it), ``text`` (a ``{field}`` template for slack
mode, default one headline), ``headers`` (table; values are secrets), ``timeout`` (default 10 s),
``follow_redirects`` (default false).
A status outside 2xx is a failure (retried). A redirect (3xx) is a failure too: following it
would send the body and the configured headers (``Authorization``, …) somewhere the user never
configured, and a POST that ends on a page reached by GET was never delivered. With
``follow_redirects = true`` a redirect is followed only to the same origin (same scheme, host
and port; ``http`` → ``https`` on the same host is allowed), at most 5 times, re-sending the
same POST; a redirect to any other place is still a failure (nothing is sent there), and the
last answer must be 2xx.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from ..options import (
    OptionError,
    check_keys,
    check_secret,
    check_template,
    opt_bool,
    opt_str,
    opt_table,
)
from ..redact import SECRET_PARAM
from .base import ActionContext, ActionError, PermanentError, headline, render, secret

SECRET_KEYS = ("url", "headers")
DEFAULT_TIMEOUT = 10.0
MODES = ("json", "slack")


def validate(options: dict[str, Any], *, base: Path, resolve: bool = True) -> dict[str, Any]:
    check_keys(options, {"url", "url_env", "mode", "text", "headers", "follow_redirects"})
    check_secret(options, "url")
    if "url" not in options and "url_env" not in options:
        raise OptionError("url", "missing (give url, or url_env naming an environment variable)")
    headers = opt_table(options, "headers")
    if "url" in options:
        check_url(options["url"], headers, key="url")
    elif resolve and os.environ.get(options["url_env"]):
        check_url(os.environ[options["url_env"]], headers, key="url_env")
    mode = opt_str(options, "mode", "json")
    if mode not in MODES:
        raise OptionError("mode", f"must be one of {', '.join(MODES)}")
    out: dict[str, Any] = {k: options[k] for k in ("url", "url_env") if k in options}
    out.update(
        mode=mode,
        headers=headers,
        follow_redirects=opt_bool(options, "follow_redirects", False),
    )
    text = check_template(options, "text")
    if text is not None:
        if mode != "slack":
            raise OptionError("text", 'only used with mode = "slack"')
        out["text"] = text
    return out


def check_url(url: str, headers: dict[str, str] | None = None, *, key: str = "url") -> str:
    """The URL's host, after the checks :func:`run` makes before it sends (one parser: what
    passes here is what urllib and http.client accept at send time). Refused: anything but
    http(s), no host, a bad port, userinfo (``user:password@``: it would reach logs and error
    texts), whitespace or controls, a host that is not a valid (IDNA) name, and a credential
    (an ``Authorization``-like header or a secret query parameter) over plain ``http://`` to
    anything but a loopback host. Messages never quote the URL (it is a secret)."""
    if not isinstance(url, str) or any(c.isspace() or not c.isprintable() for c in url):
        raise OptionError(key, "must be an http:// or https:// URL without spaces or controls")
    bad = OptionError(key, "is not a valid URL (its host or port cannot be parsed)")
    if "@" in re.split(r"[/?#\\]", url.partition("://")[2], maxsplit=1)[0]:
        raise OptionError(
            key,
            "must not carry credentials (user:password@): put credentials in `headers` "
            "or the URL in `url_env`",
        )
    try:
        parsed = urllib.parse.urlsplit(url)
        port = parsed.port
    except ValueError:
        raise bad from None
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise OptionError(key, "must be an http:// or https:// URL")
    try:  # what run() hands to urllib and http.client: they must see the same host and port
        request = urllib.request.Request(url)
        conn = http.client.HTTPConnection(request.host)
    except (ValueError, http.client.InvalidURL):
        raise bad from None
    if conn.host.lower() != parsed.hostname.lower() or (port or 80) != conn.port:
        raise bad
    if not request.selector.isascii():  # http.client sends the request line as ASCII
        raise OptionError(
            key, "has characters other than ASCII in its path or query: percent-encode them"
        )
    host = parsed.hostname
    if port == 0:
        raise OptionError(key, "port must be between 1 and 65535")
    if not parsed.netloc.startswith("["):
        try:
            host.encode("idna")
        except UnicodeError:
            raise OptionError(key, "host is not a valid domain name") from None
    if parsed.scheme == "http" and not is_loopback(host):
        creds = [h for h in (headers or {}) if _SECRET_HEADER.search(h)]
        query = [
            name
            for name, _v in urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)
            if SECRET_PARAM.search(name)
        ]
        if creds or query:
            what = f"header {creds[0]!r}" if creds else f"query parameter {query[0]!r}"
            raise OptionError(
                key,
                f"sends a credential ({what}) in clear text over http://: use https:// "
                "(plain http only to a loopback host)",
            )
    return host


_SECRET_HEADER = re.compile(r"auth|token|key|secret|pass|cookie|sig", re.I)


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def body(ctx: ActionContext, options: dict[str, Any]) -> bytes:
    if options.get("mode") == "slack":
        text = render(options["text"], ctx.facts) if options.get("text") else headline(ctx.facts)
        return json.dumps({"text": text}).encode()
    return ctx.summary_json().encode()


MAX_REDIRECTS = 5


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect inside urllib: a 3xx surfaces as an HTTPError, and
    :func:`run` decides."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


#: An opener that never follows a redirect (a 3xx is an HTTPError): used by every action that
#: posts (webhook, plan), so no redirect takes a notice or a credential to another host.
NO_REDIRECT_OPENER = urllib.request.build_opener(_NoRedirect())


def same_origin(url: str, target: str) -> bool:
    """Whether a redirect from ``url`` to ``target`` stays with the same server: same scheme,
    host and port, or the upgrade of the same host from http to https."""
    a, b = urllib.parse.urlsplit(url), urllib.parse.urlsplit(target)
    if not b.hostname or (a.hostname or "").lower() != b.hostname.lower():
        return False
    if b.username is not None or b.password is not None:
        return False
    if a.scheme == b.scheme:
        return (a.port or _PORTS.get(a.scheme)) == (b.port or _PORTS.get(b.scheme))
    return a.scheme == "http" and b.scheme == "https"


_PORTS = {"http": 80, "https": 443}


def run(ctx: ActionContext, options: dict[str, Any]) -> None:
    url = secret(options, "url")
    if not url:
        raise PermanentError(
            f"no webhook URL (environment variable {options.get('url_env')} is not set)"
        )
    try:
        check_url(url, options.get("headers"))
    except OptionError as exc:
        raise PermanentError(f"the webhook URL {exc.message}") from None
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "gwalert",
        "Idempotency-Key": ctx.action_id,
        **options.get("headers", {}),
    }
    data = body(ctx, options)
    host = urllib.parse.urlsplit(url).hostname
    follow = bool(options.get("follow_redirects"))
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        request = urllib.request.Request(current, data=data, headers=headers, method="POST")
        try:
            with NO_REDIRECT_OPENER.open(request, timeout=ctx.timeout) as response:
                response.read(65536)
            return
        except urllib.error.HTTPError as exc:
            code = exc.code
            location = exc.headers.get("Location") if exc.headers else None
            exc.close()
            if not 300 <= code < 400:
                raise ActionError(f"webhook on {host} answered HTTP {code} {exc.reason}") from None
            if not location:
                raise ActionError(
                    f"webhook on {host} answered HTTP {code} (a redirect "
                    "without a Location): not delivered"
                ) from None
            target = urllib.parse.urljoin(current, location)
            where = urllib.parse.urlsplit(target).hostname or "?"
            if not follow:
                raise ActionError(
                    f"webhook on {host} answered HTTP {code} (redirect to "
                    f"{where}, not followed: the POST was not delivered; set "
                    "follow_redirects = true to follow redirects on the same "
                    "server)"
                ) from None
            if not same_origin(current, target):
                raise ActionError(
                    f"webhook on {host} answered HTTP {code}: a redirect to "
                    f"another server ({where}) is never followed (the headers "
                    "and body would go there): not delivered"
                ) from None
            current = target
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ActionError(f"webhook on {host} unreachable: {reason}") from None
    raise ActionError(f"webhook on {host}: more than {MAX_REDIRECTS} redirects: not delivered")
