"""The dashboard's HTML pages: the event list (and its fragment), an event, the health page,
a dead letter."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from . import health, queries
from .downloads import db_id

if TYPE_CHECKING:
    from .app import Dashboard


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
    """The picture of a stored observation plan (``gwalert plan SUPEREVENT``)."""
    from ..plan.store import picture_on

    d: Dashboard = request.app.state.dashboard
    plan_id = db_id(request, "plan_id")
    with d.connect() as conn:
        data = picture_on(conn, plan_id)
    if data is None:
        raise HTTPException(404, "no picture for this plan")
    return Response(data, media_type="image/png")


def health_page(request: Request) -> Response:
    d: Dashboard = request.app.state.dashboard
    return d.render("health.html", request, **d.health(), silence=d.silence)


def dead_letter_page(request: Request) -> Response:
    d: Dashboard = request.app.state.dashboard
    dlid = db_id(request, "dead_letter_id")
    with d.connect() as conn:
        row = health.dead_letter(conn, dlid)
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
