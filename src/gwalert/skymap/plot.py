"""An all-sky Mollweide picture of a sky map, with its credible contours.

The map is sampled on a regular RA/Dec grid straight from the multi-order rows (each grid point
looks up the row that contains it), never by flattening the map. Right ascension grows to the
left, as on the sky and in LVK's own plots. When the 90% region is small, an inset zooms on it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .healpix import SQDEG_PER_SR
from .inset import draw_inset, rgba_image
from .mollweide import SQRT2 as _SQRT2
from .mollweide import draw_galactic_plane, draw_graticule, mollweide, mollweide_inverse
from .zoom import (  # noqa: F401 - the zoom geometry, as callers have imported it from here
    no_zoom_reason,
    region_pixels,
    zoom_grid,
    zoom_wcs,
    zoom_window,
    zoom_windows,
)

if TYPE_CHECKING:
    from .map import SkyMap

#: Output formats chosen by the file name's extension.
FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}


@dataclass(frozen=True)
class Marker:
    """A position drawn on the plot: ``kind`` is "radec" (a user's mark), "galaxy" (a ranked
    catalog row), "sun" or "moon"."""

    ra: float
    dec: float
    label: str = ""
    kind: str = "radec"

    def style(self, small: bool = False) -> dict[str, Any]:
        size = {"radec": 11, "galaxy": 5, "sun": 13, "moon": 12}[self.kind] * (
            0.8 if small else 1.0
        )
        table: dict[str, dict[str, Any]] = {
            "radec": {"marker": "+", "color": "#30d158", "markeredgewidth": 2.0},
            "galaxy": {
                "marker": "o",
                "color": "none",
                "markeredgecolor": "#ff375f",
                "markeredgewidth": 1.0,
            },
            "sun": {"marker": "o", "color": "#ffd60a", "markeredgecolor": "black"},
            "moon": {"marker": "o", "color": "#d1d1d6", "markeredgecolor": "black"},
        }
        return table[self.kind] | {"markersize": size}


def plot_format(path: Any, strict: bool = True) -> str:
    """The output format named by ``path``'s extension (png, pdf or svg). Not ``strict``: PNG
    for a file object or a name without an extension."""
    from ..errors import GwalertError

    if not isinstance(path, str | os.PathLike):
        if strict:
            raise GwalertError("the picture's file name must end in .png, .pdf or .svg")
        return "png"
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if not ext and not strict:
        return "png"
    if ext not in FORMATS:
        raise GwalertError(
            f"{os.fspath(path)}: unknown picture format {ext or '(none)'!r}; "
            "use a .png, .pdf or .svg file name"
        )
    return FORMATS[ext]


def default_title(
    sm: SkyMap, event: str | None = None, alert_type: str | None = None, name: str | None = None
) -> str:
    """Event (or the map's OBJECT, or ``name``: the file it came from), alert type and
    distance."""
    parts = [event or sm.object or map_name(name) or "sky map"]
    if alert_type:
        text = str(alert_type)
        parts.append(text if "(" in text else text.upper())
    if sm.has_distance and sm.distmean is not None:
        std = f" ± {sm.diststd:.0f}" if sm.diststd is not None else ""
        parts.append(f"distance {sm.distmean:.0f}{std} Mpc")
    elif not sm.has_distance:
        parts.append("no distance (2-D map)")
    return " · ".join(parts)


def map_name(path: str | os.PathLike | None) -> str | None:
    """A sky-map file's name without its directory and FITS extensions."""
    if path is None or os.fspath(path) in ("", "-"):
        return None
    name = os.path.basename(os.fspath(path))
    for ext in (".gz", ".fz", ".fits", ".fit", ".multiorder"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
    return name or None


def plot(sm: SkyMap, path: Any, *, dpi: int = 120, **kwargs: Any) -> None:
    """Write :func:`figure` of ``sm`` to ``path`` (PNG, PDF or SVG by its extension; PNG for
    a file object or a name without one)."""
    fmt = plot_format(path, strict=False)
    fig = figure(sm, **kwargs)
    fig.savefig(
        path if not isinstance(path, str | os.PathLike) else os.fspath(path), dpi=dpi, format=fmt
    )


def figure(
    sm: SkyMap,
    *,
    event: str | None = None,
    alert_type: str | None = None,
    title: str | None = None,
    name: str | None = None,
    contours: Sequence[float] = (0.5, 0.9),
    marks: Sequence[Marker] = (),
    galactic_plane: bool = False,
    sun_moon: bool = False,
) -> Any:
    """A Mollweide picture of ``sm`` (a matplotlib Figure): density colour map, ``contours``
    credible regions, the most probable position, and a title naming event, alert type and
    distance. ``marks`` (positions, catalog galaxies) are drawn on the map and in the zoom;
    ``galactic_plane`` draws b = 0; ``sun_moon`` the Sun and Moon at the map's DATE-OBS. Zoom
    panels holding every contour are added when they fit (else the reason is written).

    The projection is computed here (each image pixel looks up the map row under it), and
    matplotlib only shows the finished image: a few tens of MB, whatever the map's order."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Ellipse

    levels = sorted(float(c) for c in contours)
    ra_best, dec_best = sm.most_probable()
    areas = [float(a) for a in np.atleast_1d(sm.credible_area(levels))] if levels else []
    windows = zoom_windows(sm, levels[-1]) if levels else None
    window = windows[0] if windows else None
    zoom = window is not None
    marks = list(marks)
    if sun_moon:
        marks += sun_and_moon(sm)

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
        xx, yy = np.meshgrid(xs, ys[i : i + 50])
        ra, dec, inside = mollweide_inverse(xx, yy)
        rows = np.asarray(sm.rows_at(ra, dec))
        ok = inside & (rows >= 0)
        density[i : i + 50] = np.where(ok, sm.probdensity[rows] / SQDEG_PER_SR, np.nan)
        level[i : i + 50] = np.where(ok, rank.searched_prob[rows], 1.0)
    extent = (-2 * _SQRT2, 2 * _SQRT2, -_SQRT2, _SQRT2)
    mappable = rgba_image(ax, density, extent, aspect="equal")
    styles = _contour_styles(levels)
    if levels:
        ax.contour(
            xs,
            ys,
            level,
            levels=levels,
            colors=[s[0] for s in styles],
            linewidths=[s[2] for s in styles],
            linestyles=[s[1] for s in styles],
        )
    draw_graticule(ax)
    ax.add_patch(Ellipse((0, 0), 4 * _SQRT2, 2 * _SQRT2, fill=False, color="black", lw=1.0))
    bx, by = mollweide(ra_best, dec_best)
    ax.plot(
        bx,
        by,
        marker="*",
        markersize=16,
        color="#ff3b30",
        markeredgecolor="white",
        markeredgewidth=1.0,
        linestyle="none",
    )
    if galactic_plane:
        draw_galactic_plane(ax)
    for m in marks:
        if m.kind == "galaxy" and window is not None:
            continue  # catalog rows crowd the region: drawn in the zoom
        mx, my = mollweide(m.ra, m.dec)
        ax.plot(mx, my, linestyle="none", **m.style())
        if m.label and m.kind == "radec":
            ax.annotate(
                m.label,
                (float(mx), float(my)),
                xytext=(5, 5),
                textcoords="offset points",
                color="white",
                fontsize=8,
            )
    ax.set_xlim(-2 * _SQRT2 - 0.02, 2 * _SQRT2 + 0.02)
    ax.set_ylim(-_SQRT2 - 0.02, _SQRT2 + 0.02)
    ax.set_axis_off()
    ax.text(
        0, -_SQRT2 - 0.12, "right ascension (grows to the left)", ha="center", va="top", fontsize=10
    )

    cax = fig.add_axes((0.12, 0.08, 0.36, 0.025))
    colorbar(fig, cax, mappable)

    # the styles' names come from _contour_styles, all matplotlib line styles
    handles = [
        Line2D(
            [],
            [],
            color=c,
            linestyle=ls,  # type: ignore[arg-type]
            linewidth=lw,
            label=f"{100 * p:g}% region: {a:,.0f} deg²",
        )
        for (c, ls, lw), p, a in zip(styles, levels, areas, strict=True)
    ]
    handles.append(
        Line2D(
            [],
            [],
            marker="*",
            color="#ff3b30",
            markeredgecolor="black",
            linestyle="none",
            markersize=12,
            label=f"most probable: RA {ra_best:.2f}°, Dec {dec_best:+.2f}°",
        )
    )
    seen = set()
    for m in marks:
        if m.kind in seen:
            continue
        seen.add(m.kind)
        label = {
            "radec": "marked position",
            "galaxy": "ranked catalog rows",
            "sun": m.label,
            "moon": m.label,
        }[m.kind]
        handles.append(Line2D([], [], linestyle="none", label=label, **m.style(small=True)))
    if galactic_plane:
        handles.append(
            Line2D(
                [], [], color="#bf5af2", linestyle="dotted", linewidth=1.4, label="Galactic plane"
            )
        )
    fig.legend(
        handles=handles,
        loc="lower right",
        bbox_to_anchor=(0.99, 0.02),
        fontsize=9,
        frameon=True,
        facecolor="#27345a",
        edgecolor="#27345a",
        labelcolor="white",
        framealpha=1.0,
    )
    fig.suptitle(title or default_title(sm, event, alert_type, name), fontsize=15, y=0.97)
    if sm.has_distance:
        fig.text(0.5, 0.905, _distance_line(sm), ha="center", fontsize=10)
    if windows:
        boxes = (
            [(0.755, 0.36, 0.20, 0.50)]
            if len(windows) == 1
            else [(0.775, 0.59, 0.17, 0.28), (0.775, 0.225, 0.17, 0.28)]
        )
        for n, (win, box) in enumerate(zip(windows, boxes, strict=False)):
            label = "" if len(windows) == 1 else f" {n + 1}/{len(windows)}"
            draw_inset(fig, sm, win, levels, styles, marks, box=box, label=label)
    elif levels:
        fig.text(  # top left, where the map leaves room (the legend holds the bottom right)
            0.01,
            0.87,
            "no zoom: " + no_zoom_reason(sm, levels[-1]),
            ha="left",
            va="top",
            fontsize=8,
            color="#555555",
        )
    return fig


def colorbar(fig: Any, cax: Any, mappable: Any) -> None:
    """A horizontal colorbar with at most five ticks written as short numbers, the power of
    ten in the label (``probability per deg² (×10⁻⁴)``): labels never run together."""
    import math

    from matplotlib.ticker import FuncFormatter, MaxNLocator

    cb = fig.colorbar(mappable, cax=cax, orientation="horizontal")
    vmax = float(mappable.norm.vmax or 1.0)
    power = math.floor(math.log10(vmax)) if vmax > 0 else 0
    power = 0 if -1 <= power <= 2 else power
    scale = 10.0**power
    cax.xaxis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]))
    cax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / scale:.4g}"))
    sup = str(power).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    cb.set_label("probability per deg²" + (f" (×10{sup})" if power else ""))


def sun_and_moon(sm: SkyMap) -> list[Marker]:
    """The Sun and Moon as seen from the Earth's centre (GCRS right ascension and declination:
    ICRS-aligned axes; a barycentric ICRS direction of the Sun would be meaningless) at the
    map's DATE-OBS; none without a date."""
    from astropy.coordinates import get_body
    from astropy.time import Time

    if not sm.date_obs:
        return []
    try:
        t = Time(sm.date_obs, scale="utc")
    except ValueError:
        return []
    from ..earth import installed_tables

    out = []
    for body in ("sun", "moon"):
        with installed_tables():
            c = get_body(body, t)
        out.append(
            Marker(
                float(c.ra.deg),
                float(c.dec.deg),
                f"{body.title()} at {t.utc.strftime('%Y-%m-%d %H:%M')} UTC",
                body,
            )
        )
    return out


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
