"""gwalert skymap: areas, volumes, distance and position of a sky map; picture; catalog ranking."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

HELP = "analyse a sky map (FITS file or notice): credible areas/volumes, plot, catalog ranking"

_NAME_COLUMNS = ("name", "id", "objname", "galaxy", "gwgc", "hyperleda", "2mass", "pgc",
                 "gladeid", "glade_id")
_PLACEHOLDERS = ("", "---", "<na>", "nan", "none", "null", "--")
_RA_COLUMNS = ("ra", "ra_deg", "raj2000", "_raj2000", "ra_j2000")
_DEC_COLUMNS = ("dec", "dec_deg", "dej2000", "_dej2000", "decj2000", "dec_j2000", "de")
_DIST_COLUMNS = ("distance", "dist", "distmpc", "dist_mpc", "distance_mpc", "d_l", "dl",
                 "lumdist")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "FILE is a multi-order or flat HEALPix FITS sky map (optionally gzipped) or an LVK\n"
        "notice (Avro or GCN JSON) that carries one. Areas are in deg², volumes in Mpc³\n"
        "(the exact integral of the distance ansatz), distances in Mpc.\n"
        "The catalog is a CSV file with ra and dec columns (degrees) and optionally a distance\n"
        "column (Mpc: distance, dist or distmpc); its rows are ranked by 3-D probability\n"
        "density when distances and a 3-D map are available, else by 2-D density."
    )
    parser.add_argument("path", metavar="FILE", help="FITS sky map or notice file")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--contours", type=float, nargs="+", default=[50.0, 90.0],
                        metavar="PERCENT", help="credible levels in percent (default: 50 90)")
    parser.add_argument("--plot", metavar="OUT.png", help="write a Mollweide PNG")
    parser.add_argument("--moc", metavar="OUT",
                        help="write the largest contour's region as a MOC (.fits, .json or text)")
    parser.add_argument("--catalog", metavar="CSV", help="rank the rows of a CSV catalog")
    parser.add_argument("--top", type=int, default=10, metavar="N",
                        help="how many catalog rows to show (default: 10)")
    parser.add_argument("--combined", action="store_true",
                        help="use a notice's external_coinc combined sky map")


def run(args: argparse.Namespace) -> int:
    from ..errors import GwalertError
    from . import error

    name = args.path
    try:
        levels = _levels(args.contours)
        if args.top < 1:
            raise GwalertError("--top must be at least 1")
        skymap, context = _load(args.path, args.combined)
        report = _report(skymap, levels, context)
        if args.catalog:
            report["catalog"] = _rank_catalog(skymap, args.catalog, args.top)
        if args.plot:
            alert_type = context.get("alert_type")
            if alert_type and context.get("combined_with"):
                alert_type = f"{alert_type} (combined with {context['combined_with']})"
            skymap.plot(args.plot, event=context.get("superevent_id"), alert_type=alert_type,
                        contours=levels)
            report["plot"] = args.plot
        if args.moc:
            moc = skymap.moc(levels[-1])
            try:
                moc.write(args.moc)
            except OSError as exc:
                raise GwalertError(f"cannot write {args.moc}: {exc.strerror}") from None
            report["moc"] = {"path": args.moc, "probability": levels[-1],
                             "cells": int(moc.uniq.size), "area": moc.area}
    except GwalertError as exc:
        if getattr(args, "debug", False):
            raise
        error(f"{name}: {exc}")
        return 1
    except OSError as exc:  # e.g. the picture's directory does not exist
        if getattr(args, "debug", False):
            raise
        error(f"{name}: {exc.strerror or exc}")
        return 1
    report = {"file": args.path, **report}
    if args.json:
        sys.stdout.write(json.dumps(_jsonable(report)) + "\n")
    else:
        sys.stdout.write(_text(report))
    sys.stdout.flush()
    return 0


# ------------------------------------------------------------------------------ input
def _levels(percent: list[float]) -> list[float]:
    from ..errors import GwalertError

    out = sorted({p / 100.0 for p in percent})
    if not out or any(not (0 < p < 1) or math.isnan(p) for p in out):
        raise GwalertError("--contours takes percentages strictly between 0 and 100")
    return out


def _load(path: str, combined: bool) -> tuple[Any, dict[str, Any]]:
    from ..errors import GwalertError, SkyMapError
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
    if data.startswith((b"SIMPLE", b"\x1f\x8b")):
        if combined:
            raise GwalertError("--combined needs a notice, not a FITS file")
        return SkyMap.read(data), {}
    from ..notice import decode

    notice = decode(data)[0]
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


def _rank_catalog(skymap: Any, path: str, top: int) -> list[dict[str, Any]]:
    import numpy as np

    names, ra, dec, dist = _read_catalog(path)
    result = skymap.crossmatch(ra, dec, dist if dist is not None else None)
    use_3d = dist is not None and skymap.has_distance
    key = np.asarray(result.probdensity_vol if use_3d else result.probdensity, float)
    key = np.where(np.isfinite(key), key, -np.inf)
    order = np.argsort(-key, kind="stable")[:top]
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
    import csv

    import numpy as np

    from ..errors import GwalertError

    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            sample = fh.read(65536)
            fh.seek(0)
            try:
                dialect = csv.Sniffer().sniff(sample, delimiters=",;\t ")
            except csv.Error:
                dialect = csv.excel
            reader = csv.reader(fh, dialect)
            header = next(reader, None)
            rows = list(reader)
    except OSError as exc:
        raise GwalertError(f"catalog {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise GwalertError(f"catalog {path}: not a readable CSV file ({exc})") from None
    if not header:
        raise GwalertError(f"catalog {path}: empty file")
    cols = [h.strip().lower() for h in header]

    def find(candidates: tuple[str, ...]) -> int | None:
        for c in candidates:
            if c in cols:
                return cols.index(c)
        return None

    i_ra, i_dec, i_dist = find(_RA_COLUMNS), find(_DEC_COLUMNS), find(_DIST_COLUMNS)
    i_names = [cols.index(c) for c in _NAME_COLUMNS if c in cols]
    if i_ra is None or i_dec is None:
        raise GwalertError(f"catalog {path}: needs 'ra' and 'dec' columns (degrees); "
                           f"found {', '.join(header)}")
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise GwalertError(f"catalog {path}: no rows")

    def column(i: int, what: str, required: bool) -> np.ndarray:
        out = np.empty(len(rows))
        for n, r in enumerate(rows):
            text = r[i].strip() if i < len(r) else ""
            try:
                out[n] = float(text) if text else math.nan
            except ValueError:
                raise GwalertError(f"catalog {path}: row {n + 2}: {what} {text!r} is not a "
                                   "number") from None
            if required and not math.isfinite(out[n]):
                raise GwalertError(f"catalog {path}: row {n + 2}: {what} is missing")
        return out

    ra = column(i_ra, "ra", True)
    dec = column(i_dec, "dec", True)
    if np.any(np.abs(dec) > 90):
        n = int(np.flatnonzero(np.abs(dec) > 90)[0])
        raise GwalertError(f"catalog {path}: row {n + 2}: dec {dec[n]} is outside ±90°")
    dist = column(i_dist, "distance", False) if i_dist is not None else None
    names = [_name(r, i_names) for r in rows] if i_names else None
    return names, ra, dec, dist


def _name(row: list[str], columns: list[int]) -> str:
    """The first real name among the name columns (astropy-written CSVs hold b'...' text)."""
    for i in columns:
        text = row[i].strip() if i < len(row) else ""
        if len(text) >= 3 and text[0] == "b" and text[1] in "'\"" and text[-1] == text[1]:
            text = text[2:-1]
        if text.lower() not in _PLACEHOLDERS:
            return text
    return ""


# ------------------------------------------------------------------------------ output
def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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
    if "catalog" in r:
        lines.append(_catalog_text(r["catalog"]))
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
