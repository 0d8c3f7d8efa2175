"""An all-sky Mollweide picture of a sky map, with its credible contours.

The map is sampled on a regular RA/Dec grid straight from the multi-order rows (each grid point
looks up the row that contains it), never by flattening the map. Right ascension grows to the
left, as on the sky and in LVK's own plots. When the 90% region is small, an inset zooms on it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import analysis

if TYPE_CHECKING:
    from .map import SkyMap

_ZOOM_BELOW_DEG2 = 2000.0


def _grid(sm: SkyMap, ra_range: tuple[float, float], dec_range: tuple[float, float],
          nx: int, ny: int) -> tuple[np.ndarray, ...]:
    """RA, Dec (degrees, cell centres) and per-cell density (deg^-2) and credible level."""
    ra = np.linspace(*ra_range, nx + 1)
    dec = np.linspace(*dec_range, ny + 1)
    rac = 0.5 * (ra[1:] + ra[:-1])
    decc = 0.5 * (dec[1:] + dec[:-1])
    rr, dd = np.meshgrid(rac % 360.0, decc)
    rows = analysis.rows_at(sm, rr, dd)
    rank = analysis._ranking(sm)
    density = np.where(rows >= 0, sm.probdensity[rows], np.nan) / analysis.SQDEG_PER_SR
    level = np.where(rows >= 0, rank.searched_prob[rows], 1.0)
    return ra, dec, rac, decc, density, level


def _x(ra_deg: Any) -> np.ndarray:
    """Mollweide abscissa (radians) of RA in degrees, RA = 180° in the middle, growing left."""
    return np.radians(180.0 - np.asarray(ra_deg, float))


def default_title(sm: SkyMap, event: str | None = None, alert_type: str | None = None) -> str:
    parts = [event or sm.object or "sky map"]
    if alert_type:
        parts.append(str(alert_type).upper())
    if sm.has_distance and sm.distmean is not None:
        std = f" ± {sm.diststd:.0f}" if sm.diststd is not None else ""
        parts.append(f"distance {sm.distmean:.0f}{std} Mpc")
    elif not sm.has_distance:
        parts.append("no distance (2-D map)")
    return " · ".join(parts)


def plot(sm: SkyMap, path: str | os.PathLike, *, event: str | None = None,
         alert_type: str | None = None, title: str | None = None,
         contours: Sequence[float] = (0.5, 0.9), dpi: int = 120) -> None:
    """Write a Mollweide PNG of ``sm`` to ``path``: density colour map, ``contours`` credible
    regions, the most probable position, and a title naming event, alert type and distance."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    levels = sorted(float(c) for c in contours)
    ra_best, dec_best = sm.most_probable()
    areas = [float(a) for a in np.atleast_1d(sm.credible_area(levels))] if levels else []

    zoom = bool(levels) and areas[-1] < _ZOOM_BELOW_DEG2
    fig = Figure(figsize=(12, 6.6))
    FigureCanvasAgg(fig)
    main_box = (0.07, 0.17, 0.68, 0.70) if zoom else (0.08, 0.17, 0.84, 0.70)
    ax = fig.add_axes(main_box, projection="mollweide")
    ra, dec, rac, decc, density, level = _grid(sm, (0.0, 360.0), (-90.0, 90.0), 960, 480)
    # pcolormesh wants increasing x: reverse the RA axis (x = 180° - RA).
    x_edges = _x(ra)[::-1]
    mesh = ax.pcolormesh(x_edges, np.radians(dec), density[:, ::-1], cmap="cividis",
                         shading="flat", rasterized=True)
    styles = _contour_styles(levels)
    if levels:
        ax.contour(_x(rac)[::-1], np.radians(decc), level[:, ::-1], levels=levels,
                   colors=[s[0] for s in styles], linewidths=[s[2] for s in styles],
                   linestyles=[s[1] for s in styles])
    ax.plot(_x(ra_best), math.radians(dec_best), marker="*", markersize=16, color="#ff3b30",
            markeredgecolor="white", markeredgewidth=1.0, linestyle="none")
    ax.grid(True, color="white", alpha=0.35, linewidth=0.6)
    ticks = np.arange(30, 360, 30)
    ax.set_xticks(_x(ticks))
    ax.set_xticklabels([f"{t // 15}h" for t in ticks], color="white", fontsize=9)
    ax.set_yticks(np.radians(np.arange(-60, 61, 30)))
    ax.set_yticklabels([f"{d:+d}°" for d in range(-60, 61, 30)], fontsize=9)
    ax.set_xlabel("right ascension (grows to the left)")
    ax.set_ylabel("declination")

    cax = fig.add_axes((0.12, 0.08, 0.36, 0.025))
    cb = fig.colorbar(mesh, cax=cax, orientation="horizontal")
    cb.set_label("probability per deg²")

    handles = [Line2D([], [], color=c, linestyle=ls, linewidth=lw,
                      label=f"{100 * p:g}% region: {a:,.0f} deg²")
               for (c, ls, lw), p, a in zip(styles, levels, areas, strict=True)]
    handles.append(Line2D([], [], marker="*", color="#ff3b30", markeredgecolor="black",
                          linestyle="none", markersize=12,
                          label=f"most probable: RA {ra_best:.2f}°, Dec {dec_best:+.2f}°"))
    fig.legend(handles=handles, loc="lower right", bbox_to_anchor=(0.99, 0.02), fontsize=9,
               frameon=True, facecolor="#27345a", edgecolor="#27345a", labelcolor="white",
               framealpha=1.0)
    fig.suptitle(title or default_title(sm, event, alert_type), fontsize=15, y=0.97)
    if sm.has_distance:
        fig.text(0.5, 0.905, _distance_line(sm), ha="center", fontsize=10)

    if zoom:
        _inset(fig, sm, ra_best, dec_best, levels, styles, areas[-1])
    fig.savefig(os.fspath(path), dpi=dpi, format="png")


