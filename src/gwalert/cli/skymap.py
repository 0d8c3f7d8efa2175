"""gwalert skymap: areas, volumes, distance and position of a sky map; picture; catalog ranking."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

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
    parser.add_argument("paths", nargs="*", metavar="FILE",
                        help="FITS sky map, notice file, or superevent id in the store")
    parser.add_argument("--json", action="store_true", help="print one JSON object per map")
    parser.add_argument("--table", action="store_true",
                        help="one tab-separated row per map (for many maps)")
    parser.add_argument("--contours", nargs="+", default=["50", "90"],
                        metavar="PERCENT", help="credible levels in percent (default: 50 90)")
    parser.add_argument("--plot", metavar="OUT",
                        help="write a Mollweide picture (.png, .pdf or .svg) with a zoom")
    parser.add_argument("--radec", nargs=2, type=float, action="append", default=[],
                        metavar=("RA", "DEC"), help="mark a position on the plot (degrees; "
                                                    "repeatable)")
    parser.add_argument("--galactic-plane", action="store_true",
                        help="draw the Galactic plane on the plot")
    parser.add_argument("--sun-moon", action="store_true",
                        help="draw the Sun and Moon at the event time (the map's DATE-OBS)")
    parser.add_argument("--moc", metavar="OUT",
                        help="write the largest contour's region as a MOC (.fits, .json or text)")
    parser.add_argument("--contours-out", metavar="OUT",
                        help="write the contours as GeoJSON (.geojson/.json) or ds9 regions "
                             "(.reg)")
    parser.add_argument("--catalog", metavar="CSV", help="rank the rows of a CSV catalog")
    parser.add_argument("--top", type=int, default=None, metavar="N",
                        help="how many catalog rows to show and draw (default: 10)")
    parser.add_argument("--catalog-out", metavar="CSV",
                        help="write every catalog row, ranked, to a CSV file")
    parser.add_argument("--site", metavar="SITE",
                        help="observability of the largest contour's region from SITE: a "
                             "name (e.g. 'Rubin Observatory', keck, paranal, palomar) or "
                             "LAT,LON[,HEIGHT] (degrees, degrees east, metres)")
    parser.add_argument("--max-airmass", type=float, default=2.0, metavar="X",
                        help="with --site: the airmass limit (default: %(default)s)")
    parser.add_argument("--night-of", metavar="TIME",
                        help="with --site: the first night after this UTC time (ISO; 'event' "
                             "for the map's DATE-OBS; default: now)")
    parser.add_argument("--twilight", choices=sorted(TWILIGHTS), default="astronomical",
                        help="with --site: the Sun altitude that ends twilight (default: "
                             "%(default)s, -18°)")
    parser.add_argument("--observability", metavar="OUT",
                        help="with --site: write a probability-weighted airmass chart over "
                             "the night (.png, .pdf or .svg)")
    parser.add_argument("--combined", action="store_true",
                        help="use a notice's external_coinc combined sky map")
    parser.add_argument("--alert-type", metavar="TYPE",
                        help="for a superevent id: the latest notice of this alert type")
    parser.add_argument("--notice", type=int, metavar="N",
                        help="for a superevent id: the stored notice with this id")
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
        levels = _levels(args.contours)
        _check_outputs(args)
    except GwalertError as exc:
        error(str(exc))
        return 1
    failed = 0
    if args.table:
        sys.stdout.write("\t".join(_table_columns(levels)) + "\n")
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
            sys.stdout.write(_table_row(report, levels))
        elif args.json:
            sys.stdout.write(json.dumps(json_value(report)) + "\n")
        else:
            sys.stdout.write(_text(report))
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
    outputs = [o for o in ("plot", "moc", "contours_out", "catalog_out", "observability")
               if getattr(args, o)]
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
    if args.contours_out and not args.contours_out.lower().endswith((".reg", ".json",
                                                                     ".geojson")):
        raise GwalertError(f"{args.contours_out}: unknown contour format; use .geojson, .json "
                           "or .reg")
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

    skymap, context = _load_any(args, name)
    report = _report(skymap, levels, context)
    warnings: list[str] = []
    ranked = None
    if args.catalog:
        ranked = _rank_catalog(skymap, args.catalog)
        report["catalog"] = ranked[:args.top]
        inside = sum(1 for r in ranked if r["searched_prob"] <= levels[-1])
        report["catalog_inside"] = inside
        if inside == 0:
            warnings.append(f"no catalog row lies inside the {100 * levels[-1]:g}% region")
        if args.catalog_out:
            _write_catalog(ranked, args.catalog_out)
            report["catalog_out"] = args.catalog_out
    if args.plot:
        from ..skymap.plot import Marker

        alert_type = context.get("alert_type")
        if alert_type and context.get("combined_with"):
            alert_type = f"{alert_type} (combined with {context['combined_with']})"
        marks = [Marker(ra % 360.0, dec, f"{ra:g}, {dec:+g}") for ra, dec in args.radec]
        if any(abs(dec) > 90 for _, dec in args.radec):
            raise GwalertError("--radec: DEC must be within ±90°")
        if ranked:
            marks += [Marker(r["ra"], r["dec"], r["name"] or "", "galaxy")
                      for r in ranked[:args.top]]
        skymap.plot(args.plot, event=context.get("superevent_id"), alert_type=alert_type,
                    contours=levels, marks=marks, galactic_plane=args.galactic_plane,
                    sun_moon=args.sun_moon)
        report["plot"] = args.plot
    if args.moc:
        moc = skymap.moc(levels[-1])
        try:
            moc.write(args.moc)
        except OSError as exc:
            raise GwalertError(f"cannot write {args.moc}: {exc.strerror}") from None
        report["moc"] = {"path": args.moc, "probability": levels[-1],
                         "cells": int(moc.uniq.size), "area": moc.area}
    if args.contours_out:
        from ..skymap import contour

        lines = contour.credible_contours(skymap, levels)
        kind = contour.write(lines, args.contours_out)
        report["contours_out"] = {"path": args.contours_out, "format": kind,
                                  "lines": {f"{100 * p:g}": len(v) for p, v in lines.items()}}
    if args.site:
        report["observability"] = _observability(args, skymap, context, levels[-1])
    if warnings:
        report["warnings"] = warnings
    return {"file": name, **report}


def _observability(args: argparse.Namespace, skymap: Any, context: dict[str, Any],
                   level: float) -> dict[str, Any]:
    from astropy.time import Time

    from .. import observability as ob
    from ..errors import GwalertError

    start = None
    if args.night_of:
        text = skymap.date_obs if args.night_of == "event" else args.night_of
        if not text:
            raise GwalertError("--night-of event: the map has no DATE-OBS")
        try:
            start = Time(text.replace("Z", ""), scale="utc")
        except ValueError:
            raise GwalertError(f"--night-of {args.night_of}: not an ISO time") from None
    obs = ob.observability(skymap, ob.site(args.site), start=start,
                           max_airmass=args.max_airmass, p=level,
                           twilight=TWILIGHTS[args.twilight])
    out = obs.as_dict()
    out["text"] = ob.text(obs)
    if args.observability:
        event = context.get("superevent_id") or skymap.object or "sky map"
        ob.plot(obs, args.observability, title=f"{event}: {100 * level:g}% region from "
                f"{obs.site.name}")
        out["chart"] = args.observability
    return out


def _load_any(args: argparse.Namespace, name: str) -> tuple[Any, dict[str, Any]]:
    """A file (or -), else a stored superevent's notice."""
    import os

    from ..errors import GwalertError

    if name == "-" or os.path.exists(name) or not _looks_like_id(name):
        if args.alert_type or args.notice is not None:
            if name != "-" and not os.path.exists(name):
                raise GwalertError("no such file or directory")
            raise GwalertError("--alert-type/--notice select a stored notice: give a "
                               "superevent id, not a file")
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
                raise GwalertError(f"{event} has no {args.alert_type} notice (stored: "
                                   f"{', '.join(types)})")
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
def _levels(percent: list[float]) -> list[float]:
    from ..errors import GwalertError

    for p in percent:
        if 0 < p <= 1:
            raise GwalertError(f"--contours {p:g}: levels are percentages; did you mean "
                               f"{100 * p:g}?")
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


