"""Dashboard edges over a real uvicorn server and raw sockets: ids outside the database's integer
range are 404, redirects stay on this server, malformed requests never log a traceback."""

from __future__ import annotations

import contextlib
import logging
import socket
import urllib.parse

import pytest
from web_server import fill_samples, running

from gwalert.web import create_app

IDS = ["0", "-1", "00", str(2**63 - 1), str(2**63), str(2**64), str(10**30), "abc", "1e3", "1.0"]
ROUTES = [
    "/notices/{}/raw",
    "/notices/{}/skymap.fits",
    "/notices/{}/combined.fits",
    "/notices/{}/moc90.fits",
    "/notices/{}/summary.json",
    "/maps/{}/skymap.png",
    "/maps/{}/combined.png",
    "/dead-letters/{}",
    "/dead-letters/{}/raw",
]


def raw(base: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as is; (status, headers, body) of the answer (0: no HTTP answer)."""
    host, port = urllib.parse.urlsplit(base).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(request)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            data += chunk
            if _complete(data):  # a kept-alive connection is not waited on until its timeout
                break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/"):
        return 0, {}, data
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), headers, body


def _complete(data: bytes) -> bool:
    """Whether ``data`` holds a whole HTTP answer with a Content-Length."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return len(body) >= int(value)
    return False


def get(base: str, path: str, extra: str = "") -> tuple[int, dict[str, str], bytes]:
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n"
    return raw(base, request.encode("latin-1"))


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def watching(base: str):
    """Every record of uvicorn's loggers (they do not propagate to the root, and uvicorn sets
    their handlers when it starts: so this is installed once the server runs) and the root's."""
    handler = Records()
    names = ["", "uvicorn", "uvicorn.error", "uvicorn.asgi", "gwalert"]
    for name in names:
        logging.getLogger(name).addHandler(handler)
    try:
        yield handler
    finally:
        for name in names:
            logging.getLogger(name).removeHandler(handler)


def no_tracebacks(caplog) -> None:
    bad = [
        r
        for r in caplog.records
        if r.exc_info or "Traceback" in r.getMessage() or "Exception in ASGI" in r.getMessage()
    ]
    assert not bad, [(r.getMessage(), repr(r.exc_info and r.exc_info[1])) for r in bad]


@pytest.fixture
def app(sqlite_store, tmp_path):
    fill_samples(sqlite_store)
    return create_app(sqlite_store, cache_dir=tmp_path / "c", prerender=False)


@pytest.mark.slow
def test_ids_outside_the_integer_range_are_404(app):
    with running(app) as base, watching(base) as caplog:
        assert get(base, "/notices/1/raw")[0] == 200
        for route in ROUTES:
            for i in IDS:
                status, _, body = get(base, route.format(i))
                assert status == 404, (route, i, status, body[:200])
    no_tracebacks(caplog)


REDIRECTS = [
    "//evil.example/",
    "//evil.example/x/",
    "/\\evil.example/",
    "/\\\\evil.example",
    "/%2f%2fevil.example/",
    "/%2F%2Fevil.example/",
    "/%5cevil.example/",
    "/%2f%5cevil.example",
    "///evil.example",
    "/%0d%0aSet-Cookie:%20x=1",
    "/a%0aLocation:%20//evil.example",
    "/%09/evil.example",
    "/%20//evil.example",
    "/events/MS260101a",
]


def test_redirects_stay_on_this_server(sqlite_store, tmp_path):
    fill_samples(sqlite_store)
    app = create_app(
        sqlite_store,
        cache_dir=tmp_path / "c",
        token="T0ken-123",
        loopback_only=False,
        prerender=False,
    )
    with running(app) as base, watching(base) as caplog:
        for path in REDIRECTS:
            status, headers, _ = get(base, path + "?token=T0ken-123&x=1")
            if status != 303:
                assert status in (400, 404), (path, status)
                continue
            location = headers["location"]
            assert location.startswith("/") and location[1:2] not in ("/", "\\"), (path, location)
            assert not any(c in location for c in "\r\n\t \\"), (path, location)
            target = urllib.parse.urlsplit(urllib.parse.urljoin(base + "/", location))
            assert target.netloc == urllib.parse.urlsplit(base).netloc, (path, location)
            assert "token=" not in location and location.endswith("?x=1")
    no_tracebacks(caplog)


MALFORMED = [
    b"GET /\r HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /a\rb HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /a\nb HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /\xff\xfe HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /notices/1/raw%0d%0a HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /%0d%0a?token=T0ken-123 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /a%0d%0ab?token=T0ken-123 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /a%0ab%00%ff?token=T0ken-123 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
    b"GARBAGE\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
    b"GET /" + b"A" * 70000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: a\rb\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: \xff\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
]


@pytest.mark.slow
@pytest.mark.parametrize("token", [None, "T0ken-123"])
def test_malformed_requests_never_log_a_traceback(sqlite_store, tmp_path, token):
    fill_samples(sqlite_store)
    app = create_app(
        sqlite_store,
        cache_dir=tmp_path / "c",
        token=token,
        loopback_only=token is None,
        prerender=False,
    )
    with running(app) as base, watching(base) as caplog:
        for request in MALFORMED:
            status, _, _ = raw(base, request)
            assert status < 500, (request[:60], status)  # 0: closed without an answer
        assert get(base, "/healthz", "Authorization: Bearer T0ken-123\r\n")[0] == 200
    no_tracebacks(caplog)
