"""A notice's facts as one typed, frozen :class:`Summary`: computed once per notice by the
pipeline (:func:`safe_summary`), stored with it, and what rules, actions, ``parse --json`` and
the dashboard read. Sky-map bytes never appear here. :meth:`Summary.to_json` is its one
serialisation (what the store keeps), :meth:`Summary.from_json` reads it back.

A summary is also a read-only mapping (``summary["far"]``, ``summary.get("area_90")``), so
code that reads facts by name works on it and on its JSON alike.

:func:`summarize` never raises for a sky map: whatever goes wrong while reading or analysing it
is recorded in ``skymap_error`` and the sky-map facts stay None."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .alerts import Notice
from .budget import within_budget
from .errors import GwalertError
from .util import iso, why

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


@dataclass(frozen=True, eq=True)
class Summary(Mapping[str, Any]):
    """The facts of one notice (see the module's docstring)."""

    superevent_id: str
    alert_type: str
    time_created: str | None = None
    is_mock: bool | None = None
    is_real: bool | None = None
    is_test: bool | None = None
    is_retraction: bool | None = None
    format: str | None = None
    event_time: str | None = None
    group: str | None = None
    pipeline: str | None = None
    search: str | None = None
    far: float | None = None
    significant: bool | None = None
    instruments: list[str] = field(default_factory=list)
    classification: dict[str, float] = field(default_factory=dict)
    properties: dict[str, float] = field(default_factory=dict)
    mchirp_source: dict[str, list[float]] | None = None
    duration: float | None = None
    central_frequency: float | None = None
    ra: float | None = None
    dec: float | None = None
    distmean: float | None = None
    diststd: float | None = None
    area_50: float | None = None
    area_90: float | None = None
    vol_90: float | None = None
    skymap_error: str | None = None
    external_coinc: dict[str, Any] | None = None
    urls: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    # ----------------------------------------------------------- a read-only mapping
    def __getitem__(self, key: str) -> Any:
        if key not in _FIELDS:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(_FIELDS)

    def __len__(self) -> int:
        return len(_FIELDS)

    __hash__ = None  # type: ignore[assignment]  # lists and dicts inside

    # ------------------------------------------------------------ the one serialisation
    def to_json(self) -> dict[str, Any]:
        """Plain JSON (what the store keeps): every field, storable whatever a sender wrote."""
        from .store.sanitize import json_value

        data: dict[str, Any] = json_value({name: getattr(self, name) for name in _FIELDS})
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Summary:
        """A stored summary read back (keys it lacks stay empty; unknown keys are ignored)."""
        data = dict(data or {})
        known = {k: v for k, v in data.items() if k in _FIELDS}
        known.setdefault("superevent_id", "")
        known.setdefault("alert_type", "")
        for name in ("instruments", "warnings"):
            if known.get(name) is None:
                known[name] = []
        for name in ("classification", "properties", "urls"):
            if known.get(name) is None:
                known[name] = {}
        return cls(**known)

    def replace(self, **changes: Any) -> Summary:
        return dataclasses.replace(self, **changes)


_FIELDS = tuple(f.name for f in dataclasses.fields(Summary))


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
        facts["skymap_error"] = f"sky map of {notice.superevent_id}: {why(exc)}"
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
                reason = str(exc) if isinstance(exc, GwalertError) else why(exc)
                facts["skymap_error"] = (
                    f"sky map of {notice.superevent_id}: {what} could not be computed: {reason}"
                )
    return facts


def _unanalysed(reason: str) -> dict[str, Any]:
    """The sky-map facts of a map whose analysis was abandoned (:mod:`gwalert.budget`)."""
    return {**dict.fromkeys(_SKYMAP_KEYS), "skymap_error": reason}


def summarize(notice: Notice) -> Summary:
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
    return Summary(**out)


def safe_summary(notice: Notice) -> Summary:
    """:func:`gwalert.summary.summarize`, never raising: a notice must be stored even when its
    summary cannot be made (the reason goes into ``skymap_error``)."""
    try:
        return summarize(notice)
    except Exception as exc:  # noqa: BLE001 - the raw notice is what must not be lost
        log.warning("%s %s: summary failed: %s", notice.superevent_id, notice.alert_type, exc)
        return Summary(
            superevent_id=notice.superevent_id,
            alert_type=str(notice.alert_type),
            time_created=iso(notice.time_created),
            skymap_error=f"{type(exc).__name__}: {exc}",
        )
