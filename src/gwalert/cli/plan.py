"""gwalert plan: which fields of a telescope to observe, in which order (tiles, schedule)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._plan_outputs import (
    plot_plan,
    print_changes,
    print_galaxies,
    print_schedule,
    print_tiles,
    remember,
    write_csv,
)
from ._store import add_store_arguments

HELP = "plan observations of a sky map: fields to tile, a night's schedule, galaxies"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "MAP is a sky map (FITS), a notice, or a superevent id in the store (its latest map;\n"
        "the plan is then stored and compared with the previous one for that telescope).\n"
        "The field of view comes from --telescope, --fov, --fov-radius or --footprint (a text\n"
        "file of 'xi eta' vertices in degrees in the pointing's tangent plane, chips separated\n"
        "by blank lines). Probabilities are integrals of the multi-order map over each field;\n"
        "'cumulative' counts the union of the fields so far (overlaps once).\n"
        "With a site (--site, or a telescope's own) the fields are scheduled over the night."
    )
    parser.add_argument("path", metavar="MAP", help="FITS sky map, notice file, or superevent id")
    fov = parser.add_argument_group("field of view (one of)")
    fov.add_argument("--telescope", metavar="NAME", help="a built-in telescope (ZTF, DECam, ...)")
    fov.add_argument("--fov", metavar="SIDE|WxH", help="a square (or W x H rectangle), degrees")
    fov.add_argument("--fov-radius", type=float, metavar="R", help="a circle of radius R degrees")
    fov.add_argument("--footprint", metavar="FILE", help="polygon(s) around the pointing")
    sel = parser.add_argument_group("selection")
    sel.add_argument("--fields", metavar="CSV", help="a survey's fixed field grid (id, ra, dec)")
    sel.add_argument("--tiles", type=int, metavar="N", help="number of fields (default: 50)")
    sel.add_argument(
        "--hours",
        type=float,
        metavar="H",
        help="observing time to fill (scheduled with a site; else fields of exposure, readout "
        "and slews)",
    )
    sel.add_argument(
        "--coverage",
        type=float,
        metavar="P",
        help="tile only fields touching the P credible region (e.g. 0.9; default: a region "
        "a few times what the fields can cover, at most 0.99)",
    )
    sel.add_argument(
        "--method",
        choices=("greedy", "milp"),
        default="greedy",
        help="greedy (fast) or milp (exact maximum coverage, HiGHS; gap reported)",
    )
    sel.add_argument(
        "--time-limit", type=float, default=10.0, metavar="S", help="MILP time limit (s)"
    )
    sel.add_argument("--observed", metavar="CSV", help="fields already observed (id, ra, dec)")
    gal = parser.add_argument_group("galaxies")
    gal.add_argument(
        "--catalog", metavar="CSV", help="galaxy catalog (ra, dec, distmpc, magb/magk)"
    )
    gal.add_argument("--top", type=int, default=20, metavar="N", help="galaxies to list")
    gal.add_argument("--galaxies-out", metavar="CSV", help="write every galaxy, ranked")
    gal.add_argument(
        "--galaxy-fields",
        action="store_true",
        help="centre fields on the best galaxies (the default for fields under 1 deg²)",
    )
    night = parser.add_argument_group("schedule (with --site or a telescope's site)")
    night.add_argument("--site", metavar="SITE", help="observatory name or LAT,LON[,HEIGHT]")
    night.add_argument(
        "--tiles-only", action="store_true", help="no schedule, even for a telescope with a site"
    )
    night.add_argument("--start", metavar="TIME", help="start (UTC ISO; default: now)")
    night.add_argument(
        "--night-of", metavar="TIME", help="the night after TIME (ISO, or 'event': DATE-OBS)"
    )
    night.add_argument(
        "--twilight",
        choices=("astronomical", "nautical", "civil"),
        default="astronomical",
        help="Sun altitude ending the night: -18° (default), -12° or -6°",
    )
    night.add_argument("--max-airmass", type=float, default=2.0, metavar="X")
    night.add_argument(
        "--moon-separation", type=float, default=20.0, metavar="DEG", help="(default: 20)"
    )
    night.add_argument("--exposure", type=float, metavar="S", help="exposure time (s)")
    night.add_argument("--readout", type=float, metavar="S", help="readout/overhead (s)")
    night.add_argument("--slew-rate", type=float, metavar="DEG/S", help="mean slew rate")
    night.add_argument("--filters", metavar="F,F", help="filters, cycled between visits")
    night.add_argument("--filter-change", type=float, metavar="S", help="filter change (s)")
    night.add_argument("--visits", type=int, default=1, metavar="N", help="visits per field")
    night.add_argument("--gap", default="30m", metavar="DT", help="between visits (30m, 1h)")
    out = parser.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print one JSON object")
    out.add_argument("--csv", metavar="OUT", help="write the plan as CSV (- for stdout)")
    out.add_argument("--plot", metavar="OUT", help="picture of the fields (and the night)")
    out.add_argument(
        "--no-store",
        action="store_true",
        help="with a superevent id: compare with the last stored plan but do not store this one",
    )
    parser.add_argument(
        "--combined", action="store_true", help="plan on the notice's combined (GW+GRB) map"
    )
    add_store_arguments(parser)
    parser.set_defaults(alert_type=None, notice=None)


def _footprint(args: argparse.Namespace) -> tuple[Any, Any]:
    from ..errors import GwalertError
    from ..plan import telescopes
    from ..plan.setup import footprint_for

    given = [
        o
        for o, v in (
            ("--telescope", args.telescope),
            ("--fov", args.fov),
            ("--fov-radius", args.fov_radius),
            ("--footprint", args.footprint),
        )
        if v is not None
    ]
    tel = telescopes.telescope(args.telescope) if args.telescope else None
    if len(given) > 1 and not (tel and len(given) == 2):
        raise GwalertError(f"give one field of view, not {' and '.join(given)}")
    fp = footprint_for(tel, fov=args.fov, fov_radius=args.fov_radius, footprint=args.footprint)
    return fp, tel


def run(args: argparse.Namespace) -> int:
    from ..errors import GwalertError
    from ..plan import tiles, tiling
    from ._skymap_inputs import load_any

    if args.tiles is not None and args.tiles < 1:
        raise GwalertError("--tiles must be at least 1")
    if args.coverage is not None and not 0 < args.coverage <= 1:
        raise GwalertError(f"--coverage {args.coverage:g}: a probability in (0, 1], e.g. 0.9")
    fp, tel = _footprint(args)
    grid = tiling.read_fields(args.fields) if args.fields else None
    observed = tiling.read_fields(args.observed, "--observed") if args.observed else None
    skymap, context = load_any(args, args.path)
    galaxies: dict[str, Any] = {}
    if args.catalog:
        grid, galaxies = _galaxies(args, skymap, fp, grid)
    site = args.site or (tel.site if tel and tel.site and not args.tiles_only else None)
    if site and not args.tiles_only:
        return _run_schedule(args, skymap, context, fp, tel, grid, observed, site, galaxies)
    n = args.tiles or 50
    if args.hours is not None:
        n = _fit_hours(args, tel, n)
    while True:
        plan = tiles.plan_tiles(
            skymap,
            fp,
            n,
            grid=grid,
            coverage_level=1.0 if galaxies.get("fields") else args.coverage,
            method=args.method,
            time_limit=args.time_limit,
            observed=observed,
        )
        if args.hours is None or _within_hours(args, tel, plan):
            break
        n = len(plan.tiles)  # the MILP's best set for fewer fields: planned again
    report: dict[str, Any] = {
        "map": args.path,
        "superevent_id": context.get("superevent_id") or skymap.object,
        "telescope": tel.name if tel else None,
        **plan.as_dict(),
        **galaxies,
    }
    if galaxies:
        report["notes"] = galaxies["galaxy_notes"] + report["notes"]
    _output(args, skymap, fp, context, report, tel, report["tiles"], print_tiles)
    return 0


def _fit_hours(args: argparse.Namespace, tel: Any, n: int) -> int:
    """Without a site: at most as many fields as --hours holds at exposure + readout each
    (slews are counted once the fields are known)."""
    from ..errors import GwalertError
    from ..plan.setup import constraints_for

    if not args.hours > 0:
        raise GwalertError(f"--hours {args.hours:g}: must be positive")
    c = constraints_for(tel, exposure=args.exposure, readout=args.readout, visits=args.visits)
    fit = int(args.hours * 3600 // (c.visits * (c.exposure + c.readout)))
    if fit < 1:
        raise GwalertError(
            f"--hours {args.hours:g}: shorter than one field's {c.visits} exposure(s) "
            f"({c.visits * (c.exposure + c.readout):g} s with readout)"
        )
    return min(n, fit) if args.tiles else fit


def _within_hours(args: argparse.Namespace, tel: Any, plan: Any) -> bool:
    """Keep the plan's fields that --hours holds with exposures, readouts and slews (in the
    plan's order, slews not overlapping readouts); False when a MILP plan lost fields (it is
    to be planned again)."""
    import numpy as np

    from ..plan.setup import constraints_for
    from ..plan.tiles import observing_seconds

    c = constraints_for(
        tel,
        exposure=args.exposure,
        readout=args.readout,
        slew_rate=args.slew_rate,
        visits=args.visits,
    )
    ra = np.array([t.ra for t in plan.tiles])
    dec = np.array([t.dec for t in plan.tiles])
    need = observing_seconds(ra, dec, c.exposure, c.readout, c.slew_rate, c.visits)
    k = int(np.searchsorted(need, args.hours * 3600 * (1 + 1e-12), side="right"))
    if k < len(plan.tiles):  # k >= 1: one field's exposures and readout fit (_fit_hours)
        plan.tiles = plan.tiles[:k]
        if plan.method.startswith("milp"):
            return False
    if k:
        plan.notes.append(
            f"{k} fields take {need[k - 1] / 3600:.2f} h of the {args.hours:g} h "
            f"(exposures, readouts of {c.readout:g} s, slews at {c.slew_rate:g}°/s)"
        )
    return True


def _output(
    args: argparse.Namespace,
    skymap: Any,
    fp: Any,
    context: dict[str, Any],
    report: dict[str, Any],
    tel: Any,
    rows: list[dict[str, Any]],
    print_rows: Any,
) -> None:
    """What every plan does at the end: CSV, picture, the stored plan (and its changes), then
    JSON or the text (``print_rows``: the tiles' or the schedule's table)."""
    if args.csv:
        write_csv(args.csv, rows)
    plot_plan(args, skymap, fp, report)
    remember(args, context, report, tel.name if tel else fp.name)
    if args.json:
        print(json.dumps(report))
    else:
        print_rows(report)
        print_changes(report)
        print_galaxies(report)


def _galaxies(args: argparse.Namespace, skymap: Any, fp: Any, grid: Any) -> tuple[Any, dict]:
    import numpy as np

    from ..plan import galaxies, tiling

    cat = galaxies.read_catalog(args.catalog)
    ranking = galaxies.rank(skymap, cat)
    rows = galaxies.ranked_rows(cat, ranking)
    if args.galaxies_out:
        write_csv(args.galaxies_out, rows)
    out: dict[str, Any] = {
        "galaxies": rows[: max(args.top, 0)],
        "galaxies_use_distance": ranking.uses_distance,
        "galaxy_notes": ranking.notes,
        "fields": False,
    }
    if grid is None and (args.galaxy_fields or fp.area < 1.0):
        n = args.tiles or 50
        centres, _ = galaxies.galaxy_fields(cat, ranking, fp, n)
        if centres.size:
            grid = tiling.Grid(
                np.array([cat.names[i] for i in centres], dtype=object),
                cat.ra[centres],
                cat.dec[centres],
            )
            out["fields"] = True
            out["galaxy_notes"] = ranking.notes + [
                f"fields centred on the best of {cat.ra.size} galaxies"
            ]
    return grid, out


def _duration(text: str) -> float:
    import re

    from ..errors import GwalertError

    m = re.fullmatch(r"\s*([0-9.]+)\s*(s|sec|m|min|h|hr)?\s*", text)
    try:
        if not m:
            raise ValueError
        value = float(m.group(1))
    except ValueError:
        raise GwalertError(f"--gap {text}: expected a duration such as 30m, 1h or 900s") from None
    return value * {"h": 3600, "hr": 3600, "m": 60, "min": 60}.get(m.group(2) or "m", 1)


def _start(args: argparse.Namespace, skymap: Any) -> Any:
    from astropy.time import Time

    from ..errors import GwalertError

    if args.start and args.night_of:
        raise GwalertError("give --start or --night-of, not both")
    text = args.start or args.night_of
    if not text:
        return Time.now()
    if text == "event":
        text = skymap.date_obs
        if not text:
            raise GwalertError("--night-of event: the map has no DATE-OBS")
    try:
        return Time(text.replace("Z", ""), scale="utc")
    except ValueError:
        raise GwalertError(f"{text}: not an ISO time (e.g. 2025-05-01T22:00)") from None


def _constraints(args: argparse.Namespace, tel: Any) -> Any:
    """The night's constraints from the options and the telescope."""
    from .. import observability as ob
    from ..plan.setup import constraints_for

    filters = (
        tuple(f.strip() for f in args.filters.split(",") if f.strip()) if args.filters else None
    )
    return constraints_for(
        tel,
        max_airmass=args.max_airmass,
        twilight=ob.TWILIGHT[args.twilight],
        moon_separation=args.moon_separation,
        exposure=args.exposure,
        readout=args.readout,
        slew_rate=args.slew_rate,
        filters=filters,
        filter_change=args.filter_change,
        visits=args.visits,
        gap=_duration(args.gap),
    )


