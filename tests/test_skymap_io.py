"""Reading sky maps: the FITS reader against astropy, the rows against ligo.skymap.

* ``fitsio`` gives the values astropy's ``fits.open`` gives (TSCAL/TZERO, unsigned conventions,
  TNULL, logicals, vector columns, TDIM, both float widths, gzip) on hypothesis-generated tables.
* ``SkyMap.read`` gives the rows of ligo.skymap's ``read_sky_map(path, moc=True)``: flattened
  NESTED and RING maps with random piecewise-constant structure (so that siblings merge), ties,
  infinities and NaNs, 2-D and 3-D, float32/float64, ``1024E`` vector columns, gzip.
* Reading a hostile or huge map costs bounded memory (measured in a subprocess).
"""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import warnings
import zlib

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gwalert.errors import SkyMapError
from gwalert.skymap import SkyMap
from gwalert.skymap import io as skyio
from gwalert.skymap.fitsio import read_bintable

warnings.filterwarnings("ignore", module="astropy")
ligo_fits = pytest.importorskip("ligo.skymap.io.fits")
ah_core = pytest.importorskip("astropy_healpix.core")

LONG = os.environ.get("GWALERT_LONG_TESTS") == "1"
SETTINGS = settings(
    max_examples=300 if LONG else 30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _hdul_bytes(hdu: fits.BinTableHDU, compress: bool = False) -> bytes:
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
    data = buf.getvalue()
    return gzip.compress(data, compresslevel=1) if compress else data


def _inflated(data: bytes) -> bytes:
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


# ------------------------------------------------------------------- FITS reader vs astropy
_STORED = {
    "L": np.bool_,
    "B": np.uint8,
    "I": np.int16,
    "J": np.int32,
    "K": np.int64,
    "E": np.float32,
    "D": np.float64,
}


@st.composite
def _column(draw, index: int):
    code = draw(st.sampled_from("LBIJKED"))
    repeat = draw(st.sampled_from([1, 1, 2, 3, 6]))
    dim = None
    if repeat == 6 and draw(st.booleans()):
        dim = draw(st.sampled_from(["(3,2)", "(2,3)", "(6)", "(1,2,3)"]))
    cards: dict[str, object] = {}
    if code in "IJK" and draw(st.booleans()):
        cards["TZERO"] = {"I": 1 << 15, "J": 1 << 31, "K": 1 << 63}[code]  # unsigned
    elif code in "BIJED" and draw(st.booleans()):
        cards["TSCAL"] = draw(st.sampled_from([1, 0.5, 2.0, -3.25, 1e-3]))
        cards["TZERO"] = draw(st.sampled_from([0, -128, 10, 1e5, -2.5]))
    if code in "BIJK" and not cards and draw(st.booleans()):  # astropy fails on scaled ones
        cards["TNULL"] = draw(st.sampled_from([0, 7, 255] if code == "B" else [0, -1, 7, -32768]))
    return code, repeat, dim, cards


@st.composite
def _table(draw):
    ncols = draw(st.integers(1, 4))
    cols = [draw(_column(i)) for i in range(ncols)]
    nrows = draw(st.integers(0, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    return cols, nrows, seed, draw(st.booleans())


def _stored_values(code: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    dtype = _STORED[code]
    if code == "L":
        return rng.random(shape) < 0.5
    if code in "ED":
        values = rng.normal(0, 1e3, shape).astype(dtype)
        special = rng.random(shape)
        values[special < 0.05] = np.nan
        values[(special > 0.05) & (special < 0.1)] = np.inf
        values[(special > 0.1) & (special < 0.15)] = -0.0
        return values
    info = np.iinfo(dtype)
    values = rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    small = rng.random(shape) < 0.3
    values[small] = rng.integers(-1, 8, size=int(small.sum())).astype(dtype)
    return values


def _write_table(spec, nrows: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    columns = []
    for i, (code, repeat, _, _) in enumerate(spec):
        shape = (nrows,) if repeat == 1 else (nrows, repeat)
        columns.append(
            fits.Column(f"C{i}", f"{repeat}{code}", array=_stored_values(code, shape, rng))
        )
    hdu = fits.BinTableHDU.from_columns(columns)
    for i, (_, _, dim, cards) in enumerate(spec, start=1):
        for key, value in cards.items():
            hdu.header[f"{key}{i}"] = value
        if dim:
            hdu.header[f"TDIM{i}"] = dim
    return _hdul_bytes(hdu)


def _same(ours: np.ndarray, ref: np.ndarray) -> None:
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape
    assert ours.dtype.kind == ref.dtype.kind, (ours.dtype, ref.dtype)
    if ref.dtype.kind == "f":
        # bit for bit, NaNs included
        np.testing.assert_array_equal(
            ours.astype(np.float64).view(np.int64), ref.astype(np.float64).view(np.int64)
        )
    else:
        np.testing.assert_array_equal(ours, ref)


@SETTINGS
@given(_table())
@pytest.mark.slow
def test_fitsio_matches_astropy_on_every_layout(table):
    spec, nrows, seed, compress = table
    data = _write_table(spec, nrows, seed)
    source = gzip.compress(data, compresslevel=1) if compress else data
    ours = read_bintable(source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hdul = fits.open(io.BytesIO(data))
        ref = Table.read(io.BytesIO(data))
        for i, (code, _, _, cards) in enumerate(spec):
            name = f"C{i}"
            _same(ours.columns[name], hdul[1].data[name])
            # Table.read masks an integer column's TNULL values (unscaled columns only)
            mask = getattr(ref[name], "mask", None)
            if name in ours.nulls:
                assert mask is not None
                np.testing.assert_array_equal(ours.nulls[name], mask)
            elif (
                code in "BIJK"
                and "TNULL" in cards
                and "TSCAL" not in cards
                and "TZERO" not in cards
            ):
                raise AssertionError(f"{name}: TNULL not reported")


@pytest.mark.parametrize("how", ["bytes", "path", "file", "gzip-path", "two-members"])
def test_every_source_reads_the_same(tmp_path, how):
    data = _write_table([("D", 1, None, {}), ("K", 1, None, {"TZERO": 1 << 63})], 100, 1)
    if how == "bytes":
        source: object = data
    elif how == "file":
        source = io.BytesIO(data)
    elif how == "path":
        (tmp_path / "t.fits").write_bytes(data)
        source = tmp_path / "t.fits"
    elif how == "gzip-path":
        (tmp_path / "t.fits.gz").write_bytes(gzip.compress(data))
        source = str(tmp_path / "t.fits.gz")
    else:
        half = len(data) // 3
        source = gzip.compress(data[:half]) + gzip.compress(data[half:]) + b"\0" * 10
    ours = read_bintable(source)
    ref = fits.open(io.BytesIO(data))[1].data
    _same(ours.columns["C0"], ref["C0"])
    _same(ours.columns["C1"], ref["C1"])


def test_corrupt_and_truncated_streams_are_refused():
    data = _write_table([("D", 1, None, {})], 1000, 2)
    packed = gzip.compress(data)
    with pytest.raises(SkyMapError, match="truncated"):
        read_bintable(packed[: len(packed) // 2])
    with pytest.raises(SkyMapError, match="trailing garbage"):
        half = len(data) // 2  # a second member that is not gzip, before the table's end
        read_bintable(gzip.compress(data[:half]) + b"garbage" + gzip.compress(data[half:]))
    with pytest.raises(SkyMapError, match="corrupt"):
        read_bintable(packed[:20] + bytes(b ^ 0x55 for b in packed[20:60]) + packed[60:])
    with pytest.raises(SkyMapError, match="truncated FITS table"):
        read_bintable(data[: 2880 * 2 + 100])
    with pytest.raises(SkyMapError, match="not a FITS file"):
        read_bintable(b"\0" * 2880)


# ------------------------------------------------------------------ HEALPix ring indices
@settings(max_examples=200, deadline=None)
@given(st.integers(0, 29), st.data())
def test_nest_to_ring_matches_astropy_healpix(level, data):
    npix = 12 << (2 * level)
    ipix = np.array(
        data.draw(st.lists(st.integers(0, npix - 1), min_size=1, max_size=50)), dtype=np.int64
    )
    expected = ah_core.nested_to_ring(ipix, 1 << level)
    np.testing.assert_array_equal(skyio.nest_to_ring(ipix, level), expected)


@pytest.mark.parametrize("level", range(0, 10))
def test_block_ring_indices_cover_every_pixel(level):
    der = skyio.Derasterizer(level, "RING", ["PROB"], "PROB", 1.0)
    got = der.ring_indices(np.arange(der.nblocks)).ravel()
    np.testing.assert_array_equal(
        got, ah_core.nested_to_ring(np.arange(12 << (2 * level)), 1 << level)
    )


# --------------------------------------------------------- flattened maps vs ligo.skymap
def piecewise(
    level: int, ncols: int, rng: np.random.Generator, split: float, palette: np.ndarray
) -> np.ndarray:
    """NESTED values made of random multi-order pieces, with repeated values (ties)."""
    npix = 12 << (2 * level)
    values = np.empty((ncols, npix))
    stack = [(0, f) for f in range(12)]
    while stack:
        lev, ipix = stack.pop()
        if lev < level and rng.random() < split:
            stack.extend((lev + 1, 4 * ipix + c) for c in range(4))
            continue
        span = 1 << (2 * (level - lev))
        if rng.random() < 0.5:
            v = rng.choice(palette, size=ncols)
        else:
            v = rng.random(ncols) * 10.0 ** rng.integers(-3, 3)
        values[:, ipix * span : (ipix + 1) * span] = v[:, None]
    return values


def _write_flat(
    values: np.ndarray,
    names: list[str],
    level: int,
    ordering: str,
    code: str,
    repeat: int,
    compress: bool,
    unit: bool = True,
) -> bytes:
    npix = values.shape[1]
    if ordering == "RING":
        out = np.empty_like(values)
        out[:, ah_core.nested_to_ring(np.arange(npix), 1 << level)] = values
        values = out
    dtype = np.float32 if code == "E" else np.float64
    cols = []
    for name, v in zip(names, values, strict=True):
        v = v.astype(dtype)
        cols.append(
            fits.Column(
                name,
                f"{repeat}{code}" if repeat > 1 else code,
                array=v.reshape(-1, repeat) if repeat > 1 else v,
                unit="pix-1" if unit and name == "PROB" else None,
            )
        )
    hdu = fits.BinTableHDU.from_columns(cols)
    hdu.header.update(
        {
            "PIXTYPE": "HEALPIX",
            "ORDERING": ordering,
            "COORDSYS": "C",
            "NSIDE": 1 << level,
            "INDXSCHM": "IMPLICIT",
            "OBJECT": "TEST",
        }
    )
    return _hdul_bytes(hdu, compress)


def _ligo_rows(data: bytes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ligo_fits.read_sky_map(io.BytesIO(_inflated(data)), moc=True)


def assert_same_rows(rows: skyio.Rows, ref) -> None:
    np.testing.assert_array_equal(rows.uniq, np.asarray(ref["UNIQ"]))
    for name in ("PROBDENSITY", *skyio.DISTANCE_COLUMNS):
        if name not in ref.colnames:
            assert name not in rows.columns
            continue
        expected = np.asarray(ref[name], dtype=np.float64)
        ours = rows.columns[name]
        assert ours.dtype == np.float64
        # the same numbers bit for bit (NaN where ligo.skymap has NaN)
        np.testing.assert_array_equal(ours.view(np.int64), expected.view(np.int64), name)


_PALETTE = np.array([0.0, 0.0, 1.0, 2.5, np.inf, 1e-300])


@st.composite
def _flat_map(draw, max_level: int = 6):
    level = draw(st.integers(0, max_level))
    npix = 12 << (2 * level)
    names = ["PROB"]
    if draw(st.booleans()):
        names += ["DISTMU", "DISTSIGMA", "DISTNORM"]
    repeat = 1
    if npix % 1024 == 0 and draw(st.booleans()):
        repeat = 1024  # O1/O2 layout: `1024E` vector columns
    elif npix % 48 == 0 and draw(st.booleans()):
        repeat = 48
    return dict(
        level=level,
        names=names,
        ordering=draw(st.sampled_from(["NESTED", "RING"])),
        code=draw(st.sampled_from("ED")),
        repeat=repeat,
        compress=draw(st.booleans()),
        split=draw(st.sampled_from([0.3, 0.6, 0.9])),
        seed=draw(st.integers(0, 2**32 - 1)),
        specials=draw(st.booleans()),
    )


def _make(spec: dict) -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(spec["seed"])
    values = piecewise(spec["level"], len(spec["names"]), rng, spec["split"], _PALETTE)
    values[0] = np.abs(values[0])
    values[0][~np.isfinite(values[0])] = 1.0
    if spec["specials"] and len(spec["names"]) > 1:
        # what real maps hold where there is no distance information, and more
        npix = values.shape[1]
        for _ in range(rng.integers(1, 6)):
            col = int(rng.integers(1, len(spec["names"])))
            start = int(rng.integers(0, npix))
            stop = min(npix, start + 4 ** int(rng.integers(0, 3)))
            values[col, start:stop] = rng.choice([np.nan, np.inf, -np.inf, -0.0, -5.0])
    values[0] /= values[0].sum()
    return _write_flat(
        values,
        spec["names"],
        spec["level"],
        spec["ordering"],
        spec["code"],
        spec["repeat"],
        spec["compress"],
    ), values


@SETTINGS
@given(_flat_map())
@pytest.mark.slow
def test_flat_maps_read_as_ligo_skymap_derasterizes_them(spec):
    data, _ = _make(spec)
    assert_same_rows(skyio.read(data), _ligo_rows(data))


@pytest.mark.slow
def test_a_large_flat_map_reads_as_ligo_skymap():
    spec = dict(
        level=9 if not LONG else 11,
        names=["PROB", "DISTMU", "DISTSIGMA", "DISTNORM"],
        ordering="RING",
        code="E",
        repeat=1024,
        compress=True,
        split=0.6,
        seed=7,
        specials=True,
    )
    data, values = _make(spec)
    rows = skyio.read(data)
    assert len(rows.uniq) < values.shape[1] // 10  # merging happened
    assert_same_rows(rows, _ligo_rows(data))


def test_flat_map_without_merging_and_in_memory_columns():
    level = 4
    rng = np.random.default_rng(4)
    prob = rng.random(12 << (2 * level))
    prob /= prob.sum()
    data = _write_flat(prob[None], ["PROB"], level, "RING", "D", 1, False)
    rows = skyio.read(data)
    assert_same_rows(rows, _ligo_rows(data))
    ring = np.empty_like(prob)
    ring[ah_core.nested_to_ring(np.arange(prob.size), 1 << level)] = prob
    mem = SkyMap.from_table({"PROB": ring}, {"ORDERING": "RING"})
    np.testing.assert_array_equal(mem.uniq, rows.uniq)
    np.testing.assert_array_equal(mem.probdensity, rows.columns["PROBDENSITY"])


# ------------------------------------------------------- multi-order layouts, real ones
def _multiorder(uniq: np.ndarray, dens: np.ndarray, unsigned: bool, dist: bool) -> bytes:
    if unsigned:  # ligo.skymap < 0.1.8 (most O3 alerts): TFORM K, TZERO 2**63
        ucol = fits.Column("UNIQ", "K", bzero=1 << 63, array=uniq.astype(np.uint64))
    else:
        ucol = fits.Column("UNIQ", "K", array=uniq)
    cols = [ucol, fits.Column("PROBDENSITY", "D", array=dens)]
    if dist:
        n = uniq.size
        cols += [
            fits.Column("DISTMU", "D", array=np.full(n, 100.0)),
            fits.Column("DISTSIGMA", "D", array=np.full(n, 20.0)),
            fits.Column("DISTNORM", "D", array=np.full(n, 1e-4)),
        ]
    hdu = fits.BinTableHDU.from_columns(cols)
    hdu.header.update(
        {
            "PIXTYPE": "HEALPIX",
            "ORDERING": "NUNIQ",
            "COORDSYS": "C",
            "MOCORDER": 4,
            "INDXSCHM": "EXPLICIT",
        }
    )
    return _hdul_bytes(hdu)


@pytest.mark.parametrize("unsigned", [True, False])
def test_o3_unsigned_uniq_opens(unsigned):
    from gwalert.samples import gaussian_skymap

    base = SkyMap.read(gaussian_skymap(max_level=6))
    data = _multiorder(base.uniq, base.probdensity, unsigned, True)
    assert (b"TZERO1  =  9223372036854775808" in data) == unsigned
    sm = SkyMap.read(data)
    ref = _ligo_rows(data)
    np.testing.assert_array_equal(sm.uniq, ref["UNIQ"])
    np.testing.assert_array_equal(sm.probdensity, ref["PROBDENSITY"])
    assert sm.uniq.dtype == np.int64


@pytest.mark.parametrize(
    "layout",
    ["o1-1024E-2d", "o2-3d-float32-ring", "prob-only-128", "o3-nested-gzip", "fermi-probability"],
)
@pytest.mark.slow
def test_real_layouts_give_ligo_skymap_rows_and_areas(layout):
    from ligo.skymap.postprocess.crossmatch import crossmatch

    spec = {
        "o1-1024E-2d": dict(
            level=7, names=["PROB"], ordering="NESTED", code="E", repeat=1024, compress=True
        ),
        "o2-3d-float32-ring": dict(
            level=6,
            names=["PROB", "DISTMU", "DISTSIGMA", "DISTNORM"],
            ordering="RING",
            code="E",
            repeat=1024,
            compress=True,
        ),
        "prob-only-128": dict(
            level=7, names=["PROB"], ordering="RING", code="D", repeat=1, compress=True
        ),
        "o3-nested-gzip": dict(
            level=6,
            names=["PROB", "DISTMU", "DISTSIGMA", "DISTNORM"],
            ordering="NESTED",
            code="D",
            repeat=1,
            compress=True,
        ),
        # Fermi GBM names the column PROBABILITY; ligo.skymap reads it as PROB
        "fermi-probability": dict(
            level=6, names=["PROBABILITY"], ordering="RING", code="D", repeat=1, compress=False
        ),
    }[layout]
    data, _ = _make({**spec, "split": 0.8, "seed": 11, "specials": False})
    sm = SkyMap.read(data)
    ref = _ligo_rows(data)
    np.testing.assert_array_equal(sm.uniq, ref["UNIQ"])
    np.testing.assert_array_equal(sm.probdensity, np.asarray(ref["PROBDENSITY"], float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # areas only: 2-D is enough (ligo.skymap's 3-D volumes take seconds)
        result = crossmatch(ref["UNIQ", "PROBDENSITY"], contours=(0.5, 0.9))
    np.testing.assert_allclose(sm.credible_area([0.5, 0.9]), result.contour_areas, rtol=1e-6)


# ------------------------------------------------------------------------------ bounds
def test_row_bound_refuses_a_map_that_does_not_merge(monkeypatch):
    from gwalert.skymap import maprows  # the bound on the readers' rows lives there

    monkeypatch.setattr(maprows, "MAX_SKYMAP_ROWS", 1000)
    rng = np.random.default_rng(1)
    prob = rng.random(12 << 8)
    data = _write_flat((prob / prob.sum())[None], ["PROB"], 4, "NESTED", "D", 1, True)
    with pytest.raises(SkyMapError, match="more than 1000 multi-order rows"):
        SkyMap.read(data)


def test_flat_map_claiming_too_many_pixels_is_refused_from_its_header():
    data = bytearray(_write_flat(np.full((1, 12), 1 / 12), ["PROB"], 0, "NESTED", "D", 1, False))
    at = data.index(b"NAXIS2  = ", 2880)
    data[at : at + 80] = f"NAXIS2  = {12 << 30:>20d}".ljust(80).encode()
    with pytest.raises(SkyMapError, match="header claims"):
        SkyMap.read(bytes(data))


def test_flat_map_with_too_many_columns_is_refused():
    values = np.full((9, 12), 1 / 12)
    data = _write_flat(values, [f"C{i}" for i in range(9)], 0, "NESTED", "D", 1, False)
    with pytest.raises(SkyMapError, match="9 columns"):
        SkyMap.read(data)


def _huge_ring_notice(tmp_path, level: int) -> bytes:
    """A notice whose gzip sky map is a flat RING map of NSIDE 2**level (PROB, float64):
    about 1 MB on the wire, 12 * 4**level * 8 bytes inflated."""
    from gwalert.alerts import encode
    from gwalert.samples import make_record

    npix = 12 << (2 * level)
    hdu = fits.BinTableHDU.from_columns([fits.Column("PROB", "D", array=np.zeros(1))])
    hdu.header.update(
        {"PIXTYPE": "HEALPIX", "ORDERING": "RING", "NSIDE": 1 << level, "INDXSCHM": "IMPLICIT"}
    )
    hdu.header["NAXIS2"] = npix
    head = fits.PrimaryHDU().header.tostring().encode() + hdu.header.tostring().encode()
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    parts = [comp.compress(head)]
    hot = np.full(4096, 1 / 4096, dtype=">f8").tobytes()  # the probability: one patch
    zeros = bytes(1 << 22)
    left = npix * 8 - len(hot)
    parts.append(comp.compress(hot))
    while left > 0:
        parts.append(comp.compress(zeros[: min(left, len(zeros))]))
        left -= len(zeros)
    parts.append(comp.compress(bytes(-(npix * 8) % 2880)))
    parts.append(comp.flush())
    return encode(make_record(skymap=b"".join(parts)))


@pytest.mark.slow
def test_a_small_notice_with_an_nside_2048_ring_map_costs_little_memory(tmp_path):
    path = tmp_path / "ring2048.avro"
    path.write_bytes(_huge_ring_notice(tmp_path, 11))
    assert path.stat().st_size < 2 << 20
    # VmHWM is this process's own peak (ru_maxrss would include pytest's, inherited at fork)
    code = (
        "import sys\n"
        "from gwalert.cli import main\n"
        "rc = main(['parse', '--json', sys.argv[1]])\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "heavy = any(m.split('.')[0] in ('astropy', 'astropy_healpix') for m in sys.modules)\n"
        "print('RC', rc, hwm.split()[1], heavy)\n"
    )
    # The analysis in this process (no budget worker): its memory is what is measured, and no
    # time budget can fail the test on a loaded machine (at load 16 it once took over 10 s).
    env = {**os.environ, "GWALERT_ANALYSIS_TIMEOUT": "0"}
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    last = out.stdout.splitlines()[-1].split()
    assert last[:2] == ["RC", "0"], out.stderr
    assert int(last[2]) * 1024 < 400 << 20  # the flat map alone is 400 MB
    assert last[3] == "False"  # RING reordering without importing astropy(-healpix)