def _distance_line(sm: SkyMap) -> str:
    text = []
    try:
        vol = sm.credible_volume(0.9)
        text.append(f"90% volume {vol:,.3g} Mpc³")
    except Exception:  # noqa: BLE001 - a caption is not worth failing the picture for
        pass
    if sm.distmean is None:
        mean, std = sm.distance_moments()
        text.insert(0, f"distance {mean:.0f} ± {std:.0f} Mpc (from the map)")
    return " · ".join(text)


def _contour_styles(levels: Sequence[float]) -> list[tuple[str, str, float]]:
    palette = [("#ffffff", "solid", 1.6), ("#ff9f0a", "solid", 1.6), ("#64d2ff", "dashed", 1.4)]
    # Innermost (smallest p) first: white solid, then orange, then dashed blue.
    return [palette[min(i, len(palette) - 1)] for i in range(len(levels))]


def _inset(fig: Any, sm: SkyMap, ra0: float, dec0: float, levels: Sequence[float],
           styles: list[tuple[str, str, float]], area90: float) -> None:
    """A zoom on the credible region (plain RA/Dec axes, RA growing left)."""
    from matplotlib.ticker import FuncFormatter

    half = max(3.0, 1.5 * math.sqrt(area90))
    half = min(half, 40.0)
    dec_lo, dec_hi = max(-90.0, dec0 - half), min(90.0, dec0 + half)
    cosd = max(math.cos(math.radians(dec0)), 0.15)
    ra_half = min(half / cosd, 180.0)
    ra, dec, rac, decc, density, level = _grid(sm, (ra0 - ra_half, ra0 + ra_half),
                                               (dec_lo, dec_hi), 400, 400)
    ax = fig.add_axes((0.80, 0.36, 0.18, 0.50))
    ax.pcolormesh(ra, dec, density, cmap="cividis", shading="flat", rasterized=True)
    ax.contour(rac, decc, level, levels=list(levels), colors=[s[0] for s in styles],
               linestyles=[s[1] for s in styles], linewidths=[s[2] for s in styles])
    ax.plot(ra0, dec0, marker="*", markersize=12, color="#ff3b30", markeredgecolor="white",
            linestyle="none")
    ax.set_xlim(ra0 + ra_half, ra0 - ra_half)
    ax.set_ylim(dec_lo, dec_hi)
    ax.set_title("zoom on the region", fontsize=9)
    ax.set_xlabel("RA (°)", fontsize=8)
    ax.set_ylabel("Dec (°)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v % 360:.0f}"))
