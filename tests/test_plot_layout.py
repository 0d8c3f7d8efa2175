"""Every picture is legible: no two pieces of text overlap and none is cut off by the figure's
edge, measured on matplotlib's own drawn bounding boxes (tick labels of the colorbar and of the
zoom panels one by one), for every real map of ../shared and generated maps of every shape
(narrow, broad, two parts, a globe-sized region, all-sky, near a pole, 2-D and 3-D). Also:
the title names the map when it has no OBJECT, and "no zoom" gives the true reason."""

from __future__ import annotations

import itertools

import pytest

from conftest import SKYMAPS, modes_map
from gwalert.samples import gaussian_skymap
from gwalert.skymap import SkyMap
from gwalert.skymap.plot import Marker, figure

GENERATED = {
    "narrow-3d": lambda: gaussian_skymap(120.0, -30.0, 1.0, max_level=8),
    "medium-2d": lambda: gaussian_skymap(300.0, 20.0, 6.0, distance=None, max_level=6),
    "broad": lambda: gaussian_skymap(200.0, 10.0, 25.0, distance=None, max_level=5),
    "globe": lambda: modes_map([(40.0, 30.0, 26.0, 1.0)]),
    "two-parts": lambda: modes_map([(30.0, 40.0, 3.0, 1.0), (210.0, -40.0, 3.0, 1.0)]),
    "three-parts": lambda: modes_map(
        [(30.0, 40.0, 3.0, 1.0), (150.0, -40.0, 3.0, 1.0), (270.0, 0.0, 3.0, 1.0)]
    ),
    "all-sky": lambda: modes_map([(0.0, 0.0, 120.0, 1.0)], level=4),
    "near-pole": lambda: gaussian_skymap(10.0, -86.0, 4.0, distance=None, max_level=6),
}


def maps() -> list[str]:
    real = sorted(p.name for p in SKYMAPS.glob("*.fits*")) if SKYMAPS.is_dir() else []
    return real + sorted(GENERATED)


def load(name: str) -> SkyMap:
    data = GENERATED[name]() if name in GENERATED else (SKYMAPS / name).read_bytes()
    return SkyMap.read(data)


def text_boxes(fig) -> list[tuple[str, object]]:
    """(text, display bbox) of every piece of text the drawn figure shows."""
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    out: list[tuple[str, object]] = []
    skip: set[int] = set()
    for ax in fig.axes:
        coords = getattr(ax, "coords", None)
        if coords is not None:  # WCSAxes: each drawn tick label's own box, as it draws them
            drawn: list = []  # (a label overlapping one drawn before is left out, as astropy does)
            for coord in coords:
                labels = coord._ticklabels
                skip.add(id(labels))
                if not labels.get_visible():
                    continue
                labels._set_xy_alignments(renderer)
                for axis in labels.get_visible_axes():
                    if axis == "#":
                        continue
                    for i in range(len(labels.world[axis])):
                        bb = labels._get_bb(axis, i, renderer)
                        if bb is None:
                            continue
                        bb = bb.frozen()
                        if labels._exclude_overlapping and bb.count_overlaps(drawn):
                            continue
                        drawn.append(bb)
                        out.append((labels.text[axis][i], bb))
            continue
        for axis in (ax.xaxis, ax.yaxis):
            drawn = axis._update_ticks()  # the ticks drawn
            for tick in axis.majorTicks + axis.minorTicks:
                skip.update({id(tick.label1), id(tick.label2)})
            for tick in drawn if ax.axison else []:
                for label in (tick.label1, tick.label2):
                    if label.get_visible() and label.get_text().strip():
                        out.append((label.get_text(), label.get_window_extent(renderer)))
    for t in fig.findobj(Text):
        if id(t) in skip or not t.get_visible() or not t.get_text().strip():
            continue
        if t.axes is not None and not t.axes.get_visible():
            continue
        out.append((t.get_text(), t.get_window_extent(renderer)))
    return out


def check_legible(fig) -> None:
    boxes = text_boxes(fig)
    assert len(boxes) > 5
    frame = fig.bbox
    for text, bb in boxes:
        assert bb.x0 >= frame.x0 - 0.5 and bb.x1 <= frame.x1 + 0.5, f"{text!r} cut at a side"
        assert bb.y0 >= frame.y0 - 0.5 and bb.y1 <= frame.y1 + 0.5, f"{text!r} cut at top/bottom"
    for (ta, a), (tb, b) in itertools.combinations(boxes, 2):
        overlap_x = min(a.x1, b.x1) - max(a.x0, b.x0)
        overlap_y = min(a.y1, b.y1) - max(a.y0, b.y0)
        assert overlap_x <= 0.5 or overlap_y <= 0.5, f"{ta!r} overlaps {tb!r}"


@pytest.mark.slow  # a picture per map, measured text by text
@pytest.mark.parametrize("name", maps(), ids=lambda n: n.split(".")[0])
def test_no_text_overlaps_and_none_is_cut(name):
    sm = load(name)
    marks = [Marker(33.0, -12.0, "33, -12"), Marker(150.0, 60.0, "target")]
    fig = figure(
        sm, name=f"/data/{name}", alert_type="PRELIMINARY", marks=marks, galactic_plane=True
    )
    check_legible(fig)
    title = fig._suptitle.get_text()
    assert not title.startswith("sky map")
    check_legible(figure(sm, event="S250720j", contours=(0.5, 0.9, 0.99)))


def test_title_names_the_map_and_no_zoom_says_why():
    sm = load("three-parts")
    fig = figure(sm, event="MS260101a")
    assert fig._suptitle.get_text().startswith("MS260101a")
    texts = [t.get_text() for t in fig.texts]
    reason = next(t for t in texts if t.startswith("no zoom"))
    assert "3 separate parts" in reason, reason
    wide = figure(load("all-sky"))
    reason = next(t.get_text() for t in wide.texts if t.get_text().startswith("no zoom"))
    assert "cone" in reason and "parts" not in reason, reason
