"""The plain-text report of the LVK Public Alerts User Guide's example script."""

from __future__ import annotations

from pprint import pformat

from .alerts import Notice


class _Placeholder:
    """Stands in for sky-map bytes in printed records (repr without quotes)."""

    def __init__(self, what: str, size: int) -> None:
        self.text = f"<{what}: {size} bytes>"

    def __repr__(self) -> str:
        return self.text


def printable_record(notice: Notice) -> dict:
    """The record as the guide prints it: ``event.skymap`` removed, other map bytes elided."""
    record = notice.record
    event = record.get("event")
    if isinstance(event, dict):
        event.pop("skymap", None)
    ext = record.get("external_coinc")
    if isinstance(ext, dict) and isinstance(ext.get("combined_skymap"), bytes | bytearray):
        ext["combined_skymap"] = _Placeholder("combined sky map", len(ext["combined_skymap"]))
    return record


def guide_report(notice: Notice) -> str:
    """What the user guide's ``parse_notice`` prints for this notice (without its filters)."""
    if notice.is_retraction:
        return f"{notice.superevent_id} was retracted\n"
    lines = []
    skymap = notice.skymap
    if skymap is not None:
        ra, dec = skymap.most_probable()
        lines.append(f"Most probable sky location (RA, Dec) = ({ra}, {dec})")
        if skymap.distmean is not None and skymap.diststd is not None:
            lines.append(f"Distance = {skymap.distmean} +/- {skymap.diststd}")
        else:
            lines.append("Distance = unknown (the sky map has no distance information)")
    lines.append("Record:")
    lines.append(pformat(printable_record(notice)))
    return "\n".join(lines) + "\n"
