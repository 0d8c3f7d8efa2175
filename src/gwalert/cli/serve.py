"""gwalert serve: a read-only web dashboard over the store."""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
from typing import Any

HELP = "web dashboard over the store: events, sky maps, timelines, health, JSON API, /metrics"

EPILOG = """\
Pages: / (events, updating by itself), /events/ID, /health; JSON under /api/ (events,
events/ID, health); Prometheus text at /metrics. Read-only. Listens on 127.0.0.1 unless
--host says otherwise; any other address needs a token (--token, $GWALERT_TOKEN or [serve]
token in the config), and then every request must carry it: 'Authorization: Bearer TOKEN', or
open any page once with ?token=TOKEN in the browser (it sets a cookie)."""

TOKEN_ENV = "GWALERT_TOKEN"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ._store import add_store_arguments

    parser.epilog = EPILOG
    add_store_arguments(parser)
    parser.add_argument(
        "--host",
        metavar="ADDR",
        help="address to listen on (default: [serve] host, else 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=int,
        metavar="N",
        help="port (0: any free port; default: [serve] port, else 8080)",
    )
    parser.add_argument(
        "--token",
        metavar="T",
        help=f"require this token on every request (default: ${TOKEN_ENV}, "
        "else [serve] token in the config)",
    )
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="where rendered sky maps are kept (default: the user cache dir)",
    )
    parser.add_argument(
        "--silence-warning",
        type=float,
        default=None,
        metavar="SECONDS",
        help="flag a feed silent for this long on /health (default: 3600)",
    )


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _section(config: dict) -> dict:
    section = config.get("serve")
    return section if isinstance(section, dict) else {}


def run(args: argparse.Namespace) -> int:
    from ..config import read_config
    from ..errors import GwalertError

    config = read_config(args.config)
    serve = _section(config)
    host = args.host or str(serve.get("host") or "127.0.0.1")
    port = args.port if args.port is not None else int(serve.get("port") or 8080)
    token = args.token or os.environ.get(TOKEN_ENV) or serve.get("token") or None
    if token is not None and not str(token).strip():
        token = None
    if not is_loopback(host) and token is None:
        print(
            f"gwalert: --host {host}: listening beyond this machine needs a token "
            f"(--token, ${TOKEN_ENV} or [serve] token in the config)",
            file=sys.stderr,
            flush=True,
        )
        return 2
    if not 0 <= port <= 65535:
        print(f"gwalert: --port {port}: not a port number", file=sys.stderr, flush=True)
        return 2
    silence = (
        args.silence_warning
        if args.silence_warning is not None
        else float(serve.get("silence_warning", 3600.0))
    )

    import uvicorn

    from ..store import Store
    from ..web import create_app
    from ._store import open_store

    store: Store = open_store(args)
    try:
        cache_dir = args.cache_dir or _default_cache(store)
        app = create_app(
            store,
            cache_dir=cache_dir,
            token=token,
            loopback_only=is_loopback(host),
            silence=silence,
        )
        sock = _bind(host, port)
        actual = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        print(
            f"gwalert: serving {store.url} on http://{shown}:{actual}/ "
            f"({'token required' if token else 'no token'}; Ctrl-C stops)",
            file=sys.stderr,
            flush=True,
        )
        config_ = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="on", server_header=False
        )
        server = _server_class(uvicorn)(config_)
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()
    except OSError as exc:
        raise GwalertError(f"{host}:{port}: {exc.strerror or exc}") from None
    finally:
        store.close()
    return 0


def _server_class(uvicorn: Any) -> type:
    """uvicorn's server, stopping on SIGINT/SIGTERM with exit status 0 (uvicorn itself
    re-raises the signal after shutting down, which ends the process with -15)."""
    import contextlib
    import signal

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):
            def handler(signum: int, frame: object) -> None:
                self.handle_exit(signum, frame)

            old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, previous in old.items():
                    signal.signal(sig, previous)

    return Server


def _bind(host: str, port: int) -> socket.socket:
    from ..errors import GwalertError

    try:
        infos = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise GwalertError(f"--host {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise GwalertError(f"{host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def _default_cache(store: object) -> str:
    import hashlib

    from platformdirs import user_cache_dir

    key = hashlib.sha256(str(getattr(store, "url", "")).encode()).hexdigest()[:16]
    return os.path.join(user_cache_dir("gwalert", appauthor=False), "web", key)
