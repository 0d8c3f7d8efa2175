"""The Python API for scripts: register handler functions, then listen (or replay files).

The LVK user guide's ``parse_notice`` as a gwalert handler::

    from gwalert.handlers import handler, listen

    @handler(mock=True)                      # the guide handles only mock ('M…') alerts
    def parse_notice(notice):
        if notice.is_retraction:
            print(notice.superevent_id, "was retracted")
            return
        print(notice.superevent_id, notice.skymap.most_probable(), notice.skymap.distmean)

    listen()                                 # kafka://kafka.scimma.org/igwn.gwalert

A handler takes the :class:`~gwalert.alerts.Notice` (and, if it has a ``context`` parameter,
the :class:`~gwalert.actions.base.ActionContext`). Filters are a rule's keys (``real``,
``alert_type``, ``classification_min``, ``area_90_max``, ``max_age``…). Handlers run as
``python`` actions through the responder: stored first, never inside the consumer loop, each
(notice, handler) once. A handler that raises OSError is retried with backoff; any other
exception is a bug no retry fixes: it fails at once and its traceback is logged.
"""

from __future__ import annotations

import logging
import re
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .rules import Config, parse_config

log = logging.getLogger("gwalert.handlers")

Handler = Callable[..., Any]
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")


class Handlers:
    """A set of handler functions and the filters each one wants."""

    def __init__(self) -> None:
        self._rules: list[dict[str, Any]] = []

    def handler(
        self,
        func: Handler | None = None,
        /,
        *,
        name: str | None = None,
        attempts: int | None = None,
        timeout: float | None = None,
        **filters: Any,
    ) -> Any:
        """Register ``func``; use as ``@handler`` or ``@handler(real=True, …)``."""

        def register(f: Handler) -> Handler:
            rule_name = name or _UNSAFE.sub("_", getattr(f, "__qualname__", "handler"))[:100]
            if any(r["name"] == rule_name for r in self._rules):
                rule_name = f"{rule_name}.{len(self._rules)}"
            action: dict[str, Any] = {"type": "python", "callable": f, "name": "handler"}
            if attempts is not None:
                action["attempts"] = attempts
            if timeout is not None:
                action["timeout"] = timeout
            self._rules.append({"name": rule_name, **filters, "action": [action]})
            try:
                self.config()  # a wrong filter fails here, not at the first alert
            except Exception:
                self._rules.pop()
                raise
            return f

        return register(func) if func is not None else register

    def config(self) -> Config:
        return parse_config({"rule": self._rules}, source="<handlers>")

    def listen(
        self,
        url: str | None = None,
        *,
        store: str | None = None,
        no_auth: bool = False,
        group_id: str | None = None,
        start_at: str = "latest",
        until_eos: bool = False,
        config_file: str | None = None,
        stop: threading.Event | None = None,
        **source_options: Any,
    ) -> Any:
        """Receive notices from ``url`` (default SCiMMA's ``igwn.gwalert``; also ``gcn://…`` or
        a file/directory) into the store and run the handlers, until ``stop`` is set, the
        stream ends (``until_eos``) or Ctrl-C. Returns the pipeline's statistics."""
        from .config import read_config, store_url
        from .sources import open_source
        from .sources.url import DEFAULT_URL
        from .store import Store

        listener_config = read_config(config_file)
        opened = Store.open(store_url(listener_config, store))
        try:
            source = open_source(
                url or DEFAULT_URL,
                store_url=str(opened.engine.url),
                no_auth=no_auth,
                group_id=group_id,
                start_at=start_at,
                until_eos=until_eos,
                config=listener_config,
                store=opened,
                **source_options,
            )
            return _run(opened, self.config(), source, stop, ignore_age=False)
        finally:
            opened.close()

    def replay(
        self,
        paths: str | Path | Sequence[str | Path],
        *,
        store: str | None = None,
        ignore_age: bool = True,
        timeout: float = 600.0,
    ) -> int:
        """Run the handlers on notice files or directories and wait for them; returns how many
        notices were read. Without ``store`` a temporary store is used, so every call runs the
        handlers afresh; with one, notices already handled there are not handled again.

        Raises :class:`~gwalert.errors.GwalertError` naming the handlers that failed in this
        call (their tracebacks are logged as they happen)."""
        from .errors import GwalertError
        from .sources.files import FileSource
        from .store import Store, ledger

        items = [paths] if isinstance(paths, str | Path) else list(paths)
        with tempfile.TemporaryDirectory(prefix="gwalert-replay-") as tmp:
            opened = Store.open(store or str(Path(tmp) / "replay.sqlite"))
            try:
                ledger.create(opened.engine)
                with opened.engine.connect() as conn:
                    before = {
                        r["id"] for r in ledger.iter_rows(conn) if r["state"] == ledger.FAILED
                    }
                count = 0
                for item in items:
                    stats = _run(
                        opened,
                        self.config(),
                        FileSource(item),
                        None,
                        ignore_age=ignore_age,
                        timeout=timeout,
                    )
                    count += stats.new + stats.duplicates
                with opened.engine.connect() as conn:
                    failed = [
                        r
                        for r in ledger.iter_rows(conn)
                        if r["state"] == ledger.FAILED and r["id"] not in before
                    ]
                if failed:
                    first = failed[0]
                    raise GwalertError(
                        f"{len(failed)} handler run(s) failed; first: "
                        f"{first['rule']}: {first['last_error']}"
                    )
                return count
            finally:
                opened.close()


def _run(
    store: Any,
    config: Config,
    source: Any,
    stop: threading.Event | None,
    *,
    ignore_age: bool,
    timeout: float = 30.0,
) -> Any:
    from .app import build
    from .pipeline import run as run_pipeline

    app = build(store, rules=config, ignore_age=ignore_age, poll_interval=0.1)
    responder, pipeline = app.responder, app.pipeline
    responder.start()
    try:
        stats = run_pipeline(source, pipeline, stop or threading.Event())
        if not responder.wait_idle(timeout):
            log.warning("handlers still running after %.0f s; they stay due in the store", timeout)
        return stats
    except KeyboardInterrupt:
        log.warning("interrupted: unfinished handlers run at the next start")
        return None
    finally:
        source.close()
        responder.stop()


#: The default set, for scripts: ``@handler`` … ``listen()``.
default = Handlers()
handler = default.handler
listen = default.listen
replay = default.replay
