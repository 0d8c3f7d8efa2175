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

from .healpix import SQDEG_PER_SR

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
    rows = np.asarray(sm.rows_at(rr, dd))
    rank = sm.ranking
    density = np.where(rows >= 0, sm.probdensity[rows], np.nan) / SQDEG_PER_SR
    level = np.where(rows >= 0, rank.searched_prob[rows], 1.0)
    return ra, dec, rac, decc, density, level


def default_title(sm: SkyMap, event: str | None = None, alert_type: str | None = None) -> str:
    parts = [event or sm.object or "sky map"]
    if alert_type:
        text = str(alert_type)
        parts.append(text if "(" in text else text.upper())
    if sm.has_distance and sm.distmean is not None:
        std = f" ± {sm.diststd:.0f}" if sm.diststd is not None else ""
        parts.append(f"distance {sm.distmean:.0f}{std} Mpc")
    elif not sm.has_distance:
        parts.append("no distance (2-D map)")
    return " · ".join(parts)


_SQRT2 = math.sqrt(2.0)


def _mollweide_inverse(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(RA, Dec) in degrees of projected points, and a mask of points on the sphere."""
    theta = np.arcsin(np.clip(y / _SQRT2, -1, 1))
    lat = np.arcsin(np.clip((2 * theta + np.sin(2 * theta)) / math.pi, -1, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        lon = math.pi * x / (2 * _SQRT2 * np.cos(theta))
    inside = np.abs(lon) <= math.pi
    return (180.0 - np.degrees(np.where(inside, lon, 0.0))) % 360.0, np.degrees(lat), inside


def _mollweide(ra_deg: Any, dec_deg: Any) -> tuple[np.ndarray, np.ndarray]:
    """Projected (x, y) of (RA, Dec) in degrees, RA = 180° in the middle growing left."""
    lon = np.radians(180.0 - np.asarray(ra_deg, float))
    lat = np.radians(np.asarray(dec_deg, float))
    theta = lat.copy()
    target = math.pi * np.sin(lat)
    for _ in range(30):  # Newton on 2 theta + sin 2 theta = pi sin(lat)
        f = 2 * theta + np.sin(2 * theta) - target
        d = 2 + 2 * np.cos(2 * theta)
        theta = np.where(d > 1e-12, theta - f / np.where(d > 1e-12, d, 1.0), theta)
    return 2 * _SQRT2 / math.pi * lon * np.cos(theta), _SQRT2 * np.sin(theta)


def plot(sm: SkyMap, path: str | os.PathLike, *, event: str | None = None,
         alert_type: str | None = None, title: str | None = None,
         contours: Sequence[float] = (0.5, 0.9), dpi: int = 120) -> None:
    """Write a Mollweide PNG of ``sm`` to ``path``: density colour map, ``contours`` credible
    regions, the most probable position, and a title naming event, alert type and distance.

    The projection is computed here (each image pixel looks up the map row under it), and
    matplotlib only shows the finished image: a few tens of MB, whatever the map's order."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Ellipse

    levels = sorted(float(c) for c in contours)
    ra_best, dec_best = sm.most_probable()
    areas = [float(a) for a in np.atleast_1d(sm.credible_area(levels))] if levels else []
    zoom = bool(levels) and areas[-1] < _ZOOM_BELOW_DEG2

    fig = Figure(figsize=(12, 6.6))
    FigureCanvasAgg(fig)
    main_box = (0.07, 0.17, 0.68, 0.70) if zoom else (0.08, 0.17, 0.84, 0.70)
    ax = fig.add_axes(main_box)
    w, h = 1000, 500
    xs = (np.arange(w) + 0.5) / w * 4 * _SQRT2 - 2 * _SQRT2
    ys = (np.arange(h) + 0.5) / h * 2 * _SQRT2 - _SQRT2
    density = np.empty((h, w), np.float32)
    level = np.empty((h, w), np.float32)
    rank = sm.ranking
    for i in range(0, h, 50):  # a band of image rows at a time: bounded temporaries
        xx, yy = np.meshgrid(xs, ys[i:i + 50])
        ra, dec, inside = _mollweide_inverse(xx, yy)
        rows = np.asarray(sm.rows_at(ra, dec))
        ok = inside & (rows >= 0)
        density[i:i + 50] = np.where(ok, sm.probdensity[rows] / SQDEG_PER_SR, np.nan)
        level[i:i + 50] = np.where(ok, rank.searched_prob[rows], 1.0)
    extent = (-2 * _SQRT2, 2 * _SQRT2, -_SQRT2, _SQRT2)
    mappable = _rgba_image(ax, density, extent, aspect="equal")
    styles = _contour_styles(levels)
    if levels:
        ax.contour(xs, ys, level, levels=levels, colors=[s[0] for s in styles],
                   linewidths=[s[2] for s in styles], linestyles=[s[1] for s in styles])
    _graticule(ax)
    ax.add_patch(Ellipse((0, 0), 4 * _SQRT2, 2 * _SQRT2, fill=False, color="black", lw=1.0))
    bx, by = _mollweide(ra_best, dec_best)
    ax.plot(bx, by, marker="*", markersize=16, color="#ff3b30", markeredgecolor="white",
            markeredgewidth=1.0, linestyle="none")
    ax.set_xlim(-2 * _SQRT2 - 0.02, 2 * _SQRT2 + 0.02)
    ax.set_ylim(-_SQRT2 - 0.02, _SQRT2 + 0.02)
    ax.set_axis_off()
    ax.text(0, -_SQRT2 - 0.12, "right ascension (grows to the left)", ha="center", va="top",
            fontsize=10)

    cax = fig.add_axes((0.12, 0.08, 0.36, 0.025))
    cb = fig.colorbar(mappable, cax=cax, orientation="horizontal")
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


def _rgba_image(ax: Any, density: np.ndarray, extent: tuple[float, ...], aspect: str) -> Any:
    """Show ``density`` as a ready-made RGBA uint8 image (NaN transparent): matplotlib's own
    resampling of float images costs several times the memory. Returns the colour mapping."""
    import matplotlib
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    finite = density[np.isfinite(density)]
    vmax = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    mappable = ScalarMappable(norm=Normalize(0.0, vmax), cmap=matplotlib.colormaps["cividis"])
    rgba = np.zeros(density.shape + (4,), np.uint8)
    for i in range(0, density.shape[0], 50):
        band = density[i:i + 50]
        rgba[i:i + 50] = mappable.to_rgba(np.nan_to_num(band, nan=0.0), bytes=True)
        rgba[i:i + 50, :, 3] = np.where(np.isfinite(band), 255, 0)
    ax.imshow(rgba, origin="lower", extent=extent, interpolation="nearest", aspect=aspect)
    return mappable


def _graticule(ax: Any) -> None:
    style = {"color": "white", "alpha": 0.35, "linewidth": 0.6}
    dec = np.linspace(-90, 90, 181)
    for ra in range(0, 360, 30):
        x, y = _mollweide(np.full(dec.size, float(ra)), dec)
        ax.plot(x, y, **style)
    ra = np.linspace(0, 360, 361)
    for d in range(-60, 61, 30):
        x, y = _mollweide(ra, np.full(ra.size, float(d)))
        ax.plot(x, y, **style)
        lx, ly = _mollweide(359.999, d)
        ax.text(float(lx) - 0.05, float(ly), f"{d:+d}°", ha="right", va="center", fontsize=9)
    for ra_t in range(30, 360, 30):
        x, y = _mollweide(ra_t, 0.0)
        ax.text(float(x), float(y) + 0.03, f"{ra_t // 15}h", ha="center", va="bottom",
                color="white", fontsize=9)


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
    _rgba_image(ax, density.astype(np.float32), (ra[0], ra[-1], dec[0], dec[-1]), "auto")
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
