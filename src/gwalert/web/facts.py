"""A stored row as the dashboard's plain, JSON-ready facts: a notice for the list and for the
event page, a superevent's list row, and what changed between two notices."""

from __future__ import annotations

import json
import math
from typing import Any

from ..store import ledger
from . import fmt


def list_facts(r: Any) -> dict[str, Any]:
    summary = summary_facts(r["summary"])
    cls = summary.get("classification")
    classification = (
        {str(k): float(v) for k, v in cls.items() if _num(v) is not None}
        if isinstance(cls, dict)
        else {}
    )
    return {
        "id": r["id"],
        "event_time": r["event_time"],
        "group": r["group"],
        "pipeline": r["pipeline"],
        "search": r["search"],
        "far": _num(r["far"]),
        "significant": None if r["significant"] is None else bool(r["significant"]),
        "distmean": _num(r["distmean"]),
        "diststd": _num(r["diststd"]),
        "area_50": _num(r["area_50"]),
        "area_90": _num(r["area_90"]),
        "classification": classification,
        "external_coinc": isinstance(summary.get("external_coinc"), dict),
        "source": r["source"],
        "received_at": r["received_at"],
    }


def summary_facts(value: Any) -> dict[str, Any]:
    """A stored summary's facts, read by :meth:`gwalert.summary.Summary.from_json` (the one
    deserialiser; a summary kept as text is parsed first), never recomputed; {} if none."""
    from ..summary import Summary

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return dict(Summary.from_json(value)) if isinstance(value, dict) else {}


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def event_facts(r: Any, f: dict[str, Any], actions: dict[str, int]) -> dict[str, Any]:
    sid = r["superevent_id"]
    classification = f.get("classification") or {}
    lead = fmt.leading(classification)
    far = f.get("far")
    return {
        "superevent_id": sid,
        "kind": "real"
        if sid.startswith("S")
        else "mock"
        if sid.startswith("M")
        else "test"
        if sid.startswith("T")
        else "other",
        "is_mock": sid.startswith("M"),
        "is_real": sid.startswith("S"),
        "is_test": sid.startswith("T"),
        "latest_alert_type": r["latest_alert_type"],
        "latest_notice_id": r["latest_notice_id"],
        "time_created": r["latest_time_created"],
        "retracted": bool(r["retracted"]),
        "n_notices": int(r["n_notices"]),
        "first_received_at": r["first_received_at"],
        "last_received_at": r["last_received_at"],
        "event_time": f.get("event_time"),
        "group": f.get("group"),
        "pipeline": f.get("pipeline"),
        "search": f.get("search"),
        "far": far,
        "far_human": fmt.far_human(far),
        "significant": f.get("significant"),
        "distmean": f.get("distmean"),
        "diststd": f.get("diststd"),
        "area_50": f.get("area_50"),
        "area_90": f.get("area_90"),
        "classification": dict(classification),
        "leading_class": None if lead is None else {"name": lead[0], "probability": lead[1]},
        "external_coinc": bool(f.get("external_coinc")),
        "actions": {s: actions.get(s, 0) for s in ledger.STATES if actions.get(s)},
        "actions_fired": sum(actions.values()),
        "actions_failed": actions.get(ledger.FAILED, 0),
    }


def notice_facts(r: Any, actions: list[dict[str, Any]], feeds: list[str] | None) -> dict[str, Any]:
    summary = summary_facts(r["summary"])

    def mapping(name: str) -> dict[str, float]:
        value = summary.get(name)
        if not isinstance(value, dict):
            return {}
        return {str(k): float(v) for k, v in value.items() if _num(v) is not None}

    ext = summary.get("external_coinc")
    ext = {str(k): v for k, v in ext.items()} if isinstance(ext, dict) else None
    warnings = r.get("warnings") if hasattr(r, "get") else None
    if isinstance(warnings, str):
        try:
            warnings = json.loads(warnings)
        except ValueError:
            warnings = [warnings]
    if warnings is not None and not isinstance(warnings, list):
        warnings = [warnings]
    urls = summary.get("urls")
    far = _num(r["far"])
    return {
        "id": r["id"],
        "superevent_id": r["superevent_id"],
        "alert_type": r["alert_type"],
        "is_retraction": r["alert_type"] == "RETRACTION",
        "time_created": r["time_created"],
        "received_at": r["received_at"],
        "format": r["format"],
        "source": r["source"],
        "partition": r["partition"],
        "offset": r["offset"],
        "feeds": feeds or [str(r["source"])],
        "event_time": r["event_time"],
        "group": r["group"],
        "pipeline": r["pipeline"],
        "search": r["search"],
        "far": far,
        "far_human": fmt.far_human(far),
        "significant": None if r["significant"] is None else bool(r["significant"]),
        "ra": _num(r["ra"]),
        "dec": _num(r["dec"]),
        "distmean": _num(r["distmean"]),
        "diststd": _num(r["diststd"]),
        "area_50": _num(r["area_50"]),
        "area_90": _num(r["area_90"]),
        "vol_90": _num(summary.get("vol_90")),
        "classification": mapping("classification"),
        "properties": mapping("properties"),
        "instruments": [
            str(i) for i in summary.get("instruments") or [] if isinstance(i, str | int)
        ],
        "skymap_error": summary.get("skymap_error"),
        "has_skymap": _num(r["area_90"]) is not None,
        "has_combined_skymap": bool(ext and _num(ext.get("combined_skymap_bytes"))),
        "external_coinc": ext,
        "urls": {str(k): str(v) for k, v in urls.items()} if isinstance(urls, dict) else {},
        "warnings": [str(w) for w in warnings] if warnings else [],
        "actions": actions,
    }


def notice_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What an astronomer notices between two successive notices."""
    if after["is_retraction"]:
        return ["retracted"]
    out = []
    a, b = before["area_90"], after["area_90"]
    if a is not None and b is not None and abs(a - b) > 0.01 * max(a, b):
        out.append(f"90% area {fmt.area(a)} → {fmt.area(b)}")
    a, b = before["distmean"], after["distmean"]
    if a is not None and b is not None and abs(a - b) > 0.01 * max(a, b):
        out.append(
            f"distance {fmt.distance(a, before['diststd'])} → {fmt.distance(b, after['diststd'])}"
        )
    la, lb = fmt.leading(before["classification"]), fmt.leading(after["classification"])
    if la and lb and (la[0] != lb[0] or abs(la[1] - lb[1]) >= 0.05):
        out.append(f"{la[0]} {fmt.percent(la[1])} → {lb[0]} {fmt.percent(lb[1])}")
    a, b = before["far"], after["far"]
    if a and b and abs(math.log10(a / b)) > 0.3:
        out.append(f"FAR {fmt.far_human(a)} → {fmt.far_human(b)}")
    if after["external_coinc"] and not before["external_coinc"]:
        out.append("external coincidence")
    return out
