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


def guide_report(notice: Notice, problems: list[str] | None = None) -> str:
    """What the user guide's ``parse_notice`` prints for this notice (without its filters).
    A sky map that cannot be read or analysed: its lines say why (as ``listen`` stores it in
    ``skymap_error``), and the reason is appended to ``problems``."""
    if notice.is_retraction:
        return f"{notice.superevent_id} was retracted\n"
    lines = []
    try:
        lines += skymap_lines(notice)
    except Exception:  # noqa: BLE001 - a bad map must not hide the rest of the notice
        from .summary import skymap_facts

        reason = skymap_facts(notice)["skymap_error"] or "could not be analysed"
        lines = [f"Sky map: {reason}"]
        if problems is not None:
            problems.append(reason)
    lines.append("Record:")
    lines.append(pformat(printable_record(notice)))
    return "\n".join(lines) + "\n"


def skymap_lines(notice: Notice) -> list[str]:
    """The guide's sky-map lines (position, distance); raises if the map cannot be read.

    The usual LVK map is read without numpy (``skymap.peek``, the same numbers); any other
    through :attr:`Notice.skymap`."""
    event = notice.event
    if event is None or not event.skymap_bytes:
        return []
    from .skymap.peek import guide_numbers

    numbers = guide_numbers(event.skymap_bytes)
    if numbers is None:
        skymap = notice.skymap
        assert skymap is not None  # the notice carries map bytes
        numbers = (*skymap.most_probable(), skymap.distmean, skymap.diststd)
    ra, dec, distmean, diststd = numbers
    lines = [f"Most probable sky location (RA, Dec) = ({ra}, {dec})"]
    if distmean is not None and diststd is not None:
        lines.append(f"Distance = {distmean} +/- {diststd}")
    else:
        lines.append("Distance = unknown (the sky map has no distance information)")
    return lines