def _load_bytes(data: bytes, combined: bool,
                content_hash: str | None = None) -> tuple[Any, dict[str, Any]]:
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
        raise GwalertError(f"not a FITS sky map or an LVK notice: "
                           f"{kind.split(' (a sky map')[0]}") from None
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
    return skymap, context


# ------------------------------------------------------------------------------ report
def _report(skymap: Any, levels: list[float], context: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    ra, dec = skymap.most_probable()
    areas = np.atleast_1d(skymap.credible_area(levels))
    vols = (np.atleast_1d(skymap.credible_volume(levels)) if skymap.has_distance
            else [None] * len(levels))
    out: dict[str, Any] = {**context}
    out.update({
        "object": skymap.object,
        "instruments": list(skymap.instruments),
        "creator": skymap.creator,
        "npix": len(skymap),
        "mocorder": skymap.mocorder,
        "has_distance": skymap.has_distance,
        "ra": ra,
        "dec": dec,
        "distmean": skymap.distmean if skymap.has_distance else None,
        "diststd": skymap.diststd if skymap.has_distance else None,
    })
    if skymap.has_distance:
        mean, std = skymap.distance_moments()
        out["distmean_map"], out["diststd_map"] = mean, std
        if out["distmean"] is None:
            out["distmean"], out["diststd"] = mean, std
    out["contours"] = [
        {"probability": p, "area": float(a), "volume": None if v is None else float(v)}
        for p, a, v in zip(levels, areas, vols, strict=True)]
    for c in out["contours"]:
        key = f"{100 * c['probability']:g}".replace(".", "_")
        out[f"area_{key}"] = c["area"]
        out[f"vol_{key}"] = c["volume"]
    return out


def _rank_catalog(skymap: Any, path: str) -> list[dict[str, Any]]:
    """Every catalog row, most probable first; ``row`` counts data rows from 1 (the header is
    not a row), as error messages do."""
    import numpy as np

    names, ra, dec, dist = _read_catalog(path)
    result = skymap.crossmatch(ra, dec, dist if dist is not None else None)
    use_3d = dist is not None and skymap.has_distance
    key = np.asarray(result.probdensity_vol if use_3d else result.probdensity, float)
    key = np.where(np.isfinite(key), key, -np.inf)
    order = np.argsort(-key, kind="stable")
    rows = []
    for rank, i in enumerate(order, 1):
        row = {"rank": rank, "row": int(i) + 1, "name": names[i] if names else None,
               "ra": float(ra[i]), "dec": float(dec[i]),
               "distance": None if dist is None else float(dist[i]),
               "searched_prob": float(result.searched_prob[i]),
               "searched_area": float(result.searched_area[i]),
               "probdensity": float(result.probdensity[i])}
        if use_3d:
            row.update(searched_prob_vol=float(result.searched_prob_vol[i]),
                       searched_vol=float(result.searched_vol[i]),
                       probdensity_vol=float(result.probdensity_vol[i]),
                       searched_prob_dist=float(result.searched_prob_dist[i]))
        rows.append(row)
    return rows


def _read_catalog(path: str):
    import numpy as np

    from ..errors import GwalertError
    from ..rules.targets import CsvError, read_positions

    try:
        pos = read_positions(path)
    except CsvError as exc:
        raise GwalertError(f"catalog {path}: {exc}") from None
    if np.any(np.abs(pos.dec) > 90):
        n = int(np.flatnonzero(np.abs(pos.dec) > 90)[0])
        raise GwalertError(f"catalog {path}: row {n + 1} (line {pos.lines[n]}): dec "
                           f"{pos.dec[n]} is outside ±90°")
    return pos.names, pos.ra, pos.dec, pos.distance


def _write_catalog(rows: list[dict[str, Any]], path: str) -> None:
    """Every ranked row as CSV (the columns of the text table, with full precision)."""
    import csv

    from ..errors import GwalertError

    keys = list(rows[0]) if rows else ["rank", "row"]
    try:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            for r in rows:
                w.writerow({k: "" if v is None else v for k, v in r.items()})
    except OSError as exc:
        raise GwalertError(f"cannot write {path}: {exc.strerror}") from None


# ------------------------------------------------------------------------------ output
def _table_columns(levels: list[float]) -> list[str]:
    cols = ["file", "object", "ra", "dec", "distmean", "diststd"]
    for p in levels:
        cols.append(f"area({100 * p:g})")
    for p in levels:
        cols.append(f"vol({100 * p:g})")
    return cols


def _table_row(r: dict[str, Any], levels: list[float]) -> str:
    def fmt(v: Any) -> str:
        if v is None:
            return ""
        return f"{v:.6g}" if isinstance(v, float) else str(v)

    cells = [r["file"], r.get("superevent_id") or r.get("object") or "", r["ra"], r["dec"],
             r.get("distmean"), r.get("diststd")]
    cells += [c["area"] for c in r["contours"]]
    cells += [c["volume"] for c in r["contours"]]
    return "\t".join(fmt(c) for c in cells) + "\n"


def _text(r: dict[str, Any]) -> str:
    lines = []
    head = r.get("superevent_id") or r.get("object") or "sky map"
    if r.get("alert_type"):
        head += f" {r['alert_type']}"
    if r.get("combined_with"):
        head += f", combined sky map with {r['combined_with']}"
    kind = "3-D (with distance)" if r["has_distance"] else "2-D (no distance)"
    lines.append(f"{r['file']}: {head} — {r['npix']} pixels, order ≤ {r['mocorder']}, {kind}")
    if r.get("instruments"):
        lines.append(f"  instruments:   {', '.join(r['instruments'])}")
    lines.append(f"  most probable: RA {r['ra']:.4f}°, Dec {r['dec']:+.4f}°")
    if r["has_distance"]:
        std = f" ± {r['diststd']:.1f}" if r.get("diststd") is not None else ""
        lines.append(f"  distance:      {r['distmean']:.1f}{std} Mpc")
    for c in r["contours"]:
        text = f"  {100 * c['probability']:g}% region:    {c['area']:,.1f} deg²"
        if c["volume"] is not None:
            text += f", {c['volume']:.4g} Mpc³"
        lines.append(text)
    if "moc" in r:
        m = r["moc"]
        lines.append(f"  MOC ({100 * m['probability']:g}%): {m['cells']} cells, "
                     f"{m['area']:,.1f} deg² -> {m['path']}")
    if "plot" in r:
        lines.append(f"  plot:          {r['plot']}")
    if "observability" in r:
        lines += r["observability"]["text"]
        if r["observability"].get("chart"):
            lines.append(f"    chart -> {r['observability']['chart']}")
    if "contours_out" in r:
        c = r["contours_out"]
        lines.append(f"  contours:      {c['format']} -> {c['path']}")
    if "catalog" in r:
        lines.append(_catalog_text(r["catalog"]))
        lines.append(f"  {r['catalog_inside']} catalog row(s) inside the "
                     f"{100 * r['contours'][-1]['probability']:g}% region")
    if "catalog_out" in r:
        lines.append(f"  ranked catalog -> {r['catalog_out']}")
    return "\n".join(lines) + "\n"


def _catalog_text(rows: list[dict[str, Any]]) -> str:
    three_d = bool(rows) and "probdensity_vol" in rows[0]
    head = f"  {'#':>3} {'row':>6} {'name':<16} {'ra':>9} {'dec':>9}"
    if three_d:
        head += f" {'dist':>8} {'P(<=) 3-D':>10} {'P(<=) 2-D':>10} {'dP/dV (Mpc^-3)':>15}"
    else:
        head += f" {'P(<=) 2-D':>10} {'dP/dA (deg^-2)':>15}"
    out = ["  catalog, most probable first (P(<=): credible level containing the row):", head]
    for row in rows:
        name = (row["name"] or "")[:16]
        line = (f"  {row['rank']:>3} {row['row']:>6} {name:<16} {row['ra']:>9.4f}"
                f" {row['dec']:>+9.4f}")
        if three_d:
            line += (f" {row['distance']:>8.1f} {row['searched_prob_vol']:>10.4f}"
                     f" {row['searched_prob']:>10.4f} {row['probdensity_vol']:>15.4g}")
        else:
            line += (f" {row['searched_prob']:>10.4f}"
                     f" {row['probdensity'] / (180 / math.pi) ** 2:>15.4g}")
        out.append(line)
    return "\n".join(out)
