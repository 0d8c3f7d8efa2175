"""A notice's facts as one flat, JSON-ready dict: what ``parse --json``, the store and actions
share. Sky-map bytes never appear here.

:func:`summarize` never raises: whatever goes wrong while reading or analysing the sky map is
recorded in ``skymap_error`` and the sky-map facts stay None."""

from __future__ import annotations

import logging
from typing import Any

from .alerts import Notice
from .budget import within_budget
from .errors import GwalertError
from .util import iso

log = logging.getLogger("gwalert.summary")


def _iso(dt: Any) -> str | None:
    """ISO 8601 as LVK writes it: '2018-11-01T22:22:46.654Z', '2018-11-01T22:34:49Z'."""
    if dt is None:
        return None
    spec = (
        "seconds"
        if not dt.microsecond
        else "milliseconds"
        if dt.microsecond % 1000 == 0
        else "microseconds"
    )
    return dt.isoformat(timespec=spec).replace("+00:00", "Z")


_SKYMAP_KEYS = ("ra", "dec", "distmean", "diststd", "area_50", "area_90", "vol_90")


def skymap_facts(notice: Notice) -> dict[str, Any]:
    """Most probable position, distance, 50%/90% credible areas (deg²) and, for 3-D maps, the
    90% volume (Mpc³) of the notice's sky map. Never raises: what cannot be read or analysed
    stays None and the first reason is ``skymap_error`` (a map that defeats the analysis must
    not keep its notice out of the store, nor hide the facts that could be computed)."""
    facts: dict[str, Any] = dict.fromkeys(_SKYMAP_KEYS)
    facts["skymap_error"] = None
    try:
        skymap = notice.skymap
    except GwalertError as exc:
        facts["skymap_error"] = str(exc)
        return facts
    except Exception as exc:  # noqa: BLE001
        facts["skymap_error"] = f"sky map of {notice.superevent_id}: {_why(exc)}"
        return facts
    if skymap is None:
        return facts

    def position() -> None:
        facts["ra"], facts["dec"] = (float(x) for x in skymap.most_probable())

    def distance() -> None:
        if skymap.has_distance:
            facts["distmean"], facts["diststd"] = skymap.distmean, skymap.diststd

    def areas() -> None:
        facts["area_50"], facts["area_90"] = (float(a) for a in skymap.credible_area([0.5, 0.9]))

    def volume() -> None:
        if skymap.has_distance:
            facts["vol_90"] = float(skymap.credible_volume(0.9))

    for step, what in (
        (position, "most probable position"),
        (distance, "distance"),
        (areas, "credible areas"),
        (volume, "credible volume"),
    ):
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - an analysis failure on one map is its own
            if facts["skymap_error"] is None:
                reason = str(exc) if isinstance(exc, GwalertError) else _why(exc)
                facts["skymap_error"] = (
                    f"sky map of {notice.superevent_id}: {what} could not be computed: {reason}"
                )
    return facts


def _unanalysed(reason: str) -> dict[str, Any]:
    """The sky-map facts of a map whose analysis was abandoned (:mod:`gwalert.budget`)."""
    return {**dict.fromkeys(_SKYMAP_KEYS), "skymap_error": reason}


def _why(exc: BaseException) -> str:
    try:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    except Exception:  # noqa: BLE001
        text = ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def summarize(notice: Notice) -> dict[str, Any]:
    """Identity, event facts, most probable position and distance of one notice."""
    ev = notice.event
    out: dict[str, Any] = {
        "superevent_id": notice.superevent_id,
        "alert_type": str(notice.alert_type),
        "time_created": _iso(notice.time_created),
        "is_mock": notice.is_mock,
        "is_real": notice.is_real,
        "is_test": notice.is_test,
        "is_retraction": notice.is_retraction,
        "format": str(notice.format),
        "event_time": _iso(ev.time) if ev else None,
        "group": ev.group if ev else None,
        "pipeline": ev.pipeline if ev else None,
        "search": ev.search if ev else None,
        "far": ev.far if ev else None,
        "significant": ev.significant if ev else None,
        "instruments": list(ev.instruments) if ev else [],
        "classification": dict(ev.classification) if ev else {},
        "properties": dict(ev.properties) if ev else {},
        "mchirp_source": (
            {
                "bin_edges": list(ev.mchirp_source.bin_edges),
                "probabilities": list(ev.mchirp_source.probabilities),
            }
            if ev and ev.mchirp_source
            else None
        ),
        "duration": ev.duration if ev else None,
        "central_frequency": ev.central_frequency if ev else None,
        "ra": None,
        "dec": None,
        "distmean": None,
        "diststd": None,
        "area_50": None,
        "area_90": None,
        "vol_90": None,
        "skymap_error": None,
        "external_coinc": None,
        "urls": dict(notice.urls),
        "warnings": list(notice.warnings),
    }
    out.update(within_budget(skymap_facts, notice, _unanalysed))
    ext = notice.external_coinc
    if ext is not None:
        out["external_coinc"] = {
            "gcn_notice_id": ext.gcn_notice_id,
            "ivorn": ext.ivorn,
            "observatory": ext.observatory,
            "search": ext.search,
            "time_difference": ext.time_difference,
            "time_coincidence_far": ext.time_coincidence_far,
            "time_sky_position_coincidence_far": ext.time_sky_position_coincidence_far,
            "combined_skymap_bytes": len(ext.combined_skymap_bytes or b""),
        }
    return out


def safe_summary(notice: Notice) -> dict[str, Any]:
    """:func:`gwalert.summary.summarize`, never raising: a notice must be stored even when its
    summary cannot be made (the reason goes into ``skymap_error``)."""
    try:
        return summarize(notice)
    except Exception as exc:  # noqa: BLE001 - the raw notice is what must not be lost
        log.warning("%s %s: summary failed: %s", notice.superevent_id, notice.alert_type, exc)
        return {
            "superevent_id": notice.superevent_id,
            "alert_type": str(notice.alert_type),
            "time_created": iso(notice.time_created),
            "skymap_error": f"{type(exc).__name__}: {exc}",
        }
