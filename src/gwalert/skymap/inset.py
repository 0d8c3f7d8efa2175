"""A zoom panel of the sky-map picture: the region on its own WCS axes (gnomonic, as
ligo.skymap's ``astro zoom``, or a whole orthographic globe for wide regions), with contours,
marks and the most probable position."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .zoom import zoom_grid, zoom_wcs

if TYPE_CHECKING:
    from .map import SkyMap
    from .plot import Marker


def draw_inset(
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
    from astropy.visualization.wcsaxes.frame import EllipticalFrame

    wcs = zoom_wcs(*window, whole_globe=True)
    globe = wcs.wcs.ctype[0].endswith("SIN")
    density, level = zoom_grid(sm, wcs)
    # a globe is drawn whole, inside a round frame: its limb is the frame
    ax = fig.add_axes(box, projection=wcs, frame_class=EllipticalFrame if globe else None)
    rgba_image(ax, density, None, "equal")
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
    if not globe:  # a globe's round frame has no sides: no ticks at all (below)
        ra_c.set_ticks_position("b")
        ra_c.set_ticklabel_position("b")
        ra_c.set_axislabel_position("b")
        dec_c.set_ticks_position("r")
        dec_c.set_ticklabel_position("r")
        dec_c.set_axislabel_position("r")
    ra_c.set_axislabel("RA", fontsize=8, minpad=0.6)
    dec_c.set_axislabel("Dec", fontsize=8, minpad=1.2)  # clear of the longest tick label
    ra_c.set_ticklabel(size=7, exclude_overlapping=True)
    dec_c.set_ticklabel(size=7, exclude_overlapping=True)
    ax.coords.grid(color="white", alpha=0.35, linewidth=0.6)
    if wcs.wcs.ctype[0].endswith("SIN"):
        ra_c.set_ticks(spacing=30 * u.deg)
        dec_c.set_ticks(spacing=30 * u.deg)
    if globe:  # edge ticks of a globe name meridians far from the region: label the centre
        for c in (ra_c, dec_c):
            c.set_ticklabel_visible(False)
            c.set_ticks_visible(False)
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


def rgba_image(ax: Any, density: np.ndarray, extent: tuple[float, ...] | None, aspect: str) -> Any:
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
