"""An all-sky Mollweide picture of a sky map, with its credible contours.

The map is sampled on a regular RA/Dec grid straight from the multi-order rows (each grid point
looks up the row that contains it), never by flattening the map. Right ascension grows to the
left, as on the sky and in LVK's own plots. When the 90% region is small, an inset zooms on it.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .healpix import SQDEG_PER_SR

if TYPE_CHECKING:
    from .map import SkyMap

#: A zoom panel is drawn when the largest contour fits in a cone of this radius (degrees).
_ZOOM_MAX_RADIUS = 80.0
#: Up to this radius the panel is gnomonic (``astro zoom``), beyond it orthographic (a globe).
_GNOMONIC_MAX_RADIUS = 40.0
#: At most this many zoom panels (one per separate part of the region).
_MAX_PANELS = 2
#: Parts of a region are found on a grid of this HEALPix order (about 3.7°).
_PART_ORDER = 4
#: The zoom's half-width is this many times the cone's radius.
_ZOOM_MARGIN = 1.12
_ZOOM_PIXELS = 400
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


def plot(
    sm: SkyMap,
    path: Any,
    *,
    event: str | None = None,
    alert_type: str | None = None,
    title: str | None = None,
    contours: Sequence[float] = (0.5, 0.9),
    dpi: int = 120,
    marks: Sequence[Marker] = (),
    galactic_plane: bool = False,
    sun_moon: bool = False,
) -> None:
    """Write a Mollweide picture of ``sm`` to ``path`` (PNG, PDF or SVG by its extension):
    density colour map, ``contours`` credible regions, the most probable position, and a title
    naming event, alert type and distance. ``marks`` (positions, catalog galaxies) are drawn
    on the map and in the zoom; ``galactic_plane`` draws b = 0; ``sun_moon`` the Sun and Moon
    at the map's DATE-OBS. A gnomonic zoom holding every contour is added when they fit.

    The projection is computed here (each image pixel looks up the map row under it), and
    matplotlib only shows the finished image: a few tens of MB, whatever the map's order."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Ellipse

    fmt = plot_format(path, strict=False)
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
        ra, dec, inside = _mollweide_inverse(xx, yy)
        rows = np.asarray(sm.rows_at(ra, dec))
        ok = inside & (rows >= 0)
        density[i : i + 50] = np.where(ok, sm.probdensity[rows] / SQDEG_PER_SR, np.nan)
        level[i : i + 50] = np.where(ok, rank.searched_prob[rows], 1.0)
    extent = (-2 * _SQRT2, 2 * _SQRT2, -_SQRT2, _SQRT2)
    mappable = _rgba_image(ax, density, extent, aspect="equal")
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
    _graticule(ax)
    ax.add_patch(Ellipse((0, 0), 4 * _SQRT2, 2 * _SQRT2, fill=False, color="black", lw=1.0))
    bx, by = _mollweide(ra_best, dec_best)
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
        _galactic_plane(ax)
    for m in marks:
        if m.kind == "galaxy" and window is not None:
            continue  # catalog rows crowd the region: drawn in the zoom
        mx, my = _mollweide(m.ra, m.dec)
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
    cb = fig.colorbar(mappable, cax=cax, orientation="horizontal")
    cb.set_label("probability per deg²")

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
    fig.suptitle(title or default_title(sm, event, alert_type), fontsize=15, y=0.97)
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
            _inset(fig, sm, win, levels, styles, marks, box=box, label=label)
    elif levels:
        fig.text(
            0.50,
            0.09,
            f"no zoom: the {100 * levels[-1]:g}% region spreads over\nmore than a hemisphere",
            ha="left",
            va="center",
            fontsize=8,
            color="#555555",
        )
    fig.savefig(
        path if not isinstance(path, str | os.PathLike) else os.fspath(path), dpi=dpi, format=fmt
    )


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


