"""gwalert skymap: areas, volumes, distance and position of a sky map; picture; catalog ranking."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ._skymap_inputs import credible_levels, load_any
from ._skymap_outputs import (
    rank_catalog,
    report_text,
    skymap_report,
    table_columns,
    table_row,
    write_catalog,
)
from ._store import add_store_arguments

HELP = "analyse a sky map (FITS file or notice): credible areas/volumes, plot, catalog ranking"

TWILIGHTS = {"civil": -6.0, "nautical": -12.0, "astronomical": -18.0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "FILE is a multi-order or flat HEALPix FITS sky map (optionally gzipped) or an LVK\n"
        "notice (Avro or GCN JSON) that carries one; or a superevent id in the store\n"
        "(its latest notice with a sky map; --alert-type/--notice pick another). Several\n"
        "FILEs give one report each (--table: one tab-separated row each, as\n"
        "ligo-skymap-stats). Areas are in deg², volumes in Mpc³ (the exact integral of the\n"
        "distance ansatz), distances in Mpc.\n"
        "The catalog is a CSV file with ra and dec columns (degrees) and optionally a distance\n"
        "column (Mpc: distance, dist or distmpc); its rows are ranked by 3-D probability\n"
        "density when distances and a 3-D map are available, else by 2-D density.\n"
        "Pictures are PNG, PDF or SVG by the file name's extension; contours are written as\n"
        "GeoJSON (.geojson, .json) or ds9 regions (.reg)."
    )
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="FILE",
        help="FITS sky map, notice file, or superevent id in the store",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per map")
    parser.add_argument(
        "--table", action="store_true", help="one tab-separated row per map (for many maps)"
    )
    parser.add_argument(
        "--contours",
        nargs="+",
        default=["50", "90"],
        metavar="PERCENT",
        help="credible levels in percent (default: 50 90)",
    )
    parser.add_argument(
        "--plot", metavar="OUT", help="write a Mollweide picture (.png, .pdf or .svg) with a zoom"
    )
    parser.add_argument(
        "--radec",
        nargs=2,
        type=float,
        action="append",
        default=[],
        metavar=("RA", "DEC"),
        help="mark a position on the plot (degrees; repeatable)",
    )
    parser.add_argument(
        "--galactic-plane", action="store_true", help="draw the Galactic plane on the plot"
    )
    parser.add_argument(
        "--sun-moon",
        action="store_true",
        help="draw the Sun and Moon at the event time (the map's DATE-OBS, else the "
        "notice's event.time)",
    )
    parser.add_argument(
        "--moc",
        metavar="OUT",
        help="write the largest contour's region as a MOC (.fits, .json or text)",
    )
    parser.add_argument(
        "--contours-out",
        metavar="OUT",
        help="write the contours as GeoJSON (.geojson/.json) or ds9 regions (.reg)",
    )
    parser.add_argument("--catalog", metavar="CSV", help="rank the rows of a CSV catalog")
    parser.add_argument(
        "--top",
        type=int,
        default=None,
        metavar="N",
        help="how many catalog rows to show and draw (default: 10)",
    )
    parser.add_argument(
        "--catalog-out", metavar="CSV", help="write every catalog row, ranked, to a CSV file"
    )
    parser.add_argument(
        "--site",
        metavar="SITE",
        help="observability of the largest contour's region from SITE: a "
        "name (e.g. 'Rubin Observatory', keck, paranal, palomar) or "
        "LAT,LON[,HEIGHT] (degrees, degrees east, metres)",
    )
    parser.add_argument(
        "--max-airmass",
        type=float,
        default=2.0,
        metavar="X",
        help="with --site: the airmass limit (default: %(default)s)",
    )
    parser.add_argument(
        "--night-of",
        metavar="TIME",
        help="with --site: the first night after this UTC time (ISO; 'event' "
        "for the map's DATE-OBS, else the notice's event.time; default: now)",
    )
    parser.add_argument(
        "--twilight",
        choices=sorted(TWILIGHTS),
        default="astronomical",
        help="with --site: the Sun altitude that ends twilight (default: %(default)s, -18°)",
    )
    parser.add_argument(
        "--observability",
        metavar="OUT",
        help="with --site: write a probability-weighted airmass chart over "
        "the night (.png, .pdf or .svg)",
    )
    parser.add_argument(
        "--combined", action="store_true", help="use a notice's external_coinc combined sky map"
    )
    parser.add_argument(
        "--alert-type",
        metavar="TYPE",
        help="for a superevent id: the latest notice of this alert type",
    )
    parser.add_argument(
        "--notice",
        type=int,
        metavar="N",
        help="for a superevent id: the stored notice with this id",
    )
    add_store_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from ..errors import GwalertError
    from ..store.sanitize import json_value
    from . import error

    usage = _usage_problem(args)
    if usage:
        print(f"gwalert skymap: error: {usage}", file=sys.stderr)
        return 2
    try:
        levels = credible_levels(args.contours)
        _check_outputs(args)
    except GwalertError as exc:
        error(str(exc))
        return 1
    failed = 0
    if args.table:
        sys.stdout.write("\t".join(table_columns(levels)) + "\n")
    for name in args.paths:
        try:
            report = _one(args, name, levels)
        except GwalertError as exc:
            if getattr(args, "debug", False):
                raise
            error(f"{name}: {exc}")
            failed += 1
            continue
        except OSError as exc:
            if getattr(args, "debug", False):
                raise
            error(f"{getattr(exc, 'filename', None) or name}: {exc.strerror or exc}")
            failed += 1
            continue
        if args.table:
            sys.stdout.write(table_row(report, levels))
        elif args.json:
            sys.stdout.write(json.dumps(json_value(report)) + "\n")
        else:
            sys.stdout.write(report_text(report))
        sys.stdout.flush()
        for warning in report.get("warnings", []):
            error(f"{name}: warning: {warning}")
    return 1 if failed else 0


def _usage_problem(args: argparse.Namespace) -> str | None:
    """Fix argparse's greedy --contours (``--contours 50 90 FILE``) and check combinations."""
    numbers = []
    for item in args.contours:
        try:
            numbers.append(float(item))
        except ValueError:
            args.paths.append(item)  # a file name after the percentages
    args.contours = numbers
    if not args.paths:
        return "the following arguments are required: FILE"
    if not numbers:
        return "--contours needs at least one percentage"
    if args.top is not None and not args.catalog:
        return "--top needs --catalog"
    if args.catalog_out and not args.catalog:
        return "--catalog-out needs --catalog"
    if args.top is None:
        args.top = 10
    if (args.observability or args.night_of) and not args.site:
        return "--observability and --night-of need --site"
    outputs = [
        o
        for o in ("plot", "moc", "contours_out", "catalog_out", "observability")
        if getattr(args, o)
    ]
    if len(args.paths) > 1 and outputs:
        return f"--{outputs[0].replace('_', '-')} takes one FILE ({len(args.paths)} given)"
    if args.table and args.json:
        return "--table and --json cannot be combined"
    if (args.alert_type or args.notice is not None) and args.combined:
        return None
    return None