def _run_schedule(args, skymap, context, fp, tel, grid, observed, site_name, galaxies) -> int:
    from .. import observability as ob
    from ..errors import GwalertError
    from ..plan import rows, schedule, tiles

    where = ob.site(site_name)
    c = _constraints(args, tel)
    c.check()
    start = _start(args, skymap)
    n = args.tiles
    per_field = c.visits * (c.exposure + c.readout)
    budget = n or (int(args.hours * 3600 / per_field) + 1 if args.hours else 200)
    cand = tiles.candidates(
        skymap,
        fp,
        grid=grid,
        coverage_level=1.0
        if galaxies.get("fields")
        else (args.coverage or tiles.auto_coverage(skymap, fp, budget)),
        observed=observed,
    )
    nb = len(cand.grid)
    order = list(range(nb))
    gains = tiles.Gains(cand, order)
    plan = schedule.schedule(
        [str(i) for i in cand.grid.ids],
        cand.grid.ra,
        cand.grid.dec,
        gains,
        where,
        start,
        c,
        max_fields=n,
        max_seconds=args.hours * 3600 if args.hours else None,
    )
    report: dict[str, Any] = {
        "map": args.path,
        "superevent_id": context.get("superevent_id") or skymap.object,
        "telescope": tel.name if tel else None,
        "footprint": fp.name,
        "field_area": fp.area,
        "candidates": nb,
        **plan.as_dict(),
        **galaxies,
    }
    if galaxies:
        report["notes"] = galaxies["galaxy_notes"] + report["notes"]
    report["tiles"] = rows.tiles_of(report["exposures"])
    _output(args, skymap, fp, context, report, tel, report["exposures"], print_schedule)
    if not plan.exposures:
        level = args.coverage or 0.9
        raise GwalertError(
            f"nothing observable: the {100 * level:g}% region never rises above airmass "
            f"{c.max_airmass:g} at {where.name} in the night {report['night_start'][:16]} -> "
            f"{report['night_end'][11:16]} UTC (Sun below {c.twilight:g}°, Moon "
            f">= {c.moon_separation:g}° away)"
        )
    return 0