def galactic_plane_radec(n: int = 721) -> tuple[np.ndarray, np.ndarray]:
    """RA, Dec (degrees, ICRS) along Galactic latitude 0."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    c = SkyCoord(l=np.linspace(0, 360, n) * u.deg, b=np.zeros(n) * u.deg, frame="galactic")
    icrs = c.icrs
    return np.asarray(icrs.ra.deg), np.asarray(icrs.dec.deg)


def _galactic_plane(ax: Any) -> None:
    ra, dec = galactic_plane_radec()
    x, y = _mollweide(ra, dec)
    jump = np.flatnonzero(np.abs(np.diff(x)) > 1.0) + 1  # the line crosses the map's edge
    x = np.insert(x, jump, np.nan)
    y = np.insert(y, jump, np.nan)
    ax.plot(x, y, color="#bf5af2", linestyle="dotted", linewidth=1.4)


def _rgba_image(ax: Any, density: np.ndarray, extent: tuple[float, ...] | None, aspect: str) -> Any:
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
        band = density[i : i + 50]
        rgba[i : i + 50] = mappable.to_rgba(np.nan_to_num(band, nan=0.0), bytes=True)
        rgba[i : i + 50, :, 3] = np.where(np.isfinite(band), 255, 0)
    ax.imshow(rgba, origin="lower", extent=extent, interpolation="nearest", aspect=aspect)
    return mappable


def _graticule(ax: Any) -> None:
    style = {"color": "white", "alpha": 0.35, "linewidth": 0.6}
    dec = np.linspace(-90, 90, 181)
    for ra in range(0, 360, 30):
        x, y = _mollweide(np.full(dec.size, float(ra)), dec)
        ax.plot(x, y, **style)
    ras = np.linspace(0, 360, 361)
    for d in range(-60, 61, 30):
        x, y = _mollweide(ras, np.full(ras.size, float(d)))
        ax.plot(x, y, **style)
        lx, ly = _mollweide(359.999, d)
        ax.text(float(lx) - 0.05, float(ly), f"{d:+d}°", ha="right", va="center", fontsize=9)
    for ra_t in range(30, 360, 30):
        x, y = _mollweide(ra_t, 0.0)
        ax.text(
            float(x),
            float(y) + 0.03,
            f"{ra_t // 15}h",
            ha="center",
            va="bottom",
            color="white",
            fontsize=9,
        )


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


def _region(sm: SkyMap, p: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows of the ``p`` credible region (every pixel even partly inside it): their
    probability, nested index and nside."""
    from .healpix import uniq_to_level_ipix

    rank = sm.ranking
    prob = sm.prob
    rows = np.flatnonzero(rank.searched_prob - prob < p)
    level, ipix = uniq_to_level_ipix(sm.uniq[rows])
    return rows, prob[rows], ipix, np.left_shift(1, level)


def _cone(
    prob: np.ndarray, ipix: np.ndarray, nside: np.ndarray
) -> tuple[float, float, float] | None:
    """(RA, Dec, radius) of the smallest cone around the probability-weighted mean direction
    that holds every corner of the given pixels; None if the mean direction is undefined."""
    from astropy_healpix import healpix_to_lonlat

    lon, lat = healpix_to_lonlat(ipix, nside, order="nested")
    vec = _unit(np.asarray(lon.rad), np.asarray(lat.rad))
    mean = (vec * prob[:, None]).sum(axis=0)
    norm = float(np.linalg.norm(mean))
    if norm < 1e-9 * max(float(prob.sum()), 1e-300):  # balanced on opposite sides
        return None
    mean /= norm
    cos_max = 1.0
    for dx, dy in ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)):
        clon, clat = healpix_to_lonlat(ipix, nside, dx=dx, dy=dy, order="nested")
        corners = _unit(np.asarray(clon.rad), np.asarray(clat.rad))
        cos_max = min(cos_max, float((corners @ mean).min()))
    radius = math.degrees(math.acos(max(-1.0, min(1.0, cos_max))))
    ra = math.degrees(math.atan2(mean[1], mean[0])) % 360.0
    dec = math.degrees(math.asin(max(-1.0, min(1.0, mean[2]))))
    return ra, dec, radius


def zoom_window(sm: SkyMap, p: float) -> tuple[float, float, float] | None:
    """(RA, Dec, radius) in degrees of a cone that holds the whole ``p`` credible region
    (every mode, every pixel that is even partly inside it), or None when no one panel can
    show it (a region wider than ``_ZOOM_MAX_RADIUS``).

    The centre is the probability-weighted mean direction of the region's pixels; the radius
    reaches the farthest corner of any of those pixels."""
    rows, prob, ipix, nside = _region(sm, p)
    if rows.size == 0:
        return None
    cone = _cone(prob, ipix, nside)
    return cone if cone is not None and cone[2] <= _ZOOM_MAX_RADIUS else None


