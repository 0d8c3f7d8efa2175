"""A picture of a plan: the fields over the sky map (density with 50%/90% contours), and the
cumulative probability along the plan (over the night's timeline when scheduled)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from .coverage import field_frames
from .footprints import Footprint

if TYPE_CHECKING:
    from ..skymap import SkyMap


def outline(fp: Footprint, ra: float, dec: float, n: int = 24) -> list[tuple[Any, Any]]:
    """(RA, Dec) in degrees of each footprint's boundary, pointed at (ra, dec)."""
    frame = field_frames(np.array([ra]), np.array([dec]))[0]
    loops = []
    if fp.radius is not None:
        t = np.linspace(0, 2 * np.pi, 4 * n)
        r = np.tan(np.radians(fp.radius))
        local = np.column_stack([r * np.cos(t), r * np.sin(t), np.ones_like(t)])
        loops.append(local)
    else:
        for p in fp.polygons:
            q = np.radians(np.vstack([p, p[:1]]))
            pts = [
                q[k] + (q[k + 1] - q[k]) * s for k in range(len(p)) for s in np.linspace(0, 1, n)
            ]
            pts_a = np.array(pts)
            loops.append(np.column_stack([pts_a, np.ones(len(pts_a))]))
    out = []
    for local in loops:
        v = (local / np.linalg.norm(local, axis=1, keepdims=True)) @ frame
        out.append(
            (
                np.degrees(np.arctan2(v[:, 1], v[:, 0])) % 360,
                np.degrees(np.arcsin(np.clip(v[:, 2], -1, 1))),
            )
        )
    return out


def plot(
    sm: SkyMap,
    fp: Footprint,
    report: dict[str, Any],
    path: Any,
    *,
    title: str = "",
) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ..skymap.plot import plot_format

    fmt = plot_format(path, strict=isinstance(path, str | os.PathLike))
    tiles = report.get("tiles") or []
    fig = Figure(figsize=(12, 5.5))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.06, 0.11, 0.5, 0.8))
    ra0, dec0 = sm.most_probable()
    if tiles:
        ra0 = float(
            np.degrees(np.angle(np.mean(np.exp(1j * np.radians([t["ra"] for t in tiles])))))
        )
    width = 60.0
    if tiles:
        off = ((np.array([t["ra"] for t in tiles]) - ra0 + 180) % 360) - 180
        width = float(min(360, max(20, 2 * np.max(np.abs(off)) + 4 * fp.circumradius)))
    decs = [t["dec"] for t in tiles] or [dec0]
    lo = max(-90.0, min(decs) - 2 * fp.circumradius - 5)
    hi = min(90.0, max(decs) + 2 * fp.circumradius + 5)
    gx = np.linspace(-width / 2, width / 2, 360)
    gy = np.linspace(lo, hi, 240)
    xx, yy = np.meshgrid(gx, gy)
    rr = (ra0 + xx) % 360
    dens = np.asarray(sm.probdensity_at(rr, yy), float)
    level = np.asarray(sm.searched_prob(rr, yy), float)
    ax.imshow(dens, origin="lower", extent=(gx[0], gx[-1], lo, hi), aspect="auto", cmap="Blues")
    ax.contour(xx, yy, level, levels=[0.5, 0.9], colors=["#ff9f0a", "#ff375f"], linewidths=1)
    for k, t in enumerate(tiles, 1):
        for a, d in outline(fp, t["ra"], t["dec"]):
            x = ((a - ra0 + 180) % 360) - 180
            jump = np.abs(np.diff(x)) > 180
            x = np.where(np.concatenate([[False], np.cumsum(jump) % 2 == 1]), np.nan, x)
            ax.plot(x, d, color="#30d158", lw=0.8)
        if k <= 30:
            ax.text(((t["ra"] - ra0 + 180) % 360) - 180, t["dec"], str(k), fontsize=6,
                    ha="center", va="center")  # fmt: skip
    ax.set_xlim(width / 2, -width / 2)  # RA increases to the left
    ax.set_ylim(lo, hi)
    ax.set_xlabel(f"RA offset from {ra0 % 360:.1f}° (deg)")
    ax.set_ylabel("Dec (deg)")
    ax.set_title(title or "fields with 50% / 90% contours", fontsize=10)

    ax2 = fig.add_axes((0.64, 0.11, 0.33, 0.8))
    exposures = report.get("exposures")
    if exposures:
        from datetime import datetime

        t = [datetime.fromisoformat(e["start"].rstrip("Z")) for e in exposures]
        ax2.step(t, [100 * e["cumulative"] for e in exposures], where="post", color="#0a84ff")
        ax2.set_xlabel(f"UTC, night of {report.get('night_start', '')[:10]}")
        for edge in (report["night_start"], report["night_end"]):
            when: Any = datetime.fromisoformat(edge.rstrip("Z"))
            ax2.axvline(when, color="grey", lw=0.5)
        from matplotlib.dates import DateFormatter

        ax2.xaxis.set_major_formatter(DateFormatter("%H:%M"))
    else:
        ax2.plot(range(1, len(tiles) + 1), [100 * t["cumulative"] for t in tiles], marker=".")
        ax2.set_xlabel("fields")
    ax2.set_ylabel("cumulative probability (%)")
    ax2.grid(alpha=0.3)
    fig.savefig(path, format=fmt, dpi=110)
