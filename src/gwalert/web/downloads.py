"""The dashboard's downloads: raw notices, sky-map FITS and PNG, MOC, summary JSON, dead
letters. Ids outside the database's integer range are 404 (:func:`db_id`)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from ..errors import GwalertError
from ..store.sanitize import INT64_MAX, json_value
from . import health, maps, queries
from .facts import summary_facts

if TYPE_CHECKING:
    from .app import Dashboard

#: The largest row id the databases hold (a 64-bit signed integer).


def db_id(request: Request, name: str) -> int:
    """The path's id ``name`` when a row could have it, else 404 (never an overflow)."""
    value = request.path_params.get(name)
    if not isinstance(value, int) or not 1 <= value <= INT64_MAX:
        raise HTTPException(404, "no such row")
    return value


def _notice(request: Request, with_raw: bool = True) -> Any:
    d: Dashboard = request.app.state.dashboard
    nid = db_id(request, "notice_id")
    with d.connect() as conn:
        row = queries.notice_row(conn, nid, with_raw=with_raw)
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
    kind = "combined" if request.url.path.endswith("combined.fits") else "skymap"
    return _fits(request, kind, lambda row: maps.skymap_bytes(row, kind), "no such sky map")


def moc_fits(request: Request) -> Response:
    return _fits(request, "moc90", lambda row: maps.moc_fits(row, 0.9), "no sky map")


def _fits(
    request: Request, suffix: str, make: Callable[[Any], bytes | None], none: str
) -> Response:
    """A FITS download made from the path's notice: 404 when it has none, 500 (one line) when
    it cannot be made."""
    row = _notice(request)
    try:
        data = make(row)
    except GwalertError as exc:
        return PlainTextResponse(f"{exc}\n", status_code=500)
    if not data:
        raise HTTPException(404, f"this notice has {none}")
    name = _filename(f"{row['superevent_id']}-{row['alert_type']}-{row['id']}-{suffix}") + ".fits"
    return _attachment(data, name, "application/fits")


def summary_json(request: Request) -> Response:
    row = _notice(request, with_raw=False)
    facts = summary_facts(row["summary"])
    facts.update(notice_id=row["id"], received_at=row["received_at"], source=row["source"])
    name = _filename(f"{row['superevent_id']}-{row['alert_type']}-{row['id']}-summary") + ".json"
    return _attachment(json.dumps(json_value(facts), indent=2).encode(), name, "application/json")


def dead_letter_raw(request: Request) -> Response:
    d: Dashboard = request.app.state.dashboard
    dlid = db_id(request, "dead_letter_id")
    with d.connect() as conn:
        row = health.dead_letter(conn, dlid)
    if row is None:
        raise HTTPException(404, "no such dead letter")
    return _attachment(
        bytes(row["raw"]), f"dead-letter-{row['id']}.bin", "application/octet-stream"
    )


def _filename(text: Any) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text))[:80] or "notice"
