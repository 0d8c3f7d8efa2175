"""gwalert skymap's inputs: the credible levels, and a sky map from a FILE (FITS or notice, or
-) or from a superevent id's notice in the store."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any


def load_any(args: argparse.Namespace, name: str) -> tuple[Any, dict[str, Any]]:
    """A file (or -), else a stored superevent's notice."""
    import os

    from ..errors import GwalertError

    if name == "-" or os.path.exists(name) or not _looks_like_id(name):
        if args.alert_type or args.notice is not None:
            if name != "-" and not os.path.exists(name):
                raise GwalertError("no such file or directory")
            raise GwalertError(
                "--alert-type/--notice select a stored notice: give a superevent id, not a file"
            )
        return _load(name, args.combined)
    return _load_stored(args, name)


def _looks_like_id(text: str) -> bool:
    import re

    return re.fullmatch(r"[A-Z]{1,3}\d{6}[a-z]{1,3}", text) is not None


def _load_stored(args: argparse.Namespace, event: str) -> tuple[Any, dict[str, Any]]:
    from ..errors import GwalertError
    from ._store import open_store

    store = open_store(args, must_exist=True)
    try:
        rows = list(store.iter_notices(event, with_raw=False))
        if not rows:
            raise GwalertError(f"not a file, and no notice of {event} in the store {store.url}")
        rows.sort(key=lambda r: (r.time_created or "", r.id), reverse=True)
        if args.notice is not None:
            rows = [r for r in rows if r.id == args.notice]
            if not rows:
                raise GwalertError(f"{event} has no stored notice #{args.notice}")
        if args.alert_type:
            want = args.alert_type.strip().lower()
            types = sorted({str(r.alert_type).lower() for r in rows})
            rows = [r for r in rows if str(r.alert_type).lower() == want]
            if not rows:
                raise GwalertError(
                    f"{event} has no {args.alert_type} notice (stored: {', '.join(types)})"
                )
        for row in rows:
            summary = row.summary or {}
            if args.combined and not summary.get("external_coinc"):
                continue
            full = store.get_notice(row.id)
            if full is None:  # deleted since the listing
                continue
            try:
                skymap, context = _load_bytes(bytes(full.raw), args.combined, row.content_hash)
            except GwalertError:
                if args.notice is not None or args.alert_type:
                    raise
                continue  # e.g. a retraction: try the previous notice
            context["notice_id"] = row.id
            return skymap, context
        what = "combined sky map" if args.combined else "sky map"
        raise GwalertError(f"no stored notice of {event} carries a {what}")
    finally:
        store.close()


# ------------------------------------------------------------------------------ input
def credible_levels(percent: list[float]) -> list[float]:
    from ..errors import GwalertError

    for p in percent:
        if 0 < p <= 1:
            raise GwalertError(
                f"--contours {p:g}: levels are percentages; did you mean {100 * p:g}?"
            )
    out = sorted({p / 100.0 for p in percent})
    if not out or any(not (0 < p < 1) or math.isnan(p) for p in out):
        raise GwalertError("--contours takes percentages strictly between 0 and 100")
    return out


def _load(path: str, combined: bool) -> tuple[Any, dict[str, Any]]:
    from ..errors import GwalertError
    from ..limits import MAX_NOTICE_BYTES
    from ..skymap import SkyMap

    try:
        fh = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
        try:
            head = fh.peek(6)[:6] if hasattr(fh, "peek") else b""
            if head.startswith((b"SIMPLE", b"\x1f\x8b")):
                # a FITS file (or gzip): read as a stream, never held whole
                if combined:
                    raise GwalertError("--combined needs a notice, not a FITS file")
                return SkyMap.read(fh), {}
            data = fh.read(MAX_NOTICE_BYTES + 1)
        finally:
            if fh is not sys.stdin.buffer:
                fh.close()
    except OSError as exc:
        raise GwalertError(exc.strerror or str(exc)) from None
    if len(data) > MAX_NOTICE_BYTES:
        raise GwalertError(f"larger than {MAX_NOTICE_BYTES} bytes")
    return _load_bytes(data, combined)


def _load_bytes(
    data: bytes, combined: bool, content_hash: str | None = None
) -> tuple[Any, dict[str, Any]]:
    from ..errors import GwalertError, SkyMapError
    from ..skymap import SkyMap

    if data.startswith((b"SIMPLE", b"\x1f\x8b")):
        if combined:
            raise GwalertError("--combined needs a notice, not a FITS file")
        return SkyMap.read(data), {}
    from ..alerts import decode
    from ..errors import NoticeError
    from ._input import what_it_is

    try:
        notices = decode(data)
    except NoticeError:
        kind = what_it_is(data[:512])
        if kind is None:
            raise
        raise GwalertError(
            f"not a FITS sky map or an LVK notice: {kind.split(' (a sky map')[0]}"
        ) from None
    notice = next((n for n in notices if n.content_hash == content_hash), notices[0])
    context = {"superevent_id": notice.superevent_id, "alert_type": str(notice.alert_type)}
    if combined:
        skymap = notice.combined_skymap
        if skymap is None:
            raise SkyMapError("the notice has no external_coinc combined sky map")
        observatory = notice.external_coinc.observatory if notice.external_coinc else None
        context["combined_with"] = observatory or "external"
    else:
        skymap = notice.skymap
        if skymap is None:
            why = " (a retraction)" if notice.is_retraction else ""
            raise SkyMapError(f"{notice.superevent_id} {notice.alert_type} carries no sky map{why}")
    event_time = notice.event.time if notice.event else None
    if not skymap.date_obs and event_time is not None:
        # a map without DATE-OBS: the notice's event time dates it (--sun-moon, --night-of event)
        skymap.meta["DATE-OBS"] = event_time.strftime("%Y-%m-%dT%H:%M:%S.%f")
        context["date_from"] = "notice event.time"
    return skymap, context