def _check_outputs(args: argparse.Namespace) -> None:
    """Fail before any work when an output cannot be written (named, not the input)."""
    import os

    from ..errors import GwalertError

    if args.plot:
        from ..skymap.plot import plot_format

        plot_format(args.plot)
    if args.contours_out and not args.contours_out.lower().endswith((".reg", ".json", ".geojson")):
        raise GwalertError(
            f"{args.contours_out}: unknown contour format; use .geojson, .json or .reg"
        )
    if args.observability:
        from ..skymap.plot import plot_format

        plot_format(args.observability)
    if args.site:
        from ..observability import site

        site(args.site)  # a wrong name fails before any work
    for out in (args.plot, args.moc, args.contours_out, args.catalog_out, args.observability):
        if out and out != "-":
            folder = os.path.dirname(os.path.abspath(out))
            if not os.path.isdir(folder):
                raise GwalertError(f"{out}: cannot write: no such directory {folder}")
    if args.top < 1:
        raise GwalertError("--top must be at least 1")


def _one(args: argparse.Namespace, name: str, levels: list[float]) -> dict[str, Any]:
    from ..errors import GwalertError

    skymap, context = load_any(args, name)
    report = skymap_report(skymap, levels, context)
    warnings: list[str] = []
    ranked = None
    if args.catalog:
        ranked = rank_catalog(skymap, args.catalog)
        report["catalog"] = ranked[: args.top]
        inside = sum(1 for r in ranked if r["searched_prob"] <= levels[-1])
        report["catalog_inside"] = inside
        if inside == 0:
            warnings.append(f"no catalog row lies inside the {100 * levels[-1]:g}% region")
        if args.catalog_out:
            write_catalog(ranked, args.catalog_out)
            report["catalog_out"] = args.catalog_out
    if args.plot:
        from ..skymap.plot import Marker

        if args.sun_moon and not skymap.date_obs:
            warnings.append(
                "--sun-moon: no Sun or Moon drawn: the map has no DATE-OBS and no notice "
                "gives an event time"
            )

        alert_type = context.get("alert_type")
        if alert_type and context.get("combined_with"):
            alert_type = f"{alert_type} (combined with {context['combined_with']})"
        marks = [Marker(ra % 360.0, dec, f"{ra:g}, {dec:+g}") for ra, dec in args.radec]
        if any(abs(dec) > 90 for _, dec in args.radec):
            raise GwalertError("--radec: DEC must be within ±90°")
        if ranked:
            marks += [
                Marker(r["ra"], r["dec"], r["name"] or "", "galaxy") for r in ranked[: args.top]
            ]
        from ..safefiles import replacing

        with replacing(args.plot) as tmp:
            skymap.plot(
                tmp,
                event=context.get("superevent_id"),
                name=name,  # titles a map without OBJECT
                alert_type=alert_type,
                contours=levels,
                marks=marks,
                galactic_plane=args.galactic_plane,
                sun_moon=args.sun_moon,
            )
        report["plot"] = args.plot
    if args.moc:
        moc = skymap.moc(levels[-1])
        try:
            moc.write(args.moc)
        except OSError as exc:
            raise GwalertError(f"cannot write {args.moc}: {exc.strerror}") from None
        report["moc"] = {
            "path": args.moc,
            "probability": levels[-1],
            "cells": int(moc.uniq.size),
            "area": moc.area,
        }
    if args.contours_out:
        from ..skymap import contour

        lines = contour.credible_contours(skymap, levels)
        kind = contour.write(lines, args.contours_out)
        report["contours_out"] = {
            "path": args.contours_out,
            "format": kind,
            "lines": {f"{100 * p:g}": len(v) for p, v in lines.items()},
        }
    if args.site:
        report["observability"] = _observability(
            args, skymap, {**context, "name": name}, levels[-1]
        )
    if warnings:
        report["warnings"] = warnings
    return {"file": name, **report}


