"""HEALPix index arithmetic for multi-order (NUNIQ) sky maps.

``pixel_center`` (astropy-healpix's ``healpix_to_lonlat`` for one pixel, to the last bit) lives
in ``pixcenter``, without numpy, and is re-exported here.

``ang2pix_nested`` is HEALPix's ``ang2pix_nest`` (the z-phi algorithm of Górski et al. 2005)
(``vectors.pixel_vectors`` is the way back), vectorised in numpy so that ``gwalert parse`` and
crossmatches need no astropy; the test suite checks both against
astropy-healpix and healpy on random points of many orders. On pixel edges (round coordinates,
corners) ang2pix gives healpy's pixel, the one ligo.skymap's crossmatch looks targets up with
(astropy-healpix breaks those ties differently): ``tests/test_healpix_edges.py``.
"""

from __future__ import annotations

import math

import numpy as np

from .arrays import wrap_ra
from .pixcenter import MAX_LEVEL as MAX_LEVEL
from .pixcenter import pixel_center as pixel_center
from .special import sin_cos_dec

_RAD = math.pi / 180  # what np.radians multiplies by
HALF_RAD = 0.5 * _RAD  # exactly half of it: RA / 2 rounds as RA in radians, halved
_FOUR_OVER_PI = 4 / math.pi  # exactly twice HEALPix's inv_halfpi


