"""The dashboard's Starlette application: pages, downloads, the JSON API and /metrics.

Every endpoint is a plain function run in Starlette's thread pool: each opens a short read-only
connection to the store (SQLite in WAL mode or PostgreSQL), so a running ``gwalert listen`` in
another process is never blocked.
"""

from __future__ import annotations

import json
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
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import GwalertError
from ..store import Store
from ..store.sanitize import json_value
from . import fmt, health, maps, queries
from .facts import _summary
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


def _filename(text: Any) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text))[:80] or "notice"


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

    # ------------------------------------------------------------ background maps
    def start(self) -> None:
        """Start the background thread: warm the list's index, then keep drawing new maps."""
        if self.prerender and self._thread is None:
            self._thread = threading.Thread(
                target=self._prerender_loop, name="gwalert-maps", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

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


# ---------------------------------------------------------------------------- pages
def index(request: Request) -> Response:
    d: Dashboard = request.app.state.dashboard
    filters = queries.Filters.from_query(request.query_params)
    opt = d.opt_now()
    with d.connect() as conn:
        version = health.version(conn, opt)
        events, total = queries.list_events(conn, opt, filters)
        groups = queries.groups(conn, opt)
    template = "_events.html" if request.url.path.startswith("/fragments") else "index.html"
    return d.render(
        template,
        request,
        events=events,
        rows=d.rows(events),
        total=total,
        filters=filters,
        groups=groups,
        version=version,
    )


def event_page(request: Request) -> Response:
    d: Dashboard = request.app.state.dashboard
    sid = request.path_params["superevent_id"]
    opt = d.opt_now()
    with d.connect() as conn:
        version = health.version(conn, opt)
        event = queries.event_detail(conn, opt, sid)
        from ..plan.store import for_event_on

        plans = for_event_on(conn, sid) if event is not None else []
    if event is None:
        return d.render("missing.html", request, status=404, what=f"superevent {sid}")
    return d.render("event.html", request, event=event, version=version, plans=plans)


def plan_png(request: Request) -> Response:
    from ..plan.store import picture_on

    d: Dashboard = request.app.state.dashboard
    with d.connect() as conn:
        data = picture_on(conn, request.path_params["plan_id"])
    if data is None:
        raise HTTPException(404, "no picture for this plan")
    return Response(data, media_type="image/png")


def health_page(request: Request) -> Response:
    d: Dashboard = request.app.state.dashboard
    return d.render("health.html", request, **_health(d), silence=d.silence)


def dead_letter_page(request: Request) -> Response:
    d: Dashboard = request.app.state.dashboard
    with d.connect() as conn:
        row = health.dead_letter(conn, request.path_params["dead_letter_id"])
    if row is None:
        return d.render("missing.html", request, status=404, what="dead letter")
    raw = bytes(row["raw"])
    preview = raw[:4096].decode("utf-8", "replace")
    printable = sum(ch.isprintable() or ch in "\n\t\r" for ch in preview)
    text = preview if preview and printable / len(preview) > 0.9 else None
    hexdump = None if text is not None else _hexdump(raw[:1024])
    return d.render("dead_letter.html", request, row=row, size=len(raw), text=text, hexdump=hexdump)


def _hexdump(data: bytes) -> str:
    lines = []
    for i in range(0, len(data), 16):
        chunk = data[i : i + 16]
        ascii_ = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{i:08x}  {chunk.hex(' '):<47}  {ascii_}")
    return "\n".join(lines)


# ------------------------------------------------------------------------ downloads
def _notice(request: Request, with_raw: bool = True) -> Any:
    d: Dashboard = request.app.state.dashboard
    with d.connect() as conn:
        row = queries.notice_row(conn, request.path_params["notice_id"], with_raw=with_raw)
    if row is None:
        raise HTTPException(404, "no such notice")
    return row


def _attachment(data: bytes, name: str, media_type: str) -> Response:
    return Response(
        data,
        media_type=media_type,
        headers={
            "content-disposition": f'attachment; filename="{name}"',
            "cache-control": "private, max-age=3600",
        },
    )


def map_png(request: Request) -> Response:
    d: Dashboard = request.app.state.dashboard
    kind = request.path_params["kind"]
    if kind not in maps.KINDS:
        raise HTTPException(404, "no such map")
    row = _notice(request)
    try:
        path = d.maps.get(row, kind)
    except GwalertError as exc:
        return PlainTextResponse(str(exc) + "\n", status_code=500)
    if path is None:
        raise HTTPException(404, "this notice has no such sky map")
    return FileResponse(
        path, media_type="image/png", headers={"cache-control": "private, max-age=3600"}
    )


def raw_notice(request: Request) -> Response:
    row = _notice(request)
    ext = "json" if row["format"] == "json" else "avro"
    name = _filename(f"{row['superevent_id']}-{row['alert_type']}-{row['id']}") + f".{ext}"
    return _attachment(bytes(row["raw"]), name, "application/octet-stream")


def skymap_fits(request: Request) -> Response:
    row = _notice(request)
    kind = "combined" if request.url.path.endswith("combined.fits") else "skymap"
    try:
        data = maps.skymap_bytes(row, kind)
    except GwalertError as exc:
        return PlainTextResponse(f"{exc}\n", status_code=500)
    if not data:
        raise HTTPException(404, "this notice has no such sky map")
    name = _filename(f"{row['superevent_id']}-{row['alert_type']}-{row['id']}-{kind}") + ".fits"
    return _attachment(data, name, "application/fits")


def moc_fits(request: Request) -> Response:
    row = _notice(request)
    try:
        data = maps.moc_fits(row, 0.9)
    except GwalertError as exc:
        return PlainTextResponse(f"{exc}\n", status_code=500)
    if not data:
        raise HTTPException(404, "this notice has no sky map")
    name = _filename(f"{row['superevent_id']}-{row['alert_type']}-{row['id']}-moc90") + ".fits"
    return _attachment(data, name, "application/fits")


def summary_json(request: Request) -> Response:
    row = _notice(request, with_raw=False)
    facts = _summary(row["summary"])
    facts.update(notice_id=row["id"], received_at=row["received_at"], source=row["source"])
    name = _filename(f"{row['superevent_id']}-{row['alert_type']}-{row['id']}-summary") + ".json"
    return _attachment(json.dumps(json_value(facts), indent=2).encode(), name, "application/json")


def dead_letter_raw(request: Request) -> Response:
    d: Dashboard = request.app.state.dashboard
    with d.connect() as conn:
        row = health.dead_letter(conn, request.path_params["dead_letter_id"])
    if row is None:
        raise HTTPException(404, "no such dead letter")
    return _attachment(
        bytes(row["raw"]), f"dead-letter-{row['id']}.bin", "application/octet-stream"
    )


# ------------------------------------------------------------------------------ API
def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(json_value(data), status_code=status, headers={"cache-control": "no-store"})


def api_events(request: Request) -> Response:
    d: Dashboard = request.app.state.dashboard
    filters = queries.Filters.from_query(request.query_params)
    opt = d.opt_now()
    with d.connect() as conn:
        events, total = queries.list_events(conn, opt, filters)
    return _json({"total": total, "events": events})


def api_event(request: Request) -> Response:
    d: Dashboard = request.app.state.dashboard
    sid = request.path_params["superevent_id"]
    opt = d.opt_now()
    with d.connect() as conn:
        event = queries.event_detail(conn, opt, sid)
    if event is None:
        return _json({"error": f"no superevent {sid}"}, 404)
    base = "/notices/{}"
    for n in event["notices"]:
        links = {
            "raw": base.format(n["id"]) + "/raw",
            "summary": base.format(n["id"]) + "/summary.json",
        }
        if n["has_skymap"]:
            links.update(
                skymap_fits=base.format(n["id"]) + "/skymap.fits",
                moc90_fits=base.format(n["id"]) + "/moc90.fits",
                skymap_png=f"/maps/{n['id']}/skymap.png",
            )
        if n["has_combined_skymap"]:
            links.update(
                combined_fits=base.format(n["id"]) + "/combined.fits",
                combined_png=f"/maps/{n['id']}/combined.png",
            )
        n["links"] = links
    return _json(event)


def _health(d: Dashboard) -> dict[str, Any]:
    opt = d.opt_now()
    with d.connect() as conn:
        return {
            "sources": health.sources(conn, opt, d.silence),
            "counts": health.counts(conn, opt),
            "dead_letters": health.dead_letters(conn),
            "failed_actions": health.failed_actions(conn, opt),
        }


def api_health(request: Request) -> Response:
    d: Dashboard = request.app.state.dashboard
    return _json(_health(d))


def api_version(request: Request) -> Response:
    d: Dashboard = request.app.state.dashboard
    opt = d.opt_now()
    with d.connect() as conn:
        return _json({"version": health.version(conn, opt)})


def metrics(request: Request) -> Response:
    d: Dashboard = request.app.state.dashboard
    health = _health(d)
    c = health["counts"]
    lines = [
        "# HELP gwalert_notices_stored Notices in the store.",
        "# TYPE gwalert_notices_stored gauge",
        f"gwalert_notices_stored {c['notices']}",
        "# HELP gwalert_superevents_stored Superevents in the store.",
        "# TYPE gwalert_superevents_stored gauge",
        f"gwalert_superevents_stored {c['superevents']}",
        "# HELP gwalert_dead_letters_stored Messages that could not be decoded.",
        "# TYPE gwalert_dead_letters_stored gauge",
        f"gwalert_dead_letters_stored {c['dead_letters']}",
    ]
    if c["duplicates"] is not None:
        lines += [
            "# HELP gwalert_duplicates_received Arrivals of a notice already stored.",
            "# TYPE gwalert_duplicates_received gauge",
            f"gwalert_duplicates_received {c['duplicates']}",
        ]
    lines += [
        "# HELP gwalert_actions Actions in the ledger by state.",
        "# TYPE gwalert_actions gauge",
    ]
    from ..store.ledger import STATES

    for state in STATES:
        lines.append(f'gwalert_actions{{state="{state}"}} {c["actions"].get(state, 0)}')
    lines += [
        "# HELP gwalert_seconds_since_last_message Seconds since a feed's last message.",
        "# TYPE gwalert_seconds_since_last_message gauge",
    ]
    for feed in health["sources"]:
        if feed["seconds_since_last_message"] is not None:
            lines.append(
                f'gwalert_seconds_since_last_message{{feed="{_label(feed["feed"])}"}} '
                f"{feed['seconds_since_last_message']:.3f}"
            )
    beats = [f for f in health["sources"] if f["seconds_since_last_heartbeat"] is not None]
    if beats:
        lines += [
            "# HELP gwalert_seconds_since_last_heartbeat Seconds since a feed's last heartbeat.",
            "# TYPE gwalert_seconds_since_last_heartbeat gauge",
        ]
        for feed in beats:
            lines.append(
                f'gwalert_seconds_since_last_heartbeat{{feed="{_label(feed["feed"])}"}}'
                f" {feed['seconds_since_last_heartbeat']:.3f}"
            )
    return PlainTextResponse(
        "\n".join(lines) + "\n",
        media_type="text/plain; version=0.0.4; charset=utf-8",
        headers={"cache-control": "no-store"},
    )


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n")


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
