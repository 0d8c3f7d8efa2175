"""gwalert skymap's outputs: the report of one map, catalog ranking and its CSV, the
statistics table and the text report."""

from __future__ import annotations

import math
from typing import Any


# ------------------------------------------------------------------------------ report
def skymap_report(skymap: Any, levels: list[float], context: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    ra, dec = skymap.most_probable()
    areas = np.atleast_1d(skymap.credible_area(levels))
    vols = (
        np.atleast_1d(skymap.credible_volume(levels))
        if skymap.has_distance
        else [None] * len(levels)
    )
    out: dict[str, Any] = {**context}
    out.update(
        {
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
        }
    )
    if skymap.has_distance:
        mean, std = skymap.distance_moments()
        out["distmean_map"], out["diststd_map"] = mean, std
        if out["distmean"] is None:
            out["distmean"], out["diststd"] = mean, std
    out["contours"] = [
        {"probability": p, "area": float(a), "volume": None if v is None else float(v)}
        for p, a, v in zip(levels, areas, vols, strict=True)
    ]
    for c in out["contours"]:
        key = f"{100 * c['probability']:g}".replace(".", "_")
        out[f"area_{key}"] = c["area"]
        out[f"vol_{key}"] = c["volume"]
    return out


def rank_catalog(skymap: Any, path: str) -> list[dict[str, Any]]:
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
        row = {
            "rank": rank,
            "row": int(i) + 1,
            "name": names[i] if names else None,
            "ra": float(ra[i]),
            "dec": float(dec[i]),
            "distance": None if dist is None else float(dist[i]),
            "searched_prob": float(result.searched_prob[i]),
            "searched_area": float(result.searched_area[i]),
            "probdensity": float(result.probdensity[i]),
        }
        if use_3d:
            row.update(
                searched_prob_vol=float(result.searched_prob_vol[i]),
                searched_vol=float(result.searched_vol[i]),
                probdensity_vol=float(result.probdensity_vol[i]),
                searched_prob_dist=float(result.searched_prob_dist[i]),
            )
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
        raise GwalertError(
            f"catalog {path}: row {n + 1} (line {pos.lines[n]}): dec {pos.dec[n]} is outside ±90°"
        )
    return pos.names, pos.ra, pos.dec, pos.distance


def write_catalog(rows: list[dict[str, Any]], path: str) -> None:
    """Every ranked row as CSV (the columns of the text table, with full precision)."""
    import csv
    import io

    from ..errors import GwalertError
    from ..safefiles import write_path

    keys = list(rows[0]) if rows else ["rank", "row"]
    try:
        buf = io.StringIO(newline="")
        w = csv.DictWriter(buf, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if v is None else v for k, v in r.items()})
        write_path(path, buf.getvalue().encode("utf-8"))
    except OSError as exc:
        raise GwalertError(f"cannot write {path}: {exc.strerror}") from None


# ------------------------------------------------------------------------------ output
def table_columns(levels: list[float]) -> list[str]:
    cols = ["file", "object", "ra", "dec", "distmean", "diststd"]
    for p in levels:
        cols.append(f"area({100 * p:g})")
    for p in levels:
        cols.append(f"vol({100 * p:g})")
    return cols


def table_row(r: dict[str, Any], levels: list[float]) -> str:
    def fmt(v: Any) -> str:
        if v is None:
            return ""
        return f"{v:.6g}" if isinstance(v, float) else str(v)

    cells = [
        r["file"],
        r.get("superevent_id") or r.get("object") or "",
        r["ra"],
        r["dec"],
        r.get("distmean"),
        r.get("diststd"),
    ]
    cells += [c["area"] for c in r["contours"]]
    cells += [c["volume"] for c in r["contours"]]
    return "\t".join(fmt(c) for c in cells) + "\n"


def report_text(r: dict[str, Any]) -> str:
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
        lines.append(
            f"  MOC ({100 * m['probability']:g}%): {m['cells']} cells, "
            f"{m['area']:,.1f} deg² -> {m['path']}"
        )
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
        lines.append(
            f"  {r['catalog_inside']} catalog row(s) inside the "
            f"{100 * r['contours'][-1]['probability']:g}% region"
        )
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
        line = (
            f"  {row['rank']:>3} {row['row']:>6} {name:<16} {row['ra']:>9.4f} {row['dec']:>+9.4f}"
        )
        if three_d:
            line += (
                f" {row['distance']:>8.1f} {row['searched_prob_vol']:>10.4f}"
                f" {row['searched_prob']:>10.4f} {row['probdensity_vol']:>15.4g}"
            )
        else:
            line += (
                f" {row['searched_prob']:>10.4f} {row['probdensity'] / (180 / math.pi) ** 2:>15.4g}"
            )
        out.append(line)
    return "\n".join(out)
