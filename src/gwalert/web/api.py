"""The dashboard's JSON API, ``/metrics`` (prometheus_client, the listener's names) and
``/healthz``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from ..store.sanitize import json_value
from . import health, queries

if TYPE_CHECKING:
    from .app import Dashboard


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


def api_health(request: Request) -> Response:
    d: Dashboard = request.app.state.dashboard
    return _json(d.health())


def api_version(request: Request) -> Response:
    d: Dashboard = request.app.state.dashboard
    opt = d.opt_now()
    with d.connect() as conn:
        return _json({"version": health.version(conn, opt)})


def metrics(request: Request) -> Response:
    """The store's gauges in Prometheus text format, named as ``listen --metrics-port`` names
    them (:func:`gwalert.metrics.store_families`)."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    from ..metrics import Snapshot, store_families

    d: Dashboard = request.app.state.dashboard
    opt = d.opt_now()
    with d.connect() as conn:  # only what the gauges read (not the dead letters' list)
        counts, sources = health.counts(conn, opt), health.sources(conn, opt, d.silence)
    registry = CollectorRegistry()
    registry.register(Snapshot(store_families(counts, sources)))
    return Response(
        generate_latest(registry),
        media_type=CONTENT_TYPE_LATEST,
        headers={"cache-control": "no-store"},
    )


def healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n")
