"""The runner: runs the actions the planner recorded in the ledger, away from the consumer loop.

Guarantees (from the ledger's point of view):

* a runner thread claims due rows under a renewed lease and runs each action in its own thread,
  at most ``workers`` at a time, so a slow, hanging or failing action never blocks the others or
  the stream; a failed attempt is retried with exponential backoff, then recorded as ``failed``
  with its error;
* ``done`` is recorded right after the action returns (a small transaction of its own). If the
  process dies while the action runs or before that record, the action is at-least-once: a
  command outlives its runner and writes an exit marker (``state_dir``), so the next attempt
  waits for it (up to its timeout, then kills it: never two copies at once) and records it done
  without running it again when the marker says it completed; other actions run again. The
  last attempt interrupted is only recovered, never run again. Actions get a stable idempotency key
  (``GWALERT_ACTION_ID`` for commands, ``Idempotency-Key`` for webhooks, the e-mail
  ``Message-ID``, ``context.action_id`` for Python) to recognise a repeat;
* a running row's lease is renewed by its runner; a runner on this host that died (kill -9) is
  detected by its process id at once, one elsewhere when its lease (120 s) expires.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa

from ..actions import get_action_type
from ..actions.base import (
    ActionContext,
    ActionError,
    PermanentError,
    collect_secrets,
    redact,
)
from ..alerts import Notice
from ..rules import ActionSpec, Config
from ..store import ledger
from ..util import first_line

log = logging.getLogger("gwalert.responder")


@dataclass
class _Running:
    claim: ledger.Claim
    thread: threading.Thread
    deadline: float  # after this (the action's timeout plus grace) the attempt is abandoned


class NoticeStore(Protocol):
    """What the runner needs of the store (:class:`gwalert.store.Store` has it)."""

    engine: sa.Engine

    def get_notice(self, notice_id: int) -> Any: ...


class Runner:
    """Runs the due actions of the ledger in ``store`` with ``config``'s action settings."""

    def __init__(
        self,
        store: NoticeStore,
        config: Config,
        *,
        workers: int | None = None,
        poll_interval: float = 0.5,
        lease: float = 120.0,
        grace: float = 5.0,
    ) -> None:
        self.store = store
        self.engine = store.engine
        self.config = config
        self.workers = workers or config.responder.workers
        self.poll_interval = poll_interval
        self.lease = lease
        self.grace = grace
        self.owner = ledger.new_owner()
        import hashlib

        self._store_key = hashlib.sha256(
            self.engine.url.render_as_string(hide_password=True).encode()
        ).hexdigest()[:12]
        self.state_dir = _state_dir(self.engine, self._store_key)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._running: dict[int, _Running] = {}
        self._lock = threading.Lock()
        self._db_ok = True
        ledger.create(self.engine)

    def wake(self, *_: Any) -> None:
        """Look for due actions now (e.g. from the pipeline's ``after_commit``)."""
        self._wake.set()

    # ------------------------------------------------------------------------ running
    def start(self) -> None:
        """Start the runner thread (returns at once)."""
        if self._thread is not None and self._thread.is_alive():
            return
        _warm_imports(self.config)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="gwalert-responder", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming; wait up to ``timeout`` s for running actions to finish and be
        recorded. Any still running stay ``running`` in the ledger and are run again after
        their lease expires (or at once by the next runner on this host)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        end = time.monotonic() + timeout
        for item in list(self._running.values()):
            item.thread.join(max(0.0, end - time.monotonic()))
        left = [r.claim for r in self._running.values() if r.thread.is_alive()]
        if left:
            log.warning(
                "stopping with %d action(s) still running: %s",
                len(left),
                ", ".join(f"{c.rule}/{c.action}" for c in left),
            )

    def __enter__(self) -> Runner:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_idle(self, timeout: float = 60.0, notice_ids: Iterable[int] | None = None) -> bool:
        """Wait until no action (of ``notice_ids``, or at all) is due or running; True if so.
        Actions waiting for a retry count as pending."""
        ids = None if notice_ids is None else list(notice_ids)
        end = time.monotonic() + timeout
        while True:
            with self.engine.connect() as conn:
                if ledger.pending(conn, ids) == 0:
                    return True
            if time.monotonic() >= end:
                return False
            time.sleep(min(0.1, self.poll_interval))

    def _loop(self) -> None:
        last_reap = 0.0
        last_renew = time.monotonic()
        while not self._stop.is_set():
            try:
                now = time.monotonic()
                if now - last_reap >= 5.0:
                    n = 0
                    with self.engine.connect() as conn:
                        running = ledger.has_running(conn)
                    if running:
                        with _write(self.engine) as conn:
                            n = ledger.expire_dead_owners(conn)
                    if n:
                        log.warning("%d action(s) of a runner that died are due again", n)
                    last_reap = now
                if now - last_renew >= self.lease / 3:
                    self._renew()
                    last_renew = now
                self._watchdog()
                self._dispatch()
                if not self._db_ok:
                    log.warning("action ledger reachable again")
                    self._db_ok = True
            except sa.exc.SQLAlchemyError as exc:
                if self._db_ok:
                    log.warning("action ledger unavailable, retrying: %s", first_line(exc))
                    self._db_ok = False
                self._stop.wait(1.0)
            except Exception:  # noqa: BLE001 - the runner must outlive any surprise
                log.exception("responder loop error (continuing)")
                self._stop.wait(1.0)
            self._wake.wait(self.poll_interval)
            self._wake.clear()

    def _renew(self) -> None:
        with self._lock:
            ids = list(self._running)
        if ids:
            with _write(self.engine) as conn:
                ledger.renew(conn, self.owner, ids, time.time() + self.lease)

    def _watchdog(self) -> None:
        now = time.monotonic()
        with self._lock:
            items = list(self._running.items())
        for ident, item in items:
            if item.thread.is_alive() and now > item.deadline:
                log.error(
                    "%s/%s (notice %d): still running %.0f s past its timeout; abandoned",
                    item.claim.rule,
                    item.claim.action,
                    item.claim.notice_id,
                    self.grace,
                )
                with self._lock:
                    self._running.pop(ident, None)
                self._record(item.claim, "abandoned: still running after its timeout")

    def _dispatch(self) -> None:
        with self._lock:
            free = self.workers - len(self._running)
        if free <= 0 or self._stop.is_set():
            return
        with self.engine.connect() as conn:  # a read first: no write lock when idle
            if not ledger.has_ready(conn):
                return
        with self._lock:
            mine = list(self._running)
        with _write(self.engine) as conn:
            claims = ledger.claim(conn, self.owner, free, self.lease, exclude=mine)
        for claim in claims:
            spec = self._spec(claim)
            timeout = _timeout(spec)
            thread = threading.Thread(
                target=self._execute,
                args=(claim, spec, timeout),
                name=f"gwalert-action-{claim.id}",
                daemon=True,
            )
            with self._lock:
                self._running[claim.id] = _Running(
                    claim, thread, time.monotonic() + timeout + self.grace
                )
            thread.start()

    def _spec(self, claim: ledger.Claim) -> ActionSpec | None:
        rule = self.config.rule(claim.rule)
        if rule is None:
            return None
        return next((a for a in rule.actions if a.name == claim.action), None)

    def _execute(self, claim: ledger.Claim, spec: ActionSpec | None, timeout: float) -> None:
        label = f"{claim.rule}/{claim.action}"
        secrets: tuple[str, ...] = ()
        error: str | None
        final = False
        ctx: ActionContext | None = None
        try:
            if spec is None:
                final = True  # retrying cannot help: the config no longer has it
                raise ActionError(
                    f"rule {claim.rule!r} has no action {claim.action!r} in the current config"
                )
            secrets = collect_secrets(spec.options, spec.secret_keys)
            ctx = self._context(claim, timeout, secrets)
            kind = get_action_type(spec.type)
            if claim.recover_only:
                final = True
                recover = getattr(kind, "recover", None)
                if recover is None or not recover(ctx, dict(spec.options)):
                    raise ActionError(
                        "interrupted: the runner stopped during the last attempt"
                        " and it did not complete"
                    )
                log.info(
                    "%s %s: %s completed before its runner stopped",
                    ctx.summary.superevent_id,
                    ctx.summary.alert_type,
                    label,
                )
            else:
                log.info(
                    "%s %s: %s attempt %d",
                    ctx.summary.superevent_id,
                    ctx.summary.alert_type,
                    label,
                    claim.attempt,
                )
                kind.run(ctx, dict(spec.options))
            error = None
        except PermanentError as exc:  # retrying cannot help: failed at once
            error = redact(str(exc), secrets)
            final = True
        except ActionError as exc:
            error = redact(str(exc), secrets)
        except Exception as exc:  # noqa: BLE001 - record any failure, never kill the runner
            error = redact(f"{type(exc).__name__}: {exc}", secrets)
        with self._lock:
            mine = self._running.pop(claim.id, None) is not None
        if mine and self._record(claim, error, final=final) and ctx is not None:
            forget = getattr(get_action_type(spec.type), "forget", None) if spec else None
            if forget is not None:
                try:
                    forget(ctx)
                except Exception:  # noqa: BLE001 - only a leftover file
                    log.debug("could not clean up after %s", label, exc_info=True)

    def _record(self, claim: ledger.Claim, error: str | None, *, final: bool = False) -> bool:
        """Record the attempt's outcome; True once the ledger holds it."""
        label = f"{claim.rule}/{claim.action} (notice {claim.notice_id})"
        retry_at = None
        if error is not None and claim.attempt < claim.max_attempts and not final:
            settings = self.config.responder
            delay = min(settings.backoff * 2 ** (claim.attempt - 1), settings.backoff_max)
            retry_at = time.time() + delay
        delay = 0.5
        while True:  # the result must reach the ledger; retry while the database is away
            try:
                with _write(self.engine) as conn:
                    held = ledger.finish(conn, claim, self.owner, error=error, retry_at=retry_at)
                break
            except sa.exc.SQLAlchemyError as exc:
                if self._stop.is_set() and delay > 8:
                    log.error("%s: could not record the result: %s", label, first_line(exc))
                    return False
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
        if not held:
            log.warning("%s: lost its lease before finishing; result not recorded", label)
        elif error is None:
            log.info("%s: done", label)
        elif retry_at is not None:
            log.warning(
                "%s: attempt %d/%d failed, retry in %.0f s: %s",
                label,
                claim.attempt,
                claim.max_attempts,
                retry_at - time.time(),
                error,
            )
        else:
            log.error("%s: failed after %d attempt(s): %s", label, claim.attempt, error)
        self._wake.set()
        return held and error is None

    def _context(
        self, claim: ledger.Claim, timeout: float, secrets: tuple[str, ...]
    ) -> ActionContext:
        """The action's context from the stored row: the summary stored with the notice, read
        (:meth:`Summary.from_json`), never recomputed; the notice decoded only if the action
        asks for it (:attr:`ActionContext.notice`)."""
        from ..summary import Summary

        row = self.store.get_notice(claim.notice_id)
        if row is None:
            raise ActionError(f"notice {claim.notice_id} is not in the store")
        m = row._mapping
        raw = bytes(m["raw"])
        content_hash = str(m["content_hash"])
        return ActionContext(
            action_id=claim.key,
            attempt=claim.attempt,
            rule=claim.rule,
            action=claim.action,
            summary=Summary.from_json(m["summary"]),
            timeout=timeout,
            secrets=secrets,
            run_key=f"{self._store_key}-{claim.id}",
            state_dir=self.state_dir,
            content_hash=content_hash,
            raw=raw,
            format=str(m["format"]),
            details=claim.details,
            load_notice=lambda: _decode_stored(raw, content_hash),
            notice_id=claim.notice_id,
            engine=self.engine,
        )