def zoom_windows(
    sm: SkyMap, p: float, most: int = _MAX_PANELS
) -> list[tuple[float, float, float]] | None:
    """One cone per separate part (mode) of the ``p`` credible region, most probable first:
    together they hold every pixel of the region, and no cone's panel reaches into another
    part (parts whose panels would overlap are merged). None when that needs more than
    ``most`` panels or a part is wider than ``_ZOOM_MAX_RADIUS``."""
    single = zoom_window(sm, p)
    if single is not None and single[2] <= _GNOMONIC_MAX_RADIUS:
        return [single]
    rows, prob, ipix, nside = _region(sm, p)
    if rows.size == 0:
        return None
    groups = _parts(ipix, nside)
    while True:
        found = [_cone(prob[g], ipix[g], nside[g]) for g in groups]
        cones = [c for c in found if c is not None and c[2] <= _ZOOM_MAX_RADIUS]
        if len(cones) < len(found):
            return [single] if single is not None else None
        merged = _merge_overlapping(groups, cones)
        if merged is None:
            break
        groups = merged
    if len(groups) > most:
        return [single] if single is not None else None
    if single is not None and len(groups) == 1:
        return [single]
    weight = [float(prob[g].sum()) for g in groups]
    return [c for _, c in sorted(zip(weight, cones, strict=True), key=lambda wc: -wc[0])]


def _parts(ipix: np.ndarray, nside: np.ndarray, order: int = _PART_ORDER) -> list[np.ndarray]:
    """Indices of the pixels grouped by connected part, on a coarse grid (HEALPix order
    ``order``, neighbours by edge or corner)."""
    from astropy_healpix import neighbours

    level = np.log2(nside).astype(np.int64)
    coarse = np.where(level >= order, ipix >> (2 * np.maximum(level - order, 0)), -1)
    fine = level < order  # a pixel coarser than the grid covers several grid cells
    cells: dict[int, list[int]] = {}
    for i in np.flatnonzero(~fine):
        cells.setdefault(int(coarse[i]), []).append(int(i))
    for i in np.flatnonzero(fine):
        shift = 2 * (order - int(level[i]))
        first = int(ipix[i]) << shift
        for c in range(first, first + (1 << shift)):
            cells.setdefault(c, []).append(int(i))
    keys = np.fromiter(cells, np.int64)
    with warnings.catch_warnings():  # -1 marks the missing neighbours at base-pixel corners
        warnings.simplefilter("ignore", RuntimeWarning)
        nb = neighbours(keys, 1 << order, order="nested")  # (8, n)
    index = {int(k): j for j, k in enumerate(keys)}
    part = -np.ones(keys.size, np.int64)
    groups: list[np.ndarray] = []
    for start in range(keys.size):
        if part[start] >= 0:
            continue
        label = len(groups)
        part[start] = label
        todo, members = [start], []
        while todo:
            j = todo.pop()
            members.append(j)
            for n in nb[:, j]:
                k = index.get(int(n))
                if k is not None and part[k] < 0:
                    part[k] = label
                    todo.append(k)
        pix = sorted({i for j in members for i in cells[int(keys[j])]})
        groups.append(np.asarray(pix, np.int64))
    return groups


def _reach(radius: float) -> float:
    """How far (degrees) from its centre the panel of a cone of ``radius`` shows the sky:
    the corners of a gnomonic square, the rim of an orthographic disc."""
    half = min(radius * _ZOOM_MARGIN + 0.05, 89.0)
    if radius <= _GNOMONIC_MAX_RADIUS:
        return math.degrees(math.atan(math.sqrt(2) * math.tan(math.radians(half))))
    return half


def _merge_overlapping(
    groups: list[np.ndarray], cones: list[tuple[float, float, float]]
) -> list[np.ndarray] | None:
    """Groups with the first overlapping pair of panels merged, or None if none overlap."""
    vec = [_unit(np.radians(c[0]), np.radians(c[1])) for c in cones]
    for i in range(len(groups)):
        for j in range(i + 1, len(groups)):
            sep = math.degrees(math.acos(max(-1.0, min(1.0, float(vec[i] @ vec[j])))))
            ri, rj = cones[i][2], cones[j][2]
            if sep < max(_reach(ri) + rj, _reach(rj) + ri) + 1.0:
                rest = [g for k, g in enumerate(groups) if k not in (i, j)]
                return [np.concatenate([groups[i], groups[j]]), *rest]
    return None


