"""The hand-written FITS reader agrees with astropy on every sky map we have."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from conftest import shared_file
from gwalert.errors import SkyMapError
from gwalert.samples import gaussian_skymap, write_skymap
from gwalert.skymap import SkyMap
from gwalert.skymap.fitsio import read_bintable

SHARED_MAPS = [
    "bayestar.multiorder.fits",
    "G1028259_rrt_small_area_cwb.multiorder.fits",
    "MS181101ab_userguide_bayestar.slim.nside512.fits.gz",
]


def _compare(data: bytes) -> None:
    ours = read_bintable(data)
    ref = Table.read(
        fits.open(
            __import__("io").BytesIO(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
        )
    )
    assert list(ours.columns) == [c.upper() for c in ref.colnames]
    for name in ref.colnames:
        np.testing.assert_array_equal(ours.columns[name.upper()], np.asarray(ref[name]))
    for key, value in ref.meta.items():
        if key in ("HISTORY", "COMMENT"):
            continue
        assert ours.header[key] == value, key


@pytest.mark.parametrize("name", SHARED_MAPS)
def test_shared_maps_match_astropy(name):
    _compare(shared_file("skymaps", name).read_bytes())


def test_built_maps_match_astropy():
    _compare(gaussian_skymap(max_level=5))
    _compare(gaussian_skymap(max_level=4, distance=None))
    _compare(gzip.compress(gaussian_skymap(max_level=4)))


def test_header_values_of_every_kind():
    data = write_skymap(
        [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        np.full(12, 1 / (4 * np.pi)),
        meta={
            "OBJECT": "it''s",
            "HISTORY": "x",
            "LOGBCI": 1.5e-3,
            "MOC": True,
            "RUNTIME": 3,
            "EMPTY": "",
        },
    )
    header = read_bintable(data).header
    ref = fits.open(__import__("io").BytesIO(data))[1].header
    for key in ("OBJECT", "LOGBCI", "MOC", "RUNTIME"):
        assert header[key] == ref[key]


def _flat(nside: int, ordering: str, values: np.ndarray, column: str = "PROB") -> bytes:
    import io

    hdu = fits.BinTableHDU.from_columns([fits.Column(column, "D", array=values)])
    hdu.header.update(
        {
            "PIXTYPE": "HEALPIX",
            "ORDERING": ordering,
            "NSIDE": nside,
            "INDXSCHM": "IMPLICIT",
            "DISTMEAN": 10.0,
            "DISTSTD": 1.0,
        }
    )
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
    return buf.getvalue()


@pytest.mark.parametrize("ordering", ["NESTED", "RING"])
def test_flat_maps_become_multi_order(ordering):
    import astropy_healpix as ah
    from astropy_healpix.core import nested_to_ring

    nside = 16
    npix = 12 * nside * nside
    rng = np.random.default_rng(3)
    prob = rng.random(npix)
    prob /= prob.sum()
    m = SkyMap.read(_flat(nside, ordering, prob))
    assert len(m) == npix and set(m.level) == {4}
    nested = prob if ordering == "NESTED" else prob[nested_to_ring(np.arange(npix), nside)]
    np.testing.assert_allclose(m.prob, nested, rtol=1e-12)
    best = int(np.argmax(nested))
    lon, lat = ah.healpix_to_lonlat(best, nside, order="nested")
    assert m.most_probable() == (lon.deg, lat.deg)


def test_flat_shared_map_most_probable():
    import astropy_healpix as ah

    path = shared_file("skymaps", "MS181101ab_userguide_bayestar.slim.nside512.fits.gz")
    m = SkyMap.read(path)
    prob = Table.read(path)["PROB"]
    lon, lat = ah.healpix_to_lonlat(int(np.argmax(prob)), 512, order="nested")
    assert m.most_probable() == (lon.deg, lat.deg)
    assert m.distmean == 39.76999609489013


def test_refuses_what_it_cannot_read():
    data = gaussian_skymap(max_level=3)
    with pytest.raises(SkyMapError, match="not a FITS file"):
        read_bintable(b"\x00" * 5760)
    with pytest.raises(SkyMapError, match="no END card"):
        read_bintable(data[:2000])
    bad = bytearray(data)
    at = bad.index(b"TFORM1  = ")
    bad[at : at + 80] = b"TFORM1  = 'P       '".ljust(80)
    with pytest.raises(SkyMapError, match="unsupported FITS column format"):
        read_bintable(bytes(bad))
