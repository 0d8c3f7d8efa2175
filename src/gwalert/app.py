"""The wiring of one gwalert process: store + pipeline + responder (+ arrivals).

``gwalert listen`` builds an :class:`App` and feeds it from one or several feeds; with
``actions=False`` (``listen --no-actions``) the pipeline still records each new notice's due
actions in the ledger (in the notice's transaction) but runs none: ``gwalert respond`` workers,
anywhere, run them under leases. ``gwalert respond`` builds a responder alone
(:func:`responder`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .pipeline import Pipeline
from .store import Store
from .store.arrivals import Arrivals

#: Default action lease (s): a worker that dies holding an action is replaced after it.
DEFAULT_LEASE = 120.0


@dataclass
class App:
    store: Store
    pipeline: Pipeline
    responder: Any  # gwalert.responder.Responder
    arrivals: Arrivals
    actions: bool

    def start(self) -> None:
        """Start running actions (unless built with ``actions=False``)."""
        if self.actions:
            self.responder.start()

    def stop(self) -> None:
        if self.actions:
            self.responder.stop()


def responder(
    store: Store,
    config_file: str | None = None,
    *,
    lease: float = DEFAULT_LEASE,
    workers: int | None = None,
    ignore_age: bool = False,
    rules: Any = None,
    poll_interval: float = 0.5,
) -> Any:
    """The rules engine for ``rules`` (a parsed :class:`~gwalert.rules.Config`) or
    ``config_file`` (default: gwalert's config file; when there is none, no rules: actions
    already due in the ledger still run)."""
    from .config import default_config_path
    from .responder import Responder
    from .rules import parse_config

    kwargs: dict[str, Any] = {
        "lease": lease,
        "workers": workers,
        "ignore_age": ignore_age,
        "poll_interval": poll_interval,
    }
    if rules is not None:
        return Responder(store, rules, **kwargs)
    if config_file is None and not default_config_path().exists():
        return Responder(store, parse_config({}), **kwargs)
    return Responder.from_file(store, config_file, **kwargs)


def build(
    store: Store,
    config_file: str | None = None,
    *,
    actions: bool = True,
    lease: float = DEFAULT_LEASE,
    workers: int | None = None,
    rules: Any = None,
    ignore_age: bool = False,
    poll_interval: float = 0.5,
    eager: bool = False,
) -> App:
    """Store + pipeline (hooks: the first arrival, then the due actions, both in the notice's
    transaction; after commit: later arrivals, wake the runner) + responder.

    Used by ``gwalert listen``, ``gwalert replay FILES`` and the Python handlers'
    ``listen``/``replay``: every notice enters through this pipeline (``eager``: see
    :class:`~gwalert.pipeline.Pipeline`; ``gwalert listen``'s)."""
    engine = responder(
        store,
        config_file,
        lease=lease,
        workers=workers,
        rules=rules,
        ignore_age=ignore_age,
        poll_interval=poll_interval,
    )
    arrivals = Arrivals(store.engine)
    pipeline = Pipeline(
        store, hooks=[engine.schedule], arrivals=arrivals, after_commit=[engine.wake], eager=eager
    )
    return App(store, pipeline, engine, arrivals, actions)
