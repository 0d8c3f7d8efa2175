"""Real servers on loopback for the action tests: an HTTP server (webhooks) and an SMTP server
with STARTTLS and AUTH (aiosmtpd), with a self-signed certificate made here."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)  # when it arrived

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HTTPRecorder:
    url: str
    requests: list[Request] = field(default_factory=list)
    #: Status codes to answer, in order; 200 once they run out. ``(code, location)`` answers
    #: a redirect to ``location``.
    statuses: list[Any] = field(default_factory=list)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def http_server() -> Iterator[HTTPRecorder]:
    recorder = HTTPRecorder(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            size = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(size)
            with recorder.lock:
                recorder.requests.append(Request(self.path, dict(self.headers), body))
                status = recorder.statuses.pop(0) if recorder.statuses else 200
            location = None
            if isinstance(status, tuple):
                status, location = status
            if recorder.delay:
                threading.Event().wait(recorder.delay)
            try:
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:  # the client went away (e.g. killed with -9)
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost and its key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class SMTPRecorder:
    host: str
    port: int
    cafile: str
    messages: list[Any] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    #: Replies to DATA, in order ("250 OK" once they run out), e.g. "451 try later".
    replies: list[str] = field(default_factory=list)
    #: Every AUTH attempt received, as (mechanism, over TLS?), accepted or not.
    auths: list[tuple[str, bool]] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def smtp_server(
    directory: Path, user: str = "alerts", password: str = "s3cret-pw", *, plaintext: bool = False
) -> Iterator[SMTPRecorder]:
    """aiosmtpd on loopback requiring STARTTLS before AUTH (LOGIN/PLAIN); ``plaintext``: a
    careless server that offers AUTH without TLS (and records every attempt in ``auths``)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert, key = self_signed(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    recorder = SMTPRecorder("127.0.0.1", _free_port(), str(cert))

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            recorder.messages.append(envelope)
            return recorder.replies.pop(0) if recorder.replies else "250 OK"

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        recorder.auths.append((mechanism, session.ssl is not None))
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        if ok:
            recorder.logins.append(user)
        return AuthResult(success=ok, handled=False)

    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=recorder.port,
        tls_context=context,
        require_starttls=not plaintext,
        authenticator=authenticator,
        auth_require_tls=not plaintext,
        auth_required=not plaintext,
    )
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()
