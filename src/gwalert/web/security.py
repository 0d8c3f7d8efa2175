"""The dashboard's guard: read-only methods, an optional bearer token, a Host check against DNS
rebinding, and strict security headers on every response.

With a token, a request is let in when it carries ``Authorization: Bearer TOKEN``, or the
cookie set by visiting any page once with ``?token=TOKEN`` (the browser is then redirected to
the same address without the token, so it does not stay in the address bar or history).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

Scope = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]

COOKIE = "gwalert_token"

log = logging.getLogger("gwalert.web")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def local_path(path: str) -> str:
    """A redirect target that stays on this server: a relative path starting with exactly one
    ``/`` (``//host``, ``/\\host`` and their decoded forms collapse to one ``/``), every
    character outside the URL path set percent-encoded (no CR/LF, no backslash, no space)."""
    rest = str(path).lstrip("/\\\t\r\n ")
    return "/" + quote(rest, safe="/:@!$&'()*+,;=-._~%")


def cookie_value(token: str) -> str:
    """What the cookie holds: a digest of the token, not the token."""
    return hashlib.sha256(b"gwalert-serve-cookie:" + token.encode()).hexdigest()


class Guard:
    """ASGI middleware wrapping the application."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None = None,
        allowed_hosts: tuple[str, ...] | None = None,
    ) -> None:
        self.app = app
        self.token = token or None
        self.cookie = cookie_value(token) if token else None
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [
                    h for h in HEADERS if h[0] not in names
                ]
            try:
                await send(message)
            except Exception as exc:  # noqa: BLE001 - the server refused: the connection is gone
                # (a malformed request the server already answered with 400, a client that
                # went away): nothing can be delivered, and it is no error of ours to log.
                log.debug("response not sent: %s", exc)

        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        if scope["method"] not in ("GET", "HEAD"):
            await _plain(
                send_with_headers,
                405,
                "read-only: only GET and HEAD are allowed\n",
                [(b"allow", b"GET, HEAD")],
            )
            return
        if self.allowed_hosts is not None:
            host = headers.get("host", "")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name.lower() not in self.allowed_hosts:
                await _plain(send_with_headers, 421, "unexpected Host header\n")
                return
        if self.token is not None:
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            offered = query.get("token")
            if offered is not None and hmac.compare_digest(offered.encode(), self.token.encode()):
                rest = urlencode(
                    [
                        (k, v)
                        for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"))
                        if k != "token"
                    ]
                )
                location = local_path(scope.get("path", "/")) + (f"?{rest}" if rest else "")
                cookie = f"{COOKIE}={self.cookie}; Path=/; HttpOnly; SameSite=Strict"
                await _plain(
                    send_with_headers,
                    303,
                    "signed in\n",
                    [
                        (b"location", location.encode("latin-1", "replace")),
                        (b"set-cookie", cookie.encode()),
                    ],
                )
                return
            if not self._authorized(headers):
                await _plain(
                    send_with_headers,
                    401,
                    "token required: send 'Authorization: Bearer TOKEN' or open "
                    "this page once with ?token=TOKEN\n",
                    [(b"www-authenticate", b'Bearer realm="gwalert"')],
                )
                return
        await self.app(scope, receive, send_with_headers)

    def _authorized(self, headers: dict[str, str]) -> bool:
        assert self.token is not None and self.cookie is not None
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), self.token.encode()
        ):
            return True
        jar = SimpleCookie()
        try:
            jar.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header is just no cookie
            return False
        morsel = jar.get(COOKIE)
        return morsel is not None and hmac.compare_digest(
            morsel.value.encode(), self.cookie.encode()
        )


async def _plain(
    send: Any, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ]
            + (extra or []),
        }
    )
    await send({"type": "http.response.body", "body": body})
