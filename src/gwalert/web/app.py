"""The dashboard's Starlette application: its shared state (:class:`Dashboard`) and its routes;
the pages are in :mod:`.pages`, the downloads in :mod:`.downloads`, the JSON API and /metrics in
:mod:`.api`.

Every endpoint is a plain function run in Starlette's thread pool: each opens a short read-only
connection to the store (SQLite in WAL mode or PostgreSQL), so a running ``gwalert listen`` in
another process is never blocked.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import jinja2
import sqlalchemy as sa
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    PlainTextResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import GwalertError
from ..store import Store
from . import fmt, health, maps, queries
from .security import LOOPBACK_HOSTS, Guard

log = logging.getLogger("gwalert.web")

HERE = Path(__file__).parent


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        far=fmt.far_human,
        area=fmt.area,
        percent=fmt.percent,
        utc=fmt.utc,
        utc_short=fmt.utc_short,
        ago=fmt.ago,
    )
    env.globals.update(distance=fmt.distance, leading=fmt.leading, safe_url=_safe_url)
    return env


def _safe_url(url: Any) -> str | None:
    """Only plain https links from a notice become links (never fetched by the server)."""
    text = str(url or "")
    return text if re.fullmatch(r"https://[^\s\"'<>`]{1,500}", text) else None


class Dashboard:
    """State shared by the endpoints: the store, optional-table probe, map cache, templates."""

    def __init__(
        self,
        store: Store,
        cache_dir: str | Path,
        *,
        silence: float = 3600.0,
        prerender: bool = True,
    ) -> None:
        self.store = store
        self.engine = store.engine
        self.opt = queries.StoreView(self.engine).refresh(force=True)
        self.maps = maps.MapCache(cache_dir)
        self.silence = silence
        self.env = _environment()
        self.prerender = prerender
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rows: dict[int, tuple[dict[str, Any], Markup]] = {}

    # -------------------------------------------------------------------- helpers
    def connect(self) -> Any:
        return self.engine.connect()

    def render(
        self, template: str, request: Request, status: int = 200, **context: Any
    ) -> HTMLResponse:
        html = self.env.get_template(template).render(request=request, **context)
        return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})

    def rows(self, events: list[dict[str, Any]]) -> list[Markup]:
        """Each event's table row, rendered once per event dict: the list keeps one dict per
        distinct content (:class:`.index.NoticeIndex`), so a refresh mostly joins cached
        rows (an observing run's list changes a row at a time)."""
        template = self.env.get_template("_row.html")
        out = []
        cache = self._rows
        if len(cache) > 50_000:
            cache.clear()
        for e in events:
            html = cache.get(id(e))
            if html is None or html[0] is not e:
                html = cache[id(e)] = (e, Markup(template.render(e=e)))
            out.append(html[1])
        return out

    def opt_now(self) -> queries.StoreView:
        return self.opt.refresh()

    def health(self) -> dict[str, Any]:
        """Feeds, counts, dead letters and failed actions: the health page, its API, /metrics."""
        opt = self.opt_now()
        with self.connect() as conn:
            return {
                "sources": health.sources(conn, opt, self.silence),
                "counts": health.counts(conn, opt),
                "dead_letters": health.dead_letters(conn),
                "failed_actions": health.failed_actions(conn, opt),
            }

    # ------------------------------------------------------------ background maps
    def start(self) -> None:
        """Start the background thread: warm the list's index, then keep drawing new maps."""
        if self.prerender and self._thread is None:
            self._thread = threading.Thread(
                target=self._prerender_loop, name="gwalert-maps", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the background thread and wait for the picture it is drawing: a daemon thread
        still inside matplotlib's native code when the interpreter exits aborts the process
        (SIGABRT, "terminate called without an active exception")."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)

    def _prerender_loop(self) -> None:
        """Draw the map of each superevent's newest notice before anyone asks for it."""
        seen: set[str] = set()
        try:  # warm the list's index so that the first page is as fast as the next ones
            with self.connect() as conn:
                self.opt.index.load(conn)
        except Exception as exc:  # noqa: BLE001
            log.debug("warming the index: %s", exc)
        while not self._stop.is_set():
            try:
                self._prerender_once(seen)
            except Exception as exc:  # noqa: BLE001 - keep serving pages whatever happens
                log.debug("pre-rendering: %s", exc)
            self._stop.wait(3.0)

    def _prerender_once(self, seen: set[str], limit: int = 20) -> None:
        n = queries.N
        with self.connect() as conn:
            rows = (
                conn.execute(
                    sa.select(n.id, n.content_hash, n.superevent_id)
                    .where(n.area_90.is_not(None))
                    .order_by(n.id.desc())
                    .limit(limit)
                )
                .mappings()
                .all()
            )
        latest: dict[str, Any] = {}
        for r in rows:
            latest.setdefault(r["superevent_id"], r)
        for r in latest.values():
            key = f"{r['id']}-{r['content_hash']}"
            if key in seen or self._stop.is_set():
                continue
            seen.add(key)
            if self.maps.cached(r["id"], r["content_hash"], "skymap"):
                continue
            with self.connect() as conn:
                row = queries.notice_row(conn, r["id"], with_raw=True)
            if row is not None:
                try:
                    self.maps.get(row, "skymap")
                except GwalertError as exc:
                    log.warning("%s", exc)


async def not_found(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    detail = getattr(exc, "detail", "not found")
    return PlainTextResponse(f"{detail}\n", status_code=status)


# ----------------------------------------------------------------------------- build
def create_app(
    store: Store,
    *,
    cache_dir: str | Path,
    token: str | None = None,
    loopback_only: bool = True,
    silence: float = 3600.0,
    prerender: bool = True,
) -> Any:
    """The ASGI application over ``store`` (wrapped in :class:`Guard`)."""
    dashboard = Dashboard(store, cache_dir, silence=silence, prerender=prerender)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        dashboard.start()
        try:
            yield
        finally:
            dashboard.stop()

    from .api import api_event, api_events, api_health, api_version, healthz, metrics
    from .downloads import (
        dead_letter_raw,
        map_png,
        moc_fits,
        raw_notice,
        skymap_fits,
        summary_json,
    )
    from .pages import dead_letter_page, event_page, health_page, index, plan_png

    routes = [
        Route("/", index),
        Route("/fragments/events", index),
        Route("/events/{superevent_id:str}", event_page),
        Route("/health", health_page),
        Route("/dead-letters/{dead_letter_id:int}", dead_letter_page),
        Route("/dead-letters/{dead_letter_id:int}/raw", dead_letter_raw),
        Route("/maps/{notice_id:int}/{kind:str}.png", map_png),
        Route("/plans/{plan_id:int}.png", plan_png),
        Route("/notices/{notice_id:int}/raw", raw_notice),
        Route("/notices/{notice_id:int}/skymap.fits", skymap_fits),
        Route("/notices/{notice_id:int}/combined.fits", skymap_fits),
        Route("/notices/{notice_id:int}/moc90.fits", moc_fits),
        Route("/notices/{notice_id:int}/summary.json", summary_json),
        Route("/api/events", api_events),
        Route("/api/events/{superevent_id:str}", api_event),
        Route("/api/health", api_health),
        Route("/api/version", api_version),
        Route("/metrics", metrics),
        Route("/healthz", healthz),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: not_found})
    app.state.dashboard = dashboard
    app.state.started = time.time()
    guard = Guard(
        app, token=token, allowed_hosts=LOOPBACK_HOSTS if loopback_only and not token else None
    )
    guard.state = app.state  # type: ignore[attr-defined]
    return guard
