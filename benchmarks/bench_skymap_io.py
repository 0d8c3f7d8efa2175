"""Reading flattened sky maps: gwalert against ligo.skymap, time and peak memory in one run.

    .venv/bin/python benchmarks/bench_skymap_io.py [--quick] [--dir DIR]

For each flattened map (written here with astropy: a multi-order Gaussian blob rasterized to
one resolution, as LVK's flattened files are), a fresh process reads it with
``SkyMap.read(path)`` (gwalert) and with ``read_sky_map(path, moc=True)`` (ligo.skymap); both give
the same multi-order rows. Reported: rows, seconds, peak RSS (VmHWM of the process), and the
ratio ligo.skymap / gwalert of the times from this run. Sizes: nside 128 (PROB only, RING),
512 (3-D float32, ``1024E`` columns, gzip, NESTED), 512 (3-D float64 RING), 1024 (3-D float64
NESTED gzip, 402 MB inflated like GW170817's GWTC-1 map) and 2048 (PROB float64 RING gzip,
402 MB inflated: the notice case). Targets: peak RSS <= 500 MB at nside 2048; faster than
ligo.skymap on every size.
"""

from __future__ import annotations

import argparse
import gzip
import io
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

READER = r"""
import sys, time, warnings
warnings.simplefilter("ignore")
which, path = sys.argv[1:]
if which == "ligo":
    from ligo.skymap.io.fits import read_sky_map
    t = time.perf_counter(); n = len(read_sky_map(path, moc=True))
else:
    from gwalert.skymap import SkyMap
    t = time.perf_counter(); n = len(SkyMap.read(path))
took = time.perf_counter() - t
hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]
print(n, took, int(hwm) / 1024)
"""


def write_flat(
    path: Path, level: int, ordering: str, dist: bool, code: str, repeat: int, compress: bool
) -> int:
    from astropy.io import fits
    from astropy_healpix.core import nested_to_ring

    from gwalert.samples import gaussian_skymap
    from gwalert.skymap import SkyMap
    from gwalert.skymap.healpix import uniq_to_level_ipix

    sm = SkyMap.read(
        gaussian_skymap(
            max_level=min(level, 9), sigma=3.0, distance=(150.0, 30.0) if dist else None
        )
    )
    lev, ipix = uniq_to_level_ipix(sm.uniq)
    npix = 12 << (2 * level)
    span = 1 << (2 * (level - lev))
    order = np.argsort(ipix * span)
    idx = np.repeat(order, span[order])
    cols = {"PROB": sm.probdensity[idx] * (4 * np.pi / npix)}
    if dist:
        cols.update(DISTMU=sm.distmu[idx], DISTSIGMA=sm.distsigma[idx], DISTNORM=sm.distnorm[idx])
    del idx
    if ordering == "RING":
        ring = nested_to_ring(np.arange(npix), 1 << level)
        for key, v in cols.items():
            out = np.empty_like(v)
            out[ring] = v
            cols[key] = out
        del ring
    dtype = np.float32 if code == "E" else np.float64
    columns = [
        fits.Column(
            k,
            f"{repeat}{code}" if repeat > 1 else code,
            array=v.astype(dtype).reshape(-1, repeat) if repeat > 1 else v.astype(dtype),
        )
        for k, v in cols.items()
    ]
    hdu = fits.BinTableHDU.from_columns(columns)
    hdu.header.update(
        {
            "PIXTYPE": "HEALPIX",
            "ORDERING": ordering,
            "NSIDE": 1 << level,
            "INDXSCHM": "IMPLICIT",
            "COORDSYS": "C",
        }
    )
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
    data = buf.getvalue()
    path.write_bytes(gzip.compress(data, compresslevel=6) if compress else data)
    return len(data)


def measure(which: str, path: Path) -> tuple[int, float, float]:
    out = subprocess.run(
        [sys.executable, "-c", READER, which, str(path)], check=True, capture_output=True, text=True
    ).stdout.split()
    return int(out[0]), float(out[1]), float(out[2])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="skip nside 1024 and 2048")
    parser.add_argument("--dir", help="where to write the maps (default: a temporary one)")
    args = parser.parse_args()
    cases = [
        ("nside 128, PROB, RING", 7, "RING", False, "D", 1, False),
        ("nside 512, 3-D float32 1024E, NESTED gzip", 9, "NESTED", True, "E", 1024, True),
        ("nside 512, 3-D float64, RING", 9, "RING", True, "D", 1, False),
    ]
    if not args.quick:
        cases += [
            ("nside 1024, 3-D float64, NESTED gzip", 10, "NESTED", True, "D", 1, True),
            ("nside 2048, PROB float64, RING gzip", 11, "RING", False, "D", 1, True),
        ]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        print(
            f"{'map':44s} {'inflated':>9s} {'rows':>6s} {'gwalert':>16s} "
            f"{'ligo.skymap':>17s} {'ratio':>6s}"
        )
        for label, level, ordering, dist, code, repeat, compress in cases:
            path = Path(tmp) / f"map{level}{ordering}.fits{'.gz' if compress else ''}"
            size = write_flat(path, level, ordering, dist, code, repeat, compress)
            n, ours, ours_mb = measure("gwalert", path)
            n_ref, ref, ref_mb = measure("ligo", path)
            assert n == n_ref, (n, n_ref)
            print(
                f"{label:44s} {size / 1e6:7.0f}MB {n:6d} {ours:6.2f}s {ours_mb:5.0f}MB "
                f"{ref:7.2f}s {ref_mb:5.0f}MB {ref / ours:5.1f}x",
                flush=True,
            )
            path.unlink()


if __name__ == "__main__":
    main()