def _unit(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    cl = np.cos(lat)
    return np.stack([cl * np.cos(lon), cl * np.sin(lon), np.sin(lat)], axis=-1)


def zoom_wcs(ra: float, dec: float, radius: float, npix: int = _ZOOM_PIXELS) -> Any:
    """A WCS centred on (ra, dec), north up, east (RA) to the left, whose square image holds
    the cone of ``radius`` degrees with a margin: gnomonic (TAN) for cones up to
    ``_GNOMONIC_MAX_RADIUS``, else orthographic (SIN, a globe)."""
    from astropy.wcs import WCS

    reach = math.radians(min(radius * _ZOOM_MARGIN + 0.05, 89.0))
    if radius <= _GNOMONIC_MAX_RADIUS:
        proj, half = "TAN", math.degrees(math.tan(reach))
    else:
        proj, half = "SIN", math.degrees(math.sin(reach))
    w = WCS(naxis=2)
    w.wcs.ctype = [f"RA---{proj}", f"DEC--{proj}"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [(npix + 1) / 2.0, (npix + 1) / 2.0]
    w.wcs.cdelt = [-2.0 * half / npix, 2.0 * half / npix]
    w.wcs.radesys = "ICRS"
    w.array_shape = (npix, npix)
    return w


def zoom_grid(sm: SkyMap, wcs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-image-pixel density (deg^-2, NaN off the map) and credible level of a zoom WCS."""
    ny, nx = wcs.array_shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    ra, dec = wcs.pixel_to_world_values(xx.astype(float), yy.astype(float))
    ok = np.isfinite(ra) & np.isfinite(dec)  # off the globe of an orthographic panel
    rows = np.full(ra.shape, -1, np.int64)
    rows[ok] = np.asarray(sm.rows_at(np.mod(ra[ok], 360.0), np.clip(dec[ok], -90.0, 90.0)))
    rank = sm.ranking
    density = np.where(rows >= 0, sm.probdensity[rows], np.nan) / SQDEG_PER_SR
    level = np.where(rows >= 0, rank.searched_prob[rows], 1.0)
    return density.astype(np.float32), level


def _inset(
    fig: Any,
    sm: SkyMap,
    window: tuple[float, float, float],
    levels: Sequence[float],
    styles: list[tuple[str, str, float]],
    marks: Sequence[Marker] = (),
    *,
    box: tuple[float, float, float, float] = (0.755, 0.36, 0.20, 0.50),
    label: str = "",
) -> Any:
    """A gnomonic zoom (as ligo.skymap's ``astro zoom``) that holds every requested contour:
    RA in hours growing to the left, true shapes at any declination."""
    import astropy.units as u

    wcs = zoom_wcs(*window)
    density, level = zoom_grid(sm, wcs)
    ax = fig.add_axes(box, projection=wcs)
    _rgba_image(ax, density, None, "equal")
    ax.contour(
        level,
        levels=list(levels),
        colors=[s[0] for s in styles],
        linestyles=[s[1] for s in styles],
        linewidths=[s[2] for s in styles],
    )
    world = ax.get_transform("world")
    ra0, dec0 = sm.most_probable()
    for m in marks:
        ax.plot(m.ra, m.dec, transform=world, linestyle="none", **m.style(small=True))
    ax.plot(
        ra0,
        dec0,
        marker="*",
        markersize=12,
        color="#ff3b30",
        markeredgecolor="white",
        linestyle="none",
        transform=world,
        zorder=5,
    )
    ny, nx = wcs.array_shape
    ax.set_xlim(-0.5, nx - 0.5)
    ax.set_ylim(-0.5, ny - 0.5)
    ra_c, dec_c = ax.coords[0], ax.coords[1]
    ra_c.set_format_unit("hourangle")
    ra_c.set_major_formatter("hh:mm")
    ra_c.set_ticks(number=4)
    dec_c.set_major_formatter("dd")
    dec_c.set_ticks(number=5)
    ra_c.set_ticks_position("b")
    ra_c.set_ticklabel_position("b")
    ra_c.set_axislabel_position("b")
    dec_c.set_ticks_position("r")
    dec_c.set_ticklabel_position("r")
    dec_c.set_axislabel_position("r")
    ra_c.set_axislabel("RA", fontsize=8, minpad=0.3)
    dec_c.set_axislabel("Dec", fontsize=8, minpad=0.3)
    ra_c.set_ticklabel(size=7, exclude_overlapping=True)
    dec_c.set_ticklabel(size=7, exclude_overlapping=True)
    ax.coords.grid(color="white", alpha=0.35, linewidth=0.6)
    if wcs.wcs.ctype[0].endswith("SIN"):
        ra_c.set_ticks(spacing=30 * u.deg)
        dec_c.set_ticks(spacing=30 * u.deg)
    globe = wcs.wcs.ctype[0].endswith("SIN")
    if globe:  # edge ticks of a globe name meridians far from the region: label the centre
        for c in (ra_c, dec_c):
            c.set_ticklabel_visible(False)
            c.set_axislabel("")
        hours, minutes = divmod(round(window[0] * 4), 60)
        ax.text(
            0.5,
            -0.06,
            f"centre RA {hours % 24:02d}h{minutes:02d}m, Dec {window[1]:+.0f}°; grid 30°",
            transform=ax.transAxes,
            ha="center",
            va="top",
            fontsize=7,
        )
    ax.set_title(
        ("globe" if globe else "zoom") + label + (" (orthographic)" if globe else " (gnomonic)"),
        fontsize=9,
    )
    return ax
