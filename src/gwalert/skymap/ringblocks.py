"""HEALPix index arithmetic for derasterizing RING maps: NESTED <-> RING (HEALPix's
xyf2ring, vectorised), and the geometry of aligned NESTED blocks of ``4**k`` pixels in RING
order (each block crosses ``2s - 1`` rings, ``s = 2**k``, one contiguous segment of each unless
it wraps round its ring, in face 4 only)."""

from __future__ import annotations

import numpy as np

from .healpix import compact_bits

_JRLL = np.array([2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4], dtype=np.int64)
_JPLL = np.array([1, 3, 5, 7, 0, 2, 4, 6, 1, 3, 5, 7], dtype=np.int64)


def nest_to_xyf(ipix: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, face) of NESTED pixels at ``level``."""
    ipix = np.asarray(ipix, dtype=np.int64)
    face = ipix >> (2 * level)
    local = ipix & ((1 << (2 * level)) - 1)
    return compact_bits(local), compact_bits(local >> 1), face


def xyf_to_ring(x: np.ndarray, y: np.ndarray, face: np.ndarray, level: int) -> np.ndarray:
    """RING index of the pixel (x, y) of ``face`` (HEALPix's xyf2ring, vectorised)."""
    nside = 1 << level
    nl4 = 4 * nside
    jr = _JRLL[face] * nside - x - y - 1  # ring number, 1 .. 4 nside - 1
    nr, start, kshift = ring_geometry(jr, nside)
    jp = (_JPLL[face] * nr + x - y + 1 + kshift) >> 1
    jp = np.where(jp > nl4, jp - nl4, np.where(jp < 1, jp + nl4, jp))
    return start + jp - 1


def ring_geometry(jr: np.ndarray, nside: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per ring number ``jr`` (1 .. 4 NSIDE - 1): the ring's pixel count over 4 (``nr``), the
    RING index of its first pixel, and the half-pixel shift of its pixels' longitudes
    (HEALPix's xyf2ring)."""
    nl4 = 4 * nside
    north = jr < nside
    south = jr > 3 * nside
    nr = np.where(north, jr, np.where(south, nl4 - jr, nside))
    start = np.where(
        north,
        2 * jr * (jr - 1),
        np.where(
            south,
            12 * nside * nside - 2 * nr * (nr + 1),
            2 * nside * (nside - 1) + (jr - nside) * nl4,
        ),
    )
    kshift = np.where(north | south, 0, (jr - nside) & 1)
    return nr, start, kshift


def nest_to_ring(ipix: np.ndarray, level: int) -> np.ndarray:
    x, y, face = nest_to_xyf(ipix, level)
    return xyf_to_ring(x, y, face, level)


class RingBlocks:
    """The RING indices of the pixels of NESTED blocks of ``4**k`` pixels at ``level``."""

    def __init__(self, level: int, k: int) -> None:
        self.level, self.k = level, k
        self.nside = 1 << level
        self.npix = 12 << (2 * level)
        self.C = 1 << (2 * k)
        self.nblocks = self.npix // self.C
        dx, dy, _ = nest_to_xyf(np.arange(self.C), k)
        self.d_template = dx + dy  # ring offset (southwards) from the block's corner
        self.e_template = dx - dy  # position offset along the ring
        # in the equatorial belt: offsets from the block's first index, by the parities
        # of its first position along the ring (r) and of its ring (p)
        d, e = self.d_template, self.e_template
        self.belt_templates = [
            -d * (4 * self.nside) + ((v >> 1) + ((v & 1) ^ (d & 1)) + e >> 1) for v in range(4)
        ]
        self.end_lo, self.end_hi, self.end_span = segment_ends(d, e)

    def segment_starts(self, ids: np.ndarray) -> np.ndarray:
        """RING index of the first pixel of each ring segment of the blocks ``ids``, shape
        (len(ids), 2s - 1): data-independent, so found ahead in the second thread."""
        return self.ring_indices(ids, 0, self.end_lo)

    def ring_indices(
        self, ids: np.ndarray, less: int = 0, local: np.ndarray | None = None
    ) -> np.ndarray:
        """RING index (minus ``less``) of every pixel of the NESTED blocks ``ids`` (or of
        their pixels ``local``, NESTED indices inside a block), shape (len(ids), C or
        len(local)).

        HEALPix's xyf2ring, with the per-ring quantities (start, length, shift) computed once
        per ring a block crosses (2s - 1 of them) instead of once per pixel (s**2).
        """
        nside, nl4 = self.nside, 4 * self.nside
        x0, y0, face = nest_to_xyf(ids * self.C, self.level)
        side = 1 << self.k
        j0 = _JRLL[face] * nside - x0 - y0 - 1  # the block's southernmost ring
        top = j0 - 2 * side + 2  # and its northernmost
        out = np.empty((ids.size, self.C if local is None else local.size), dtype=np.int64)
        # blocks in the equatorial belt (every ring 4 nside long) off face 4 (no wrapping):
        # the block's first index plus one of four templates, by two parities
        belt = (face != 4) & (j0 <= 3 * nside) & (top >= nside)
        north = j0 < nside  # wholly in a polar cap: ring lengths grow by 4 a ring
        south = top > 3 * nside
        rest = ~(belt | north | south)
        if belt.any():
            jp0 = _JPLL[face] * nside + x0 - y0 + 1
            variant = 2 * (jp0 & 1) + ((j0 - nside) & 1)
            base = 2 * nside * (nside - 1) + (j0 - nside) * nl4 - 1 + (jp0 >> 1) - less
            for v in np.unique(variant[belt]):
                template = self.belt_templates[v]
                template = template if local is None else template[local]
                sel = belt & (variant == v)
                if sel.all():
                    np.add(base[:, None], template, out=out)
                else:
                    out[sel] = base[sel, None] + template
        d, e = self.d_template, self.e_template
        if local is not None:
            d, e = d[local], e[local]
        for cap, sel in ((1, north), (-1, south)):
            if not sel.any():
                continue
            # xyf2ring in a cap: nr = the ring's number from its pole, no shift, no wrap
            f = face[sel, None]
            nr = j0[sel, None] - d if cap > 0 else d + (nl4 - j0[sel, None])
            jp = (_JPLL[f] * nr + (x0[sel] - y0[sel] + 1)[:, None] + e) >> 1
            first = 2 * nr * (nr - 1) if cap > 0 else self.npix - 2 * nr * (nr + 1)
            out[sel] = first + jp - (1 + less)
        if rest.any():
            out[rest] = self._ring_indices(x0[rest], y0[rest], face[rest], local) - less
        return out

    def _ring_indices(
        self, x0: np.ndarray, y0: np.ndarray, face: np.ndarray, local: np.ndarray | None = None
    ) -> np.ndarray:
        nside, nl4 = self.nside, 4 * self.nside
        side = 1 << self.k
        jr = (_JRLL[face] * nside - x0 - y0 - 1)[:, None] - np.arange(2 * side - 1)[None, :]
        nr, start, kshift = ring_geometry(jr, nside)
        a = _JPLL[face][:, None] * nr + (x0 - y0 + 1)[:, None] + kshift
        d_template, e_template = self.d_template, self.e_template
        if local is not None:
            d_template, e_template = d_template[local], e_template[local]
        jp = (np.take(a, d_template, axis=1) + e_template) >> 1
        wrap = np.flatnonzero(face == 4)  # only face 4 straddles the rings' first pixel
        if wrap.size:
            part = jp[wrap]
            part[part < 1] += nl4
            jp[wrap] = part
        return np.take(start - 1, d_template, axis=1) + jp


def segment_ends(d: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each ring a block crosses (``d`` = dx + dy of its pixels), the local NESTED index
    of its first and last pixel along the ring (least and greatest ``e`` = dx - dy), and the
    RING distance between them when the segment does not wrap ((e_max - e_min) / 2)."""
    rings = int(d.max()) + 1
    order = np.lexsort((e, d))  # by ring, then along it
    counts = np.bincount(d, minlength=rings)
    ends = np.cumsum(counts)
    lo, hi = order[ends - counts], order[ends - 1]
    return lo, hi, (e[hi] - e[lo]) >> 1
