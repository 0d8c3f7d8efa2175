"""What a plan starts from, for the ``plan`` verb and the ``plan`` action alike: the field of
view (an explicit shape, else the telescope's) and the night's constraints (explicit values,
else the telescope's, else the defaults of :class:`~gwalert.plan.schedule.Constraints`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import GwalertError
from .footprints import Footprint

if TYPE_CHECKING:
    from .schedule import Constraints
    from .telescopes import Telescope


def footprint_for(
    tel: Telescope | None,
    *,
    fov: str | None = None,
    fov_radius: float | None = None,
    footprint: str | None = None,
) -> Footprint:
    """The field of view: ``fov`` ("SIDE" or "WxH"), else a circle of ``fov_radius``, else the
    polygons of the ``footprint`` file, else the telescope's own."""
    from . import footprints

    if fov is not None:
        return footprints.parse_fov(fov)
    if fov_radius is not None:
        return footprints.circle(fov_radius)
    if footprint is not None:
        return footprints.read_footprint(footprint)
    if tel is not None:
        return tel.footprint()
    raise GwalertError("give a field of view: --telescope, --fov, --fov-radius or --footprint")


def constraints_for(
    tel: Telescope | None,
    *,
    max_airmass: float = 2.0,
    twilight: float | None = None,
    moon_separation: float | None = None,
    exposure: float | None = None,
    readout: float | None = None,
    slew_rate: float | None = None,
    filters: tuple[str, ...] | None = None,
    filter_change: float | None = None,
    visits: int = 1,
    gap: float | None = None,
) -> Constraints:
    """The night's constraints: each value given, else the telescope's (its first filter; a
    slew rate of 0 means none known), else the defaults."""
    from .schedule import Constraints

    d = Constraints()
    return Constraints(
        max_airmass=max_airmass,
        twilight=d.twilight if twilight is None else twilight,
        moon_separation=d.moon_separation if moon_separation is None else moon_separation,
        exposure=exposure or (tel.exposure if tel else d.exposure),
        readout=readout if readout is not None else (tel.readout if tel else d.readout),
        slew_rate=slew_rate or (tel.slew_rate if tel and tel.slew_rate else d.slew_rate),
        filters=filters if filters is not None else ((tel.filters[0],) if tel else d.filters),
        filter_change=filter_change
        if filter_change is not None
        else (tel.filter_change if tel else d.filter_change),
        visits=visits,
        gap=d.gap if gap is None else gap,
    )
