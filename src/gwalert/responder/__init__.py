"""The responder: decides which actions a new notice triggers (:mod:`.planner`, inside the
store transaction) and runs them from the ledger, away from the consumer loop (:mod:`.runner`).

Wiring into a listener (:func:`gwalert.app.build` does this for ``listen``, ``replay`` and the
handler API)::

    responder = Responder(store, load_config(path))
    pipeline = Pipeline(store, hooks=[responder.schedule], after_commit=[responder.wake])
    responder.start()
    try:
        ...  # the consumer loop
    finally:
        responder.stop()
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Connection

from ..alerts import Notice
from ..rules import Config
from .planner import Planner
from .runner import NoticeStore, Runner

__all__ = ["Planner", "Responder", "Runner"]


class Responder(Runner):
    """Plans actions for new notices and runs them. ``store`` is a
    :class:`gwalert.store.Store`; ``ignore_age`` plans actions even for notices older than
    their rule's ``max_age`` (for a replay the user asked for)."""

    def __init__(
        self,
        store: NoticeStore,
        config: Config,
        *,
        workers: int | None = None,
        poll_interval: float = 0.5,
        lease: float = 120.0,
        grace: float = 5.0,
        ignore_age: bool = False,
    ) -> None:
        super().__init__(
            store, config, workers=workers, poll_interval=poll_interval, lease=lease, grace=grace
        )
        self.ignore_age = ignore_age
        self.planner = Planner(config, ignore_age=ignore_age, planned=self.wake)

    @classmethod
    def from_file(cls, store: NoticeStore, path: str | None = None, **kwargs: Any) -> Responder:
        """A responder for the rules in ``path`` (default: gwalert's config file; when that
        does not exist, no rules: actions already due in the ledger still run)."""
        from ..rules import load_config

        return cls(store, load_config(path), **kwargs)

    def schedule(
        self,
        conn: Connection,
        notice_id: int,
        notice: Notice,
        summary: Mapping[str, Any] | None = None,
    ) -> None:
        """The store hook: record the actions ``notice`` triggers, in the caller's
        transaction."""
        self.planner.schedule(conn, notice_id, notice, summary)

    def plan(
        self, notice_id: int, notice: Notice, summary: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The ledger rows for one notice (what :meth:`schedule` inserts)."""
        return self.planner.plan(notice_id, notice, summary)
