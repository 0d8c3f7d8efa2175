"""Flattened (single-resolution) sky maps: the fast reader against ligo.skymap and zlib.

The class: NSIDE 8 to 256 here (512 with the shared map; the benchmark goes to 2048), NESTED or
RING, gzip-compressed or not, 2-D (PROB) or 3-D (PROB, DISTMU, DISTSIGMA, DISTNORM), float32
or float64, read from a path (mapped), bytes or a file object; the multi-order rows must be
ligo.skymap's ``read_sky_map(moc=True)`` bit for bit, and the crossmatch numbers its
``crossmatch``'s. The gzip inflater (ISA-L when installed) must give zlib's bytes.
"""

from __future__ import annotations

import gzip
import io
import warnings
import zlib

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_skymap_io import assert_same_rows, piecewise

from conftest import shared_file
from gwalert.errors import SkyMapError
from gwalert.skymap import SkyMap
from gwalert.skymap import io as skyio
from gwalert.skymap.derasterize import dyadic_blocks
from gwalert.skymap.fitsstream import Stream, inflater_module

ligo_fits = pytest.importorskip("ligo.skymap.io.fits")
ah_core = pytest.importorskip("astropy_healpix.core")

SLOW = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ------------------------------------------------------------------------------ inflating
def test_the_inflater_is_isa_l_when_installed():
    try:
        from isal import isal_zlib
    except ImportError:
        assert inflater_module() is zlib
    else:
        assert inflater_module() is isal_zlib


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.binary(min_size=0, max_size=64), st.integers(1, 3000)),
        min_size=1,
        max_size=30,
    ),
    st.integers(0, 9),
    st.integers(1, 4),
    st.lists(st.integers(1, 200_000), min_size=1, max_size=8),
    st.sampled_from([None, 1, 7, 512, 4096]),
    st.integers(0, 700),
    st.booleans(),
)
def test_inflating_gives_gzips_bytes(pieces, level, members, reads, feed, padding, plain):
    """Runs and noise, one or more gzip members (then zero padding, as gzip(1) allows), read
    in pieces of any size: the bytes of the standard library's gzip, whatever the inflater,
    and however little compressed input is read from a file at a time (``feed``: members end
    inside a raw chunk, a raw chunk ends inside a member or inside its magic number), through
    ISA-L's decompressor or zlib's interface (``plain``)."""
    from gwalert.skymap import fitsstream

    raw = b"".join(p * n for p, n in pieces)
    cut = [len(raw) * i // members for i in range(members + 1)]
    packed = b"".join(
        gzip.compress(raw[a:b], compresslevel=level) for a, b in zip(cut, cut[1:], strict=False)
    )
    assert gzip.decompress(packed) == raw
    packed += bytes(padding)
    expected = raw
    with pytest.MonkeyPatch.context() as m:
        if feed is not None:
            m.setattr(fitsstream, "_RAW_CHUNK", feed)
        if plain:  # the standard library's zlib (without isal), not ISA-L's decompressor
            m.setattr(fitsstream, "inflater_module", lambda: zlib)
        for source in (packed, io.BytesIO(packed)):
            _read_all_ways(Stream(source, limit=1 << 30), reads, expected)


@pytest.mark.parametrize("plain", [False, True])
@pytest.mark.parametrize("byte", [-8, -5, -2])
def test_a_wrong_gzip_checksum_or_size_is_refused(plain, byte, monkeypatch):
    """The gzip trailer (CRC-32, then the size) is checked by either inflater."""
    from gwalert.skymap import fitsstream

    if plain:
        monkeypatch.setattr(fitsstream, "inflater_module", lambda: zlib)
    raw = bytes(range(256)) * 999
    packed = bytearray(gzip.compress(raw))
    packed[byte] ^= 0x5A
    stream = Stream(bytes(packed), limit=1 << 30)
    with pytest.raises(SkyMapError, match="corrupt gzip"):
        while stream.read(1 << 15):
            pass


def _read_all_ways(stream: Stream, reads: list[int], expected: bytes) -> None:
    """Read ``stream`` to its end by turns with read, readinto (into a buffer) and piece (as
    inflated), in the sizes ``reads`` cycles through; the bytes must be ``expected``."""
    got, i = [], 0
    while True:
        want = reads[i % len(reads)]
        if i % 3 == 1:
            part = bytes(stream.read(want))
        elif i % 3 == 2:
            part = bytes(stream.piece(want))
            assert len(part) <= want
        else:
            buf = bytearray(want)
            part = bytes(buf[: stream.readinto(memoryview(buf))])
        i += 1
        if not part:
            break
        got.append(part)
    assert b"".join(got) == expected


def test_a_real_map_inflates_to_gzips_bytes():
    packed = shared_file("skymaps", "MS181101ab_userguide_bayestar.slim.nside512.fits.gz")
    data = packed.read_bytes()
    stream = Stream(data)
    got = bytearray()
    while part := stream.read(3 << 20):
        got += part
    assert bytes(got) == gzip.decompress(data)


def test_a_corrupt_stream_is_one_clear_error():
    packed = bytearray(gzip.compress(np.arange(100_000).tobytes()))
    packed[40:60] = bytes(20)
    with pytest.raises(SkyMapError, match="corrupt gzip-compressed sky map"):
        stream = Stream(bytes(packed))
        while stream.read(1 << 16):
            pass


# ------------------------------------------------------------------ the tiling of runs
@settings(max_examples=200, deadline=None)
@given(st.integers(0, 12), st.data())
def test_runs_are_tiled_by_their_largest_aligned_blocks(level, data):
    npix = 12 << (2 * level)
    cuts = data.draw(st.lists(st.integers(1, npix - 1), max_size=20)) if npix > 1 else []
    edges = np.unique(np.array([0, *cuts, npix], dtype=np.int64))
    start, end = edges[:-1], edges[1:]
    cur, t = dyadic_blocks(start, end, level)
    size = np.int64(1) << (2 * t)
    assert np.all(t >= 0) and np.all(t <= level)
    assert np.all(cur % size == 0)  # aligned
    order = np.argsort(cur)
    cur, t, size = cur[order], t[order], size[order]
    assert cur[0] == 0 and np.all(cur[1:] == (cur + size)[:-1]) and cur[-1] + size[-1] == npix
    run = np.searchsorted(edges, cur, side="right") - 1
    assert np.all(cur + size <= end[run])  # inside one run
    # maximal: the parent block leaves the run (or the block is a base pixel)
    parent = 4 * size
    pstart = cur - cur % parent
    assert np.all((t == level) | (pstart < start[run]) | (pstart + parent > end[run]))


# ------------------------------------------------------------------ flat maps vs ligo
_SPECIALS = np.array([0.0, -0.0, 1.0, 2.5, np.inf, 1e-300, np.nan])


def _pieces(level: int, ncols: int, rng: np.random.Generator, split: float) -> np.ndarray:
    """NESTED values made of random multi-order pieces, repeated values and specials, the
    first column made a probability."""
    values = piecewise(level, ncols, rng, split, _SPECIALS)
    prob = values[0]
    prob[~np.isfinite(prob)] = 1.0
    values[0] = np.abs(prob) / np.abs(prob).sum()
    return values


def _flat_bytes(values: np.ndarray, level: int, nest: bool, code: str, gz: bool) -> bytes:
    names = ["PROB", "DISTMU", "DISTSIGMA", "DISTNORM"][: len(values)]
    if not nest:
        values = values[:, ah_core.ring_to_nested(np.arange(values.shape[1]), 1 << level)]
    dtype = np.float32 if code == "E" else np.float64
    cols = [fits.Column(n, code, array=v.astype(dtype)) for n, v in zip(names, values, strict=True)]
    hdu = fits.BinTableHDU.from_columns(cols)
    hdu.header.update(
        {
            "PIXTYPE": "HEALPIX",
            "ORDERING": "NESTED" if nest else "RING",
            "COORDSYS": "C",
            "NSIDE": 1 << level,
            "INDXSCHM": "IMPLICIT",
        }
    )
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
    return gzip.compress(buf.getvalue(), 1) if gz else buf.getvalue()


def _ligo(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ligo_fits.read_sky_map(str(path), moc=True)


@pytest.mark.slow
@SLOW
@given(
    level=st.integers(3, 8),
    three_d=st.booleans(),
    nest=st.booleans(),
    code=st.sampled_from("ED"),
    gz=st.booleans(),
    split=st.sampled_from([0.2, 0.5, 0.8, 0.95]),
    depth=st.sampled_from([5, 2, 0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_flat_maps_nside_8_to_256_read_as_ligo_skymap(
    tmp_path_factory, level, three_d, nest, code, gz, split, depth, seed
):
    """RING maps also with their blocks looked at first by larger units (``_UNIT_DEPTH``
    below its 5, as at NSIDE 1024 and above)."""
    from gwalert.skymap import derasterize

    with pytest.MonkeyPatch.context() as m:
        m.setattr(derasterize, "_UNIT_DEPTH", depth)
        _flat_map_reads_as_ligo(tmp_path_factory, level, three_d, nest, code, gz, split, seed)


def _flat_map_reads_as_ligo(tmp_path_factory, level, three_d, nest, code, gz, split, seed):
    rng = np.random.default_rng(seed)
    values = _pieces(level, 4 if three_d else 1, rng, split)
    data = _flat_bytes(values, level, nest, code, gz)
    path = tmp_path_factory.mktemp("flat") / ("m.fits.gz" if gz else "m.fits")
    path.write_bytes(data)
    ref = _ligo(path)
    assert_same_rows(skyio.read(path), ref)  # a path: mapped when not compressed
    assert_same_rows(skyio.read(data), ref)  # bytes: used in place
    with open(path, "rb") as fh:  # a file object
        assert_same_rows(skyio.read(fh), ref)
    with open(path, "rb") as fh:  # a file object without a descriptor
        assert_same_rows(skyio.read(io.BufferedReader(io.BytesIO(fh.read()))), ref)


def _crossmatch_agrees(path, three_d: bool) -> None:
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from ligo.skymap.postprocess.crossmatch import crossmatch

    ref = _ligo(path)
    sm = SkyMap.read(path)
    rng = np.random.default_rng(3)
    n = 2000
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if three_d:
            dist = rng.uniform(1, 800.0, n)
            res = crossmatch(ref, SkyCoord(ra * u.deg, dec * u.deg, dist * u.Mpc), (0.5, 0.9))
            ours = sm.crossmatch(ra, dec, dist)
            np.testing.assert_allclose(ours.searched_prob_vol, res.searched_prob_vol, atol=1e-2)
            assert np.quantile(np.abs(ours.searched_prob_vol - res.searched_prob_vol), 0.99) < 2e-3
            np.testing.assert_allclose(sm.credible_volume([0.5, 0.9]), res.contour_vols, rtol=1e-3)
        else:
            ref.remove_columns([c for c in skyio.DISTANCE_COLUMNS if c in ref.colnames])
            res = crossmatch(ref, SkyCoord(ra * u.deg, dec * u.deg), (0.5, 0.9))
            ours = sm.crossmatch(ra, dec)
    np.testing.assert_allclose(ours.searched_prob, res.searched_prob, atol=1e-9)
    np.testing.assert_allclose(ours.searched_area, res.searched_area, rtol=1e-9)
    np.testing.assert_allclose(sm.credible_area([0.5, 0.9]), res.contour_areas, rtol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("nest", [True, False])
@pytest.mark.parametrize("gz", [True, False])
def test_the_shared_flattened_map_reads_and_crossmatches_as_ligo_skymap(tmp_path, nest, gz):
    """The user guide's MS181101ab flattened to NSIDE 512 (gzip, NESTED), and the same map
    rewritten as RING and/or uncompressed."""
    from ligo.skymap.io import read_sky_map, write_sky_map

    src = shared_file("skymaps", "MS181101ab_userguide_bayestar.slim.nside512.fits.gz")
    path = src
    if not (nest and gz):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prob, meta = read_sky_map(str(src), nest=nest)
            path = tmp_path / ("m.fits.gz" if gz else "m.fits")
            write_sky_map(str(path), prob, nest=nest)
    assert_same_rows(skyio.read(path), _ligo(path))
    _crossmatch_agrees(path, three_d=False)


@pytest.mark.slow
@pytest.mark.parametrize("nest", [True, False])
def test_a_3d_flat_map_crossmatches_as_ligo_skymap(tmp_path, nest):
    """A BAYESTAR-like 3-D map at NSIDE 32: the 3-D levels of the derasterized rows."""
    rng = np.random.default_rng(5)
    level = 5
    npix = 12 << (2 * level)
    ipix = np.arange(npix)
    lon, lat = ah_core.healpix_to_lonlat(ipix, 1 << level, order="nested")
    prob = np.exp(-0.5 * ((lat.rad - 0.3) ** 2 + (lon.rad - 2.0) ** 2) / 0.2**2) + 1e-6
    prob /= prob.sum()
    mu = 300 + 50 * np.round(rng.standard_normal(npix // 16)).repeat(16)
    sigma = np.full(npix, 90.0)
    from ligo.skymap.distance import parameters_to_moments

    _, _, norm = parameters_to_moments(mu, sigma)
    values = np.stack([prob, mu, sigma, np.asarray(norm)])
    path = tmp_path / "m.fits"
    path.write_bytes(_flat_bytes(values, level, nest, "D", False))
    assert_same_rows(skyio.read(path), _ligo(path))
    _crossmatch_agrees(path, three_d=True)


@pytest.mark.parametrize("kind", ["bands", "zeros", "nans"])
def test_ring_blocks_of_one_record_only_when_every_byte_agrees(tmp_path, kind):
    """RING maps whose blocks a derasterizer might wrongly take as uniform: constant along
    each ring but not from ring to ring (every ring's segment of a block holds no byte
    change, their first records differ), or regions whose bytes differ while ligo.skymap
    calls them equal (+0.0 against -0.0, NaNs of different payloads) alternating along rings:
    bit for bit as ligo.skymap."""
    level = 7
    npix = 12 << (2 * level)
    ring = np.arange(npix)
    lon, lat = ah_core.healpix_to_lonlat(ring, 1 << level, order="ring")
    band = np.round(np.asarray(lat.deg) / 30)  # constant on each ring, bands of ~67 rings
    values = np.ones((4, npix))
    values[0] = 1.0 + (band % 3)
    if kind == "bands":
        values[1] = 100 + band
    else:
        a, b = (0.0, -0.0) if kind == "zeros" else (np.nan, -np.nan)
        flip = (ring + band.astype(np.int64)) % 5 == 0
        values[1] = np.where(flip, a, b)
        if kind == "nans":
            values[1, ::7] = np.frombuffer(np.uint64(0x7FF8000000000001).tobytes(), float)[0]
    values[0] /= values[0].sum()
    # _flat_bytes takes NESTED values: put the ring-ordered ones at their NESTED pixels
    nested = np.empty_like(values)
    nested[:, ah_core.ring_to_nested(ring, 1 << level)] = values
    path = tmp_path / "m.fits"
    path.write_bytes(_flat_bytes(nested, level, False, "D", False))
    assert_same_rows(skyio.read(path), _ligo(path))


# ------------------------------------------------ RING runs, value ids, pieces of any size
def _ring_values(level: int, rng: np.random.Generator, split: float, ncols: int) -> np.ndarray:
    """RING-ordered values of a piecewise (multi-order) NESTED map with ties and specials."""
    values = _pieces(level, ncols, rng, split)
    out = np.empty_like(values)
    out[:, ah_core.nested_to_ring(np.arange(values.shape[1]), 1 << level)] = values
    return out


def _derasterize(values: np.ndarray, ordering: str, sizes: list[int]) -> skyio.Rows:
    """Rows of ``values`` (file order) fed to a derasterizer in chunks of the given sizes
    (cycled), as the gzip reader feeds the pieces it inflates."""
    from gwalert.skymap.derasterize import Derasterizer

    names = ["PROB", "DISTMU", "DISTSIGMA", "DISTNORM"][: len(values)]
    npix = values.shape[1]
    level = skyio.flat_level(npix, {})
    records = np.empty(npix, dtype=[(n, ">f8") for n in names])
    for name, v in zip(names, values, strict=True):
        records[name] = v
    der = Derasterizer(level, ordering, names, "PROB", npix / (4 * np.pi))
    at, i = 0, 0
    while at < npix:
        n = sizes[i % len(sizes)]
        der.feed(records[at : at + n])
        at += n
        i += 1
    return der.finish({})


def _same(a: skyio.Rows, b: skyio.Rows) -> None:
    np.testing.assert_array_equal(a.uniq, b.uniq)
    assert a.columns.keys() == b.columns.keys()
    for name in a.columns:
        np.testing.assert_array_equal(
            a.columns[name].view(np.int64), b.columns[name].view(np.int64)
        )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    level=st.integers(0, 6),
    ordering=st.sampled_from(["NESTED", "RING"]),
    split=st.sampled_from([0.3, 0.6, 0.9]),
    sizes=st.lists(st.integers(1, 5000), min_size=1, max_size=6),
    depth=st.sampled_from([5, 1, 0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_chunks_of_any_size_give_the_rows_of_one_chunk(level, ordering, split, sizes, depth, seed):
    """The derasterizer's windows (RING run numbers and value ids, NESTED blocks completed
    across chunks) do not depend on where the chunks are cut, nor (RING) on the units the
    blocks are first looked at by (``_UNIT_DEPTH`` 5: none at these NSIDEs; 1 and 0: units
    of 4**5 or 4**6 pixels, as at NSIDE 1024 and 2048)."""
    from gwalert.skymap import derasterize

    rng = np.random.default_rng(seed)
    values = (
        _ring_values(level, rng, split, 4) if ordering == "RING" else _pieces(level, 4, rng, split)
    )
    expected = _derasterize(values, ordering, [values.shape[1]])
    with pytest.MonkeyPatch.context() as m:
        m.setattr(derasterize, "_UNIT_DEPTH", depth)
        _same(_derasterize(values, ordering, sizes), expected)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    level=st.integers(2, 7),
    split=st.sampled_from([0.3, 0.6, 0.9]),
    bits=st.integers(0, 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_ring_value_ids_stay_exact_when_keys_collide(level, split, bits, seed):
    """Records are told apart by a 64-bit key before their bytes are compared: with keys that
    collide all the time (a few bits of the first word, or none) the rows are the same."""
    from gwalert.skymap import runs

    rng = np.random.default_rng(seed)
    values = _ring_values(level, rng, split, 4)
    expected = _derasterize(values, "RING", [values.shape[1]])
    with pytest.MonkeyPatch.context() as m:
        m.setattr(
            runs, "record_keys", lambda w: w[:, 0].astype(np.uint64) & np.uint64((1 << bits) - 1)
        )
        _same(_derasterize(values, "RING", [977, 1 << 14]), expected)


@pytest.mark.parametrize("level", range(0, 9))
def test_ring_segment_ends_are_each_rings_first_and_last_pixel(level):
    """Per block and ring: the block's pixels on that ring are the RING indices from its
    ``end_lo`` pixel's to ``end_span`` beyond (unless the segment wraps round the ring, in
    face 4 only), and ``end_hi`` is the last of them."""
    from gwalert.skymap.derasterize import Derasterizer

    der = Derasterizer(level, "RING", ["PROB"], "PROB", 1.0)
    ids = np.arange(der.nblocks)
    ring = ah_core.nested_to_ring(np.arange(12 << (2 * level)), 1 << level).reshape(der.nblocks, -1)
    np.testing.assert_array_equal(der.ring_indices(ids, 3, der.end_lo), ring[:, der.end_lo] - 3)
    np.testing.assert_array_equal(der.ring_indices(ids, 0, der.end_hi), ring[:, der.end_hi])
    face = ids // (der.nblocks // 12)
    for d in range(der.end_lo.size):
        on_ring = np.sort(ring[:, der.d_template == d], axis=1)
        start = ring[:, der.end_lo[d]]
        straight = np.all(on_ring == start[:, None] + np.arange(der.end_span[d] + 1), axis=1)
        assert np.all(straight | (face == 4))
        assert np.all(on_ring[straight, -1] == ring[straight, der.end_hi[d]])


@settings(max_examples=40, deadline=None)
@given(
    nrows=st.integers(1, 3000),
    width=st.sampled_from([1, 3, 8, 12, 32]),
    chunk=st.integers(1, 70_000),
    gz=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_row_pieces_are_the_rows_whatever_the_cuts(nrows, width, chunk, gz, seed):
    """Rows handed out as views of the inflated pieces (a row cut between pieces joined) are
    the table's rows, in order, each once."""
    from gwalert.skymap.fitsio import BinTable

    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 4, size=(nrows, width), dtype=np.uint8)  # runs, so gzip has matches
    hdu = fits.BinTableHDU.from_columns([fits.Column("C", f"{width}B", array=raw)])
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
    data = gzip.compress(buf.getvalue(), 1) if gz else buf.getvalue()
    table = BinTable(Stream(io.BufferedReader(io.BytesIO(data)), limit=1 << 30))
    pieces = list(table.iter_row_pieces(chunk))
    got = np.concatenate([p["C"].reshape(-1, width) for p in pieces])
    np.testing.assert_array_equal(got, raw)


@pytest.mark.parametrize("gz", [True, False])
def test_a_refused_ring_map_leaves_no_thread_behind(gz):
    """A map refused half way (more rows than the bound) while a piece is inflated, or a
    part compared, in the second thread: the error is the bound's, and that thread is over
    before ``read`` returns."""
    import threading

    from gwalert.skymap import maprows

    rng = np.random.default_rng(4)
    level = 8
    values = rng.random((4, 12 << (2 * level)))
    values[0] /= values[0].sum()
    data = _flat_bytes(values, level, False, "D", gz)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(maprows, "MAX_SKYMAP_ROWS", 5000)
        with pytest.raises(SkyMapError, match="more than 5000 multi-order rows"):
            skyio.read(data)
    assert not [t for t in threading.enumerate() if t.name == "gwalert-ahead"]


@pytest.mark.parametrize("nest", [True, False])
@pytest.mark.parametrize("cut", [0.3, 0.7, 0.999])
def test_a_cut_or_corrupt_flat_map_is_one_clear_error(nest, cut):
    """A flat gzip map whose stream stops part way through its table: the error says so,
    whatever the piece being inflated ahead was doing; one that turns to noise there is
    refused as corrupt or (noise that still inflates: gzip's checksum is at the member's end,
    past the table) read as a map, never another error."""
    import threading

    rng = np.random.default_rng(6)
    level = 7
    values = _pieces(level, 4, rng, 0.6)
    raw = gzip.decompress(_flat_bytes(values, level, nest, "D", True))
    packed = zlib.compressobj(1, zlib.DEFLATED, 31)
    data = packed.compress(raw) + packed.flush()
    at = int(len(data) * cut)
    with pytest.raises(SkyMapError, match="truncated"):
        skyio.read(data[:at])
    noisy = data[:at] + bytes(rng.integers(0, 256, 64, dtype=np.uint8)) + data[at + 64 :]
    try:
        skyio.read(noisy)
    except SkyMapError as exc:
        assert "corrupt" in str(exc) or "truncated" in str(exc)
    assert not [t for t in threading.enumerate() if t.name == "gwalert-ahead"]


@pytest.mark.parametrize("nest", [True, False])
def test_on_one_cpu_no_second_thread_and_the_same_rows(nest, monkeypatch):
    """A process allowed one CPU reads flat maps without the second thread (it would only
    add switching there), to the same rows as with it."""
    import threading

    from gwalert.skymap import ahead

    rng = np.random.default_rng(11)
    level = 7
    data = _flat_bytes(_pieces(level, 4, rng, 0.6), level, nest, "D", True)
    two = skyio.read(data)
    monkeypatch.setattr(ahead, "cpus", lambda: 1)
    started = []
    real_start = threading.Thread.start

    def start(self):
        started.append(self.name)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    one = skyio.read(data)
    assert "gwalert-ahead" not in started
    np.testing.assert_array_equal(one.uniq, two.uniq)
    for name in two.columns:
        np.testing.assert_array_equal(one.columns[name], two.columns[name])
    monkeypatch.setattr(ahead, "cpus", lambda: 2)
    skyio.read(data)
    assert "gwalert-ahead" in started  # the check can fail: with two CPUs the thread runs
