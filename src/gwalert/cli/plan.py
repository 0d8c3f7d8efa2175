"""gwalert plan: which fields of a telescope to observe, in which order (tiles, schedule)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

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
    sel.add_argument("--hours", type=float, metavar="H", help="observing time to fill instead")
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
    out = parser.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print one JSON object")
    out.add_argument("--csv", metavar="OUT", help="write the plan as CSV (- for stdout)")
    out.add_argument("--plot", metavar="OUT", help="picture of the fields (and the night)")
    add_store_arguments(parser)
    parser.set_defaults(alert_type=None, notice=None, combined=False)


def _footprint(args: argparse.Namespace) -> tuple[Any, Any]:
    from ..errors import GwalertError
    from ..plan import footprints, telescopes

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
    if args.fov is not None:
        fp = footprints.parse_fov(args.fov)
    elif args.fov_radius is not None:
        fp = footprints.circle(args.fov_radius)
    elif args.footprint is not None:
        fp = footprints.read_footprint(args.footprint)
    elif tel is not None:
        fp = tel.footprint()
    else:
        raise GwalertError("give a field of view: --telescope, --fov, --fov-radius or --footprint")
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
    observed = tiling.read_fields(args.observed) if args.observed else None
    skymap, context = load_any(args, args.path)
    n = args.tiles or 50
    plan = tiles.plan_tiles(
        skymap,
        fp,
        n,
        grid=grid,
        coverage_level=args.coverage,
        method=args.method,
        time_limit=args.time_limit,
        observed=observed,
    )
    report: dict[str, Any] = {
        "map": args.path,
        "superevent_id": context.get("superevent_id") or skymap.object,
        "telescope": tel.name if tel else None,
        **plan.as_dict(),
    }
    if args.csv:
        _write_csv(args.csv, report["tiles"])
    if args.json:
        print(json.dumps(report))
    else:
        _print_tiles(report)
    return 0


def _write_csv(path: str, rows: list[dict[str, Any]]) -> None:
    import csv

    from ..errors import GwalertError

    if not rows:
        keys = ["id", "ra", "dec", "probability", "cumulative"]
    else:
        keys = list(rows[0])
    try:
        fh = sys.stdout if path == "-" else open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise GwalertError(f"--csv {path}: {exc.strerror}") from None
    try:
        w = csv.DictWriter(fh, keys)
        w.writeheader()
        w.writerows(rows)
    finally:
        if fh is not sys.stdout:
            fh.close()


def _print_tiles(report: dict[str, Any]) -> None:
    tiles = report["tiles"]
    head = (
        f"{report['superevent_id'] or report['map']}: {len(tiles)} fields of {report['footprint']}"
    )
    print(
        f"{head} ({report['field_area']:.2f} deg² each), {report['method']}, "
        f"{100 * report['probability']:.1f}% of the probability covered"
    )
    if report.get("gap") is not None:
        print(
            f"  proven upper bound {100 * report['upper_bound']:.2f}%, "
            f"optimality gap {100 * report['gap']:.3f}%"
        )
    for note in report.get("notes", []):
        print(f"  note: {note}")
    if not tiles:
        print("  no field holds any probability")
        return
    print(f"  {'#':>3}  {'field':>8}  {'RA':>8}  {'Dec':>7}  {'prob':>6}  {'cumul':>6}")
    for k, t in enumerate(tiles, 1):
        print(
            f"  {k:>3}  {t['id']:>8}  {t['ra']:8.3f}  {t['dec']:+7.3f}  "
            f"{100 * t['probability']:5.2f}%  {100 * t['cumulative']:5.1f}%"
        )
