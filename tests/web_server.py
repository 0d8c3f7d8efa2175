"""Helpers for the dashboard tests: a real uvicorn server in a thread, stores filled with the
drill notices, hostile notices, and plain HTTP requests."""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from waiting import wait_until

from gwalert import samples
from gwalert.alerts import decode
from gwalert.store import Store, ledger

#: Text fields a hostile sender controls, each trying to run script if not escaped.
XSS = {
    "pipeline": "<script>document.title='pwned-1'</script>",
    "search": "<img src=x onerror=\"document.title='pwned-2'\">",
    "class": "<img src=y onerror=\"document.title='pwned-3'\">",
    "url_name": "<b onmouseover=alert(4)>gracedb</b>",
}


def store_bytes(store: Store, data: bytes, source: str = "file:test") -> list[int]:
    """Store every notice in ``data``; their ids."""
    return [store.add(n, source=source)[0] for n in decode(data)]


def fill_samples(store: Store) -> dict[str, int]:
    """The drill set of ``gwalert sample`` (Avro copies), stored; file stem -> notice id."""
    ids = {}
    for name, data in sorted(samples.sample_set().items()):
        if name.endswith(".avro"):
            ids[name.removesuffix(".avro")] = store_bytes(store, data, f"file:/drill/{name}")[0]
    return ids


def hostile_notice(superevent_id: str = "MS260103x") -> bytes:
    """A valid notice whose free-text fields hold markup and script."""
    record = samples.make_record(
        superevent_id,
        pipeline=XSS["pipeline"],
        search=XSS["search"],
        classification={XSS["class"]: 0.7, "BNS": 0.3},
        skymap=samples.gaussian_skymap(30.0, 10.0, 6.0, max_level=5),
    )
    record["urls"] = {
        "gracedb": "javascript:document.title='pwned-4'",
        XSS["url_name"]: 'https://example.org/"><script>alert(5)</script>',
    }
    return samples.encode(record, "json")


def add_actions(store: Store, notice_id: int, *rows: tuple[str, str, str | None]) -> None:
    """Ledger rows (rule, state, error) for a notice, as the responder would write them."""
    ledger.create(store.engine)
    with store.engine.begin() as conn:
        ledger.insert_new(
            conn,
            [
                ledger.row(
                    notice_id, rule, f"act-{i}", "webhook", max_attempts=3, state=state, error=error
                )
                for i, (rule, state, error) in enumerate(rows)
            ],
        )


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port; yields the base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), what="the test server to start")
    if not server.started:
        raise RuntimeError("the test server did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(120)
        sock.close()


def get(
    url: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request; redirects are not followed."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with opener.open(request, timeout=60) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()