def _observability(
    args: argparse.Namespace, skymap: Any, context: dict[str, Any], level: float
) -> dict[str, Any]:
    from astropy.time import Time

    from .. import observability as ob
    from ..errors import GwalertError

    start = None
    if args.night_of:
        text = skymap.date_obs if args.night_of == "event" else args.night_of
        if not text:
            raise GwalertError(
                "--night-of event: the map has no DATE-OBS and no notice gives an event time"
            )
        try:
            start = Time(text.replace("Z", ""), scale="utc")
        except ValueError:
            raise GwalertError(f"--night-of {args.night_of}: not an ISO time") from None
    obs = ob.observability(
        skymap,
        ob.site(args.site),
        start=start,
        max_airmass=args.max_airmass,
        p=level,
        twilight=TWILIGHTS[args.twilight],
    )
    out = obs.as_dict()
    out["text"] = ob.text(obs)
    if args.observability:
        from ..safefiles import replacing
        from ..skymap.plot import map_name

        event = (
            context.get("superevent_id")
            or skymap.object
            or map_name(context.get("name"))
            or "sky map"
        )
        with replacing(args.observability) as tmp:
            ob.plot(obs, tmp, title=f"{event}: {100 * level:g}% region from {obs.site.name}")
        out["chart"] = args.observability
    return out