def _decode_stored(raw: bytes, content_hash: str) -> Notice:
    """The stored notice with ``content_hash`` among those its message holds."""
    from ..alerts import decode

    notices = decode(raw)
    return next((n for n in notices if n.content_hash == content_hash), notices[0])


def _warm_imports(config: Config) -> None:
    """Import in the starting thread what action threads would otherwise import concurrently
    with the consumer (two threads importing fastavro or matplotlib at once can see a partially
    initialised module)."""
    import importlib

    modules = [
        "fastavro",
        "numpy",
        "gwalert.summary",
        "gwalert.skymap",
        "gwalert.skymap.credible",
        "gwalert.skymap.volume",
        "gwalert.skymap.crossmatch",
        "gwalert.skymap.fields",
        "gwalert.skymap.moc",
    ]
    types = {a.type for r in config.rules for a in r.actions}
    if "save" in types:
        modules += [
            "matplotlib",
            "matplotlib.figure",
            "matplotlib.backends.backend_agg",
            "matplotlib.lines",
            "matplotlib.patches",
            "matplotlib.cm",
            "matplotlib.colors",
            "matplotlib.ticker",
            "gwalert.skymap.plot",
        ]
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    for kind in types:
        get_action_type(kind)


def _state_dir(engine: sa.Engine, store_key: str) -> str:
    """Where actions keep run records that must outlive the listener (a command's exit
    marker): beside a SQLite store's file, else in the user's state directory."""
    from pathlib import Path

    database = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if database and database != ":memory:":
        return str(Path(database).resolve().parent / f"{Path(database).name}.runs")
    from platformdirs import user_state_dir

    return str(Path(user_state_dir("gwalert", appauthor=False)) / "runs" / store_key)


def _timeout(spec: ActionSpec | None) -> float:
    if spec is None:
        return 1.0
    if spec.timeout is not None:
        return spec.timeout
    return float(getattr(get_action_type(spec.type), "DEFAULT_TIMEOUT", 60.0))


def _write(engine: sa.Engine) -> Any:
    from ..store import write_transaction

    return write_transaction(engine)