def uniq_to_level_ipix(uniq: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """Split NUNIQ indices into (level, nested ipix), as astropy-healpix does."""
    u = np.asarray(uniq, dtype=np.int64)
    if u.ndim == 1 and u.size > 64 and 4 <= u[0] and u[-1] < 1 << 62 and np.all(u[1:] > u[:-1]):
        # ascending (a map sorted by UNIQ): each level's rows are one run, found by a
        # search for the levels' first NUNIQ, 4**(level + 1)
        first = np.left_shift(4, 2 * np.arange(MAX_LEVEL + 2, dtype=np.int64))
        counts = np.diff(np.searchsorted(u, first))
        level = np.repeat(np.arange(MAX_LEVEL + 1, dtype=np.int64), counts)
        return level, u - np.repeat(first[:-1], counts)
    if np.any(u < 4):
        raise ValueError("NUNIQ index below 4")
    # level = floor(log2(uniq / 4)) / 2, computed exactly on integers.
    level = (_bit_length(u) - 3) // 2
    ipix = u - (np.int64(1) << (2 * (level + 1))).astype(np.int64)
    return level.astype(np.int64), ipix


def _bit_length(u: np.ndarray) -> np.ndarray:
    # frexp is exact for integers below 2**53 (levels up to 25, all real sky maps); NUNIQ
    # indices reach 2**62, so split larger ones in two.
    if u.size and u.max() < 2**53:
        return np.frexp(u.astype(np.float64))[1].astype(np.int64)
    hi = (u >> 31).astype(np.float64)
    lo = (u & ((1 << 31) - 1)).astype(np.float64)
    _, e_hi = np.frexp(hi)
    _, e_lo = np.frexp(lo)
    return np.where(hi > 0, e_hi + 31, e_lo).astype(np.int64)


def level_ipix_to_uniq(level: np.ndarray | int, ipix: np.ndarray | int) -> np.ndarray:
    level = np.asarray(level, dtype=np.int64)
    return np.asarray(ipix, dtype=np.int64) + (np.int64(1) << (2 * (level + 1)))


def pixel_area_sr(level: np.ndarray | int) -> np.ndarray:
    """Solid angle of one pixel at ``level``, in steradians."""
    nside = np.left_shift(np.int64(1), np.asarray(level, dtype=np.int64)).astype(np.float64)
    return 4 * np.pi / (12 * nside * nside)


SQDEG_PER_SR = (180.0 / math.pi) ** 2


# ------------------------------------------------------------------------------ HEALPix
def _spread_byte_table() -> np.ndarray:
    out = np.zeros(256, np.int64)
    for v in range(256):
        out[v] = sum(((v >> i) & 1) << (2 * i) for i in range(8))
    return out


_SPREAD = _spread_byte_table()


def _spread_bits(v: np.ndarray, nbits: int) -> np.ndarray:
    """Put bit i of ``v`` (below 2**nbits, nbits <= 32) at bit 2i, a byte at a time."""
    out = _SPREAD.take(v & 255)
    for shift in range(8, nbits, 8):
        out |= _SPREAD.take((v >> shift) & 255) << (2 * shift)
    return out


def ang2pix_nested(level: int, ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    """Nested pixel index at ``level`` (NSIDE = 2**level) of each (RA, Dec) in degrees."""
    ra_in = wrap_ra(np.asarray(ra_deg, dtype=np.float64).ravel()).reshape(np.shape(ra_deg))
    dec_in = np.asarray(dec_deg, dtype=np.float64)
    shape = np.broadcast_shapes(ra_in.shape, dec_in.shape)
    ra = np.broadcast_to(ra_in, shape).ravel()
    dec = np.broadcast_to(dec_in, shape).ravel()
    # the look-up's own trigonometry (``positions``): the edge tests of ang2pix cover it
    h, z, cos_dec = positions(ra, dec)
    return ab_to_nested(level, *ang2ab(level, h, z, cos_dec, dec)).reshape(shape)


def positions(ra_deg: np.ndarray, dec_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(RA / 2 in radians, sin(Dec), cos(Dec)) of 1-D arrays of positions in degrees, the
    arguments of ``ang2ab`` (see ``special.sin_cos_dec``)."""
    return ra_deg * HALF_RAD, *sin_cos_dec(dec_deg)


def in_range(ra_max_deg: float) -> bool:
    """True if RA in degrees from 0 to ``ra_max_deg`` need no reduction in ``ang2ab`` (the
    map RA -> HEALPix's tt is monotone: its largest value comes from the largest RA)."""
    tt = np.float64(ra_max_deg) * HALF_RAD * _FOUR_OVER_PI
    return bool(0.0 <= ra_max_deg and tt < 4.0)


def _face_table() -> np.ndarray:
    """HEALPix's base pixel from the edge-line quadrants (ifp, ifm), both in [-1, 5], at
    index ``8 ifp + ifm`` modulo 64 (a gather in "wrap" mode reads the negative ones)."""
    out = np.zeros(64, np.int64)
    for a in range(-1, 6):
        for b in range(-1, 6):
            out[(8 * a + b) % 64] = (a | 4) if a == b else a if a < b else b + 8
    return out


_FACE = _face_table()


_EDGE_BITS = 40  # positions within NSIDE 2**-40 pixels of an edge are placed exactly
# A base pixel's edge-line quadrants (ifp, ifm) without the wrap of ``_FACE``: the (a, b) of
# pixel (x, y) of base pixel f are (_FACE_A[f] NSIDE + NSIDE - 1 - y, _FACE_B[f] NSIDE + x).
_FACE_A = np.array([0, 1, 2, 3, 0, 1, 2, 3, 1, 2, 3, 4], np.int64)
_FACE_B = np.array([1, 2, 3, 4, 0, 1, 2, 3, 0, 1, 2, 3], np.int64)


def ang2xyf_rad(
    level: int, ra: np.ndarray, z: np.ndarray, cos_dec: np.ndarray, dec_deg: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(base pixel, x, y) at ``level`` of each position (RA in radians, z = sin(Dec),
    cos(Dec), and Dec in degrees; 1-D arrays): HEALPix's ang2pix before the bits are
    interleaved, the pixel healpy's ``ang2pix(nside, pi/2 - dec, ra, nest=True)`` gives (what
    ligo.skymap's crossmatch looks targets up with), for every position. See ``ang2ab``."""
    return ab_to_xyf(level, *ang2ab(level, ra * 0.5, z, cos_dec, dec_deg))


def ab_to_xyf(
    level: int, a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(base pixel, x, y) of the pixels at edge-line coordinates (a, b) (see ``ang2ab``);
    reuses ``a`` and ``b``."""
    key = a >> level
    key <<= 3
    key += b >> level
    face = _FACE.take(key, mode="wrap")
    mask = (1 << level) - 1
    b &= mask
    a &= mask
    return face, b, np.subtract(mask, a, out=a)


def nested_to_ab(level: int, ipix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pair (a, b) (see ``ang2ab``) of nested pixels at ``level``: ``ab_to_nested``'s
    inverse (each pixel's own base-pixel quadrants, not the wrapped copy of base pixel 4 at
    quadrants (4, 4) that positions just below RA 360 deg also reach)."""
    nside = 1 << level
    face = ipix >> (2 * level)
    sub = ipix & (nside * nside - 1)
    x = compact_bits(sub)
    y = compact_bits(sub >> 1)
    return _FACE_A.take(face) * nside + (nside - 1) - y, _FACE_B.take(face) * nside + x


def ab_to_nested(level: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Nested index of the pixels at edge-line coordinates (a, b) (see ``ang2ab``)."""
    return xyf_to_nested(level, *ab_to_xyf(level, a, b))


def ang2ab(
    level: int,
    h: np.ndarray,
    z: np.ndarray,
    cos_dec: np.ndarray,
    dec_deg: np.ndarray,
    *,
    reduced: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """HEALPix's edge-line coordinates (jp, jm) at ``level`` of each position (``h`` = RA / 2
    in radians, z = sin(Dec), cos(Dec) and Dec in degrees; 1-D arrays), the pixel healpy's
    ``ang2pix`` gives for every position: the ascending and descending edge lines' indices of
    the equatorial formula, from which HEALPix reads the base pixel (their quotients by NSIDE)
    and x, y (their remainders); positions in the polar caps are written in the same
    coordinates (a = A NSIDE + NSIDE - 1 - y, b = B NSIDE + x for base pixel quadrants A, B),
    so that one pair of integers names any pixel and a coarser level's pair is this one
    shifted right (NSIDE is a power of two: scaling by it is exact, and the floors of scaled
    values are shifts). ``reduced``: the caller knows RA is in [0, 2 pi) as HEALPix reduces
    it (``in_range``), no check.

    HEALPix's tt = RA / (pi/2) is formed with its rounding (h times 4/pi is RA times 2/pi,
    both halvings exact), and so is tp in the caps. The rest runs on the z and cos(Dec)
    given, not libm's cos(pi/2 - Dec) that healpy's z is: both agree to a few units of 1e-16
    (absolute), and the sums and products here may round an ulp away from healpy's, so they
    give the same pixel except within about NSIDE 1e-15 pixels of a pixel edge. Positions
    within NSIDE 2**-40 pixels of an edge line, or in the caps of the lines ``floor(tp t)``,
    ``floor((1 - tp) t)`` (t = NSIDE sqrt(3 (1 - |z|)) = NSIDE cos(Dec) sqrt(3 / (1 + |z|))),
    or within 1e-12 of the caps' boundary |z| = 2/3 are placed again by ``exact_ab``
    (healpy's arithmetic, libm's cosine); healpy's clamps to NSIDE - 1 only act on such
    positions. The equatorial formula (``belt_ab``) runs on every position (no gather and
    scatter of the belt), the polar one (``caps_ab``) on the caps only, ``exact_ab`` on the
    few near an edge.

    HEALPix scales by NSIDE last; here the constants carry it."""
    jp, jm, sub = ang2ab_scaled(level, h, z, cos_dec, dec_deg, reduced=reduced)
    jp >>= sub
    jm >>= sub
    return jp, jm


def ang2ab_scaled(
    level: int,
    h: np.ndarray,
    z: np.ndarray,
    cos_dec: np.ndarray,
    dec_deg: np.ndarray,
    *,
    reduced: bool = False,
) -> tuple[np.ndarray, np.ndarray, int]:
    """``ang2ab``'s pair times 2**sub, plus low bits to drop, and ``sub``: shifted right by
    ``sub + k``, the pair at ``level - k`` (one shift where the look-up wants a coarser
    level's pair)."""
    level = int(level)
    jp, jm, edge = belt_ab(level, h, z, reduced=reduced)
    sub = _sub_bits(level)
    pol = (np.abs(z) > CAP).nonzero()[0]  # (nonzero: flatnonzero's wrappers cost here)
    if pol.size:
        a, b, close = caps_ab(
            level, healpix_tt(h.take(pol), reduced), z.take(pol), cos_dec.take(pol)
        )
        jp[pol] = a
        jm[pol] = b
        if close.size:  # repeats are harmless
            edge = np.concatenate((edge, pol.take(close))) if edge.size else pol.take(close)
    if edge.size:
        a, b = exact_ab(level, h.take(edge), dec_deg.take(edge))
        a <<= sub
        b <<= sub
        jp[edge] = a
        jm[edge] = b
    return jp, jm, sub


CAP = 2.0 / 3.0 - 1e-12  # |z| above this: polar caps (their boundary is placed exactly)


def healpix_tt(h: np.ndarray, reduced: bool = False) -> np.ndarray:
    """HEALPix's tt = RA / (pi/2) modulo 4 (its fmodulo, [0, 4)) from h = RA / 2, exactly
    as healpy rounds it (``reduced``: RA known to be in range, see ``in_range``)."""
    tt = h * _FOUR_OVER_PI
    if not reduced and not (tt.size and tt.min() >= 0.0 and tt.max() < 4.0):
        tt -= 4.0 * np.floor(tt * 0.25)
        tt[tt >= 4.0] = 0.0
    return tt


def _sub_bits(level: int) -> int:
    """Bits below the pixel kept in the scaled edge lines (positions within 2**-sub pixel of
    a line are placed exactly)."""
    return _EDGE_BITS - level if level < _EDGE_BITS - 8 else 8


def belt_ab(
    level: int, h: np.ndarray, z: np.ndarray, *, reduced: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The equatorial formula's (a, b) times 2**sub (``_sub_bits``; low bits to drop) for
    every position (finite nonsense in the caps), and the indices of positions within
    2**-sub pixel of an edge line (caps included)."""
    nside = 1 << level
    # Edge lines in units of 2**-sub pixel (exact power-of-two scaling): the pixel is the
    # integer part shifted right by ``sub``, and the low bits tell how close an edge is.
    sub = _sub_bits(level)
    scale = float(1 << sub)
    if reduced:  # tt nside scale in one product (the same rounding: powers of two)
        t5 = h * (_FOUR_OVER_PI * nside * scale)
    else:
        t5 = healpix_tt(h)
        t5 *= nside * scale
    # plus one unit (exact): a line's value v + 1 has no bit of 2**sub - 2 set when v is
    # within one unit of the line (v & (2**sub - 1) is 0 or all ones), the test below; shifted
    # right, v + 1 is v's pixel except there, where ``exact_ab`` places the position
    t5 += 0.5 * nside * scale + 1.0
    z34 = z * (0.75 * nside * scale)
    jp = (t5 - z34).astype(np.int64)  # ascending edge line
    t5 += z34
    jm = t5.astype(np.int64)  # descending edge line
    mask = (1 << sub) - 2
    near = jp & mask
    far = jm & mask
    np.minimum(near, far, out=near)
    edge = (near == 0).nonzero()[0]
    return jp, jm, edge


def _near_edge(jp: np.ndarray, jm: np.ndarray, low: int) -> np.ndarray:
    """Indices where either scaled edge-line value is within one unit of an integer line
    (``low``: the fraction's bits)."""
    near = jp + 1
    near &= low
    far = jm + 1
    far &= low
    np.minimum(near, far, out=near)
    return (near < 2).nonzero()[0]


def caps_ab(
    level: int, tt: np.ndarray, z: np.ndarray, cos_dec: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HEALPix's polar formula as ``ang2ab``'s (a, b) times 2**sub (as ``ang2ab_scaled``),
    for positions in the caps (|z| > ``CAP``; ``tt`` as ``healpix_tt``, reused), and the
    indices of those to place exactly (see ``ang2ab``)."""
    nside = 1 << level
    sub = _sub_bits(level)
    scale = float(1 << sub)
    azp = np.abs(z)
    # t scaled: nside scale cos(Dec) sqrt(3 / (1 + |z|)) (precise at the poles, where
    # 1 - |z| is not)
    t = azp + 1.0
    np.divide(3.0 * (nside * scale) ** 2, t, out=t)
    np.sqrt(t, out=t)
    t *= cos_dec
    face = tt.astype(np.int64)  # ntt: tt < 4
    tt -= face  # tp, exactly
    vp = tt * t
    t -= vp  # (1 - tp) t, to a few ulp of t
    jpp = vp.astype(np.int64)
    jmp = t.astype(np.int64)
    low = (1 << sub) - 1
    close = _near_edge(jpp, jmp, low)
    jpp &= ~low
    jmp &= ~low
    # north: face ntt, x = nside - 1 - jmp, y = nside - 1 - jpp; south: face ntt + 8,
    # x = jpp, y = jmp; as (a, b): (ntt nside + jpp, (ntt + 2) nside - 1 - jmp) in the
    # north, the two swapped in the south (all times 2**sub)
    face <<= level + sub
    jpp += face
    face += (2 * nside - 1) << sub
    face -= jmp
    a = np.where(z >= 0, jpp, face)
    face += jpp
    face -= a  # the other one
    boundary = (azp < 2.0 / 3.0 + 1e-12).nonzero()[0]
    if boundary.size:
        close = np.concatenate((close, boundary))
    return a, face, close


def exact_ab(level: int, h: np.ndarray, dec_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``ang2ab``'s (a, b) from healpy's own arithmetic (``_ang2xyf_exact``), for the few
    positions near an edge."""
    nside = 1 << level
    face, x, y = _ang2xyf_exact(level, h * 2.0, dec_deg * _RAD)
    return _FACE_A.take(face) * nside + (nside - 1) - y, _FACE_B.take(face) * nside + x


_INV_HALFPI = 0.6366197723675813430755350534900574  # HEALPix's inv_halfpi


def _ang2xyf_exact(
    level: int, phi: np.ndarray, dec: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HEALPix C++'s ang2pix (healpy's) for theta = pi/2 - Dec, phi = RA (radians), with its
    roundings: z = cos(theta) from libm, sin(theta) near the poles, (0.5 + tt) times NSIDE."""
    nside = 1 << level
    theta = 0.5 * np.pi - dec
    z = np.cos(theta)
    za = np.abs(z)
    tt = phi * _INV_HALFPI
    tt = np.where((tt >= 0) & (tt < 4.0), tt, np.fmod(tt, 4.0))
    tt = np.where(tt < 0, tt + 4.0, tt)
    tt[tt == 4.0] = 0.0
    temp1 = nside * (0.5 + tt)
    temp2 = nside * (z * 0.75)
    jp = (temp1 - temp2).astype(np.int64)
    jm = (temp1 + temp2).astype(np.int64)
    face = _FACE.take(((jp >> level) << 3) + (jm >> level), mode="wrap")
    ix = jm & (nside - 1)
    iy = nside - (jp & (nside - 1)) - 1
    pol = za > 2.0 / 3.0
    if np.any(pol):
        ntt = np.minimum(tt.astype(np.int64), 3)
        tp = tt - ntt
        have_sth = (theta < 0.01) | (theta > 3.14159 - 0.01)
        with np.errstate(invalid="ignore"):
            tmp = np.where(
                (za < 0.99) | ~have_sth,
                nside * np.sqrt(3 * (1 - za)),
                nside * np.sin(theta) / np.sqrt((1.0 + za) / 3.0),
            )
        jpp = np.minimum((tp * tmp).astype(np.int64), nside - 1)
        jmp = np.minimum(((1.0 - tp) * tmp).astype(np.int64), nside - 1)
        north = z >= 0
        face = np.where(pol, np.where(north, ntt, ntt + 8), face)
        ix = np.where(pol, np.where(north, nside - jmp - 1, jpp), ix)
        iy = np.where(pol, np.where(north, nside - jpp - 1, jmp), iy)
    return face, ix, iy


def xyf_to_nested(level: int, face: np.ndarray, ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
    """Nested index of the pixel at (ix, iy) in base pixel ``face``."""
    return (face << (2 * level)) + (_spread_bits(ix, level) | (_spread_bits(iy, level) << 1))


def compact_bits(v: np.ndarray) -> np.ndarray:
    """Inverse of bit spreading: bit 2i of ``v`` goes to bit i."""
    v = v & 0x5555555555555555
    v = (v | (v >> 1)) & 0x3333333333333333
    v = (v | (v >> 2)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v >> 4)) & 0x00FF00FF00FF00FF
    v = (v | (v >> 8)) & 0x0000FFFF0000FFFF
    v = (v | (v >> 16)) & 0x00000000FFFFFFFF
    return v
