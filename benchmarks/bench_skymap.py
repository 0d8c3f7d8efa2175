"""Sky-map analysis benchmark: gwalert against ligo.skymap, measured in one run.

    .venv/bin/python benchmarks/bench_skymap.py [--quick]

1. Full summary of a 19,200-row 3-D BAYESTAR map (../shared's bayestar.multiorder.fits, or a
   generated map of the same size): most probable position, 50/90% areas and volumes, distance.
   gwalert: ``SkyMap.read`` + ``most_probable`` + ``credible_area`` + ``credible_volume``;
   ligo.skymap: ``read_sky_map(moc=True)`` + ``crossmatch(contours=(0.5, 0.9))``.
2. 3-D crossmatch of 100,000 random galaxies (RA, Dec, distance) on that map, cold (a freshly
   read map: every table built inside the timed call) and warm (the map's per-row tables
   reused; the tables that depend on the targets rebuilt); ligo.skymap's
   ``crossmatch(sky_map, coords, contours=(0.5, 0.9))``.
   The same on a generated broad single-detector-like 3-D map (``broad_map``: ~19,500 rows,
   90% area of thousands of deg², distance ~3 Gpc with broad and some negative DISTMU), targets
   out to 9 Gpc: the case where a tabulated 3-D level used to break.
3. 2-D crossmatch of 100,000 positions + 50/90% areas on a generated ~320,000-row 2-D map
   (orders 7 to 11).
4. Peak memory (VmHWM of a fresh process) reading and analysing an order-11 3-D map (the user
   guide's MS181101ab, 19,200 rows, and a generated ~315,000-row one): summary,
   100,000-galaxy crossmatch, then the Mollweide plot. Flattening an order-11 map takes
   50 million pixels x 4 columns x 8 bytes = 1.6 GB.

Times are the best of several runs (ligo.skymap: of fewer, it is slow); ratios are
ligo.skymap / gwalert from the same run on the same machine.
"""

from __future__ import annotations

import argparse
import gc
import math
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED_MAP = REPO.parent / "shared" / "data" / "skymaps" / "bayestar.multiorder.fits"
SHARED_NOTICE = REPO.parent / "shared" / "data" / "notices" / "MS181101ab-preliminary.avro"


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def targets(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    dist = rng.uniform(1, 500, n)
    return ra, dec, dist


def big_map(path: Path, distance: bool) -> int:
    """A ~320,000-row map: all sky at order 7, a Gaussian region refined to order 11."""
    import astropy_healpix as ah
    from astropy import units as u

    from gwalert.samples import write_skymap
    from gwalert.skymap.healpix import level_ipix_to_uniq, pixel_area_sr, uniq_to_level_ipix

    ra0, dec0, sigma = 150.0, 20.0, 6.0
    uniq = level_ipix_to_uniq(7, np.arange(12 * 4**7))
    for level, radius in ((7, 30.0), (8, 14.0), (9, 6.0), (10, 2.5)):
        lv, ip = uniq_to_level_ipix(uniq)
        lon, lat = ah.healpix_to_lonlat(ip, 2**lv, order="nested")
        sep = np.degrees(
            np.arccos(
                np.clip(
                    np.sin(lat.rad) * math.sin(math.radians(dec0))
                    + np.cos(lat.rad)
                    * math.cos(math.radians(dec0))
                    * np.cos(lon.rad - math.radians(ra0)),
                    -1,
                    1,
                )
            )
        )
        split = (lv == level) & (sep < radius)
        uniq = np.concatenate([uniq[~split], (4 * uniq[split][:, None] + np.arange(4)).ravel()])
    uniq = np.sort(uniq)
    lv, ip = uniq_to_level_ipix(uniq)
    lon, lat = ah.healpix_to_lonlat(ip, 2**lv, order="nested")
    sep = np.degrees(
        np.arccos(
            np.clip(
                np.sin(lat.rad) * math.sin(math.radians(dec0))
                + np.cos(lat.rad)
                * math.cos(math.radians(dec0))
                * np.cos(lon.rad - math.radians(ra0)),
                -1,
                1,
            )
        )
    )
    dens = np.exp(-0.5 * (sep / sigma) ** 2) + 1e-9
    dens /= np.sum(dens * pixel_area_sr(lv))
    kwargs = {}
    if distance:
        rng = np.random.default_rng(5)
        mu = 300.0 + 40 * rng.standard_normal(uniq.size)
        sd = np.full(uniq.size, 80.0)
        x = mu / sd
        from math import erf

        cdf = 0.5 * (1 + np.vectorize(erf)(x / math.sqrt(2)))
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        norm = 1 / ((mu * mu + sd * sd) * cdf + mu * sd * pdf)
        kwargs = {"distmu": mu, "distsigma": sd, "distnorm": norm}
    del u
    path.write_bytes(write_skymap(uniq, dens, meta={"MOCORDER": 11, "OBJECT": "BENCH"}, **kwargs))
    return int(uniq.size)


def broad_map(path: Path) -> int:
    """A single-detector-like 3-D map: order 5 all sky, the densest 2,400 pixels at order 6,
    probability spread over a great circle band, DISTMU ~ 3100 Mpc with broad DISTSIGMA and
    some negative DISTMU rows."""
    import astropy_healpix as ah

    from gwalert.samples import write_skymap
    from gwalert.skymap.healpix import level_ipix_to_uniq, pixel_area_sr, uniq_to_level_ipix

    ligo_distance = __import__("ligo.skymap.distance", fromlist=["parameters_to_moments"])
    rng = np.random.default_rng(9)
    lon, lat = ah.healpix_to_lonlat(np.arange(12 * 4**5), 32, order="nested")
    band = np.exp(-0.5 * (np.sin(lat.rad + 0.4 * np.sin(lon.rad)) / 0.35) ** 2)
    dens5 = band * rng.uniform(0.5, 1.5, band.size) + 1e-4
    top = np.argsort(dens5)[-2400:]
    keep = np.ones(dens5.size, bool)
    keep[top] = False
    uniq = np.concatenate(
        [
            level_ipix_to_uniq(5, np.flatnonzero(keep)),
            level_ipix_to_uniq(6, (4 * top[:, None] + np.arange(4)).ravel()),
        ]
    )
    dens = np.concatenate(
        [dens5[keep], np.repeat(dens5[top], 4) * rng.uniform(0.8, 1.2, 4 * top.size)]
    )
    order = np.argsort(uniq)
    uniq, dens = uniq[order], dens[order]
    dens /= np.sum(dens * pixel_area_sr(uniq_to_level_ipix(uniq)[0]))
    n = uniq.size
    mu = 3100 * (1 + 0.3 * rng.standard_normal(n))
    sigma = rng.uniform(1200, 2600, n)
    mu = np.where(rng.random(n) < 0.05, -rng.uniform(0, 2, n) * sigma, mu)
    _, _, norm = ligo_distance.parameters_to_moments(mu, sigma)
    path.write_bytes(
        write_skymap(
            uniq,
            dens,
            distmu=mu,
            distsigma=sigma,
            distnorm=np.asarray(norm, float),
            meta={"OBJECT": "BROAD", "INSTRUME": "L1"},
        )
    )
    return int(n)


SUMMARY_SCRIPT = """
import sys, time
from gwalert.skymap import SkyMap
data = open(sys.argv[1], 'rb').read()
def run():
    sm = SkyMap.read(data)
    sm.most_probable(); sm.credible_area([0.5, 0.9]); sm.credible_volume([0.5, 0.9])
    return sm.distmean, sm.diststd
run()
times = []
for _ in range(30):
    t0 = time.perf_counter(); run(); times.append(time.perf_counter() - t0)
print(min(times))
"""

# Peak RSS from /proc/self/status's VmHWM: getrusage's ru_maxrss would carry over the
# benchmark process's own peak (ligo.skymap's 19-million-cell arrays) across fork + exec.
MEMORY_SCRIPT = """
import sys, numpy as np
def hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1])
from gwalert.skymap import SkyMap
sm = SkyMap.read(sys.argv[1])
sm.most_probable(); sm.credible_area([0.5, 0.9]); sm.credible_volume([0.5, 0.9])
rng = np.random.default_rng(0); n = 100000
sm.crossmatch(rng.uniform(0, 360, n), np.degrees(np.arcsin(rng.uniform(-1, 1, n))),
              rng.uniform(1, 500, n))
before_plot = hwm()
sm.plot(sys.argv[2])
print(before_plot, hwm())
"""

BASELINE_SCRIPT = """
def hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1])
import numpy as np
from gwalert.skymap import SkyMap, crossmatch, volume
a = hwm()
import matplotlib.figure, matplotlib.backends.backend_agg
print(a, hwm())
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    reps, lreps = (5, 1) if args.quick else (15, 2)

    from gwalert.skymap import SkyMap

    tmp = Path(tempfile.mkdtemp(prefix="gwalert-bench-"))
    if SHARED_MAP.exists():
        map3d = SHARED_MAP
    else:
        from gwalert.samples import gaussian_skymap

        map3d = tmp / "gauss.fits"
        map3d.write_bytes(gaussian_skymap(max_level=9, sigma=3.0))
    data = map3d.read_bytes()
    rows = len(SkyMap.read(data))
    ra, dec, dist = targets(100_000)
    dist_broad = np.random.default_rng(3).uniform(1, 9000, ra.size)
    path_broad = tmp / "broad.fits"
    rows_broad = broad_map(path_broad)
    data_broad = path_broad.read_bytes()
    path2d = tmp / "big2d.fits"
    rows2d = big_map(path2d, distance=False)
    data2d = path2d.read_bytes()

    # gwalert first, before ligo.skymap is even imported (its OpenMP threads share the CPUs).
    def gw_summary():
        sm = SkyMap.read(data)
        sm.most_probable()
        sm.credible_area([0.5, 0.9])
        sm.credible_volume([0.5, 0.9])
        return sm.distmean, sm.diststd

    # In a fresh process first (as the CLI and `gwalert parse` run it), then in this one.
    fresh = subprocess.run(
        [sys.executable, "-c", SUMMARY_SCRIPT, str(map3d)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    gw_summary()
    gw = {"summary": best(gw_summary, 30), "summary_fresh": float(fresh[0])}
    maps = iter([SkyMap.read(data) for _ in range(reps)])
    gw["cold"] = best(lambda: next(maps).crossmatch(ra, dec, dist), reps)
    warm = SkyMap.read(data)
    warm.crossmatch(ra, dec, dist)
    gw["warm"] = best(lambda: warm.crossmatch(ra, dec, dist), reps)
    broad = iter([SkyMap.read(data_broad) for _ in range(reps)])
    gw["broad"] = best(lambda: next(broad).crossmatch(ra, dec, dist_broad), reps)
    maps2d = iter([SkyMap.read(data2d) for _ in range(reps)])

    def gw_2d():
        sm = next(maps2d)
        sm.credible_area([0.5, 0.9])
        return sm.crossmatch(ra, dec)

    gw["2d"] = best(gw_2d, reps)
    gw["2d_read"] = best(lambda: gw_2d_with_read(data2d, ra, dec), reps)

    # ligo.skymap, same inputs.
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from ligo.skymap.io import read_sky_map
    from ligo.skymap.postprocess.crossmatch import crossmatch as ligo_crossmatch

    def ligo_summary():
        table = read_sky_map(str(map3d), moc=True)
        res = ligo_crossmatch(table, contours=(0.5, 0.9))
        return table.meta.get("distmean"), res

    coords = SkyCoord(ra * u.deg, dec * u.deg, dist * u.Mpc)
    table = read_sky_map(str(map3d), moc=True)
    table2d = read_sky_map(str(path2d), moc=True)
    table_broad = read_sky_map(str(path_broad), moc=True)
    coords_broad = SkyCoord(ra * u.deg, dec * u.deg, dist_broad * u.Mpc)
    coords2d = SkyCoord(ra * u.deg, dec * u.deg)
    li = {
        "summary": best(ligo_summary, lreps),
        "3d": best(lambda: ligo_crossmatch(table, coords, contours=(0.5, 0.9)), lreps),
        "broad": best(
            lambda: ligo_crossmatch(table_broad, coords_broad, contours=(0.5, 0.9)), lreps
        ),
        "2d": best(lambda: ligo_crossmatch(table2d, coords2d, contours=(0.5, 0.9)), lreps),
        "2d_read": best(
            lambda: ligo_crossmatch(
                read_sky_map(str(path2d), moc=True), coords2d, contours=(0.5, 0.9)
            ),
            lreps,
        ),
    }
    results = [
        (
            f"full summary, {rows}-row 3-D map (fresh process)",
            gw["summary_fresh"],
            li["summary"],
            "<= 10 ms",
        ),
        ("full summary (in this process)", gw["summary"], li["summary"], ""),
        ("3-D crossmatch, 100,000 galaxies (cold map)", gw["cold"], li["3d"], ">= 100x"),
        ("3-D crossmatch, 100,000 galaxies (warm map)", gw["warm"], li["3d"], ""),
        (
            f"3-D crossmatch, 100,000 galaxies, broad {rows_broad}-row map (cold)",
            gw["broad"],
            li["broad"],
            ">= 100x",
        ),
        (f"2-D crossmatch + areas, {rows2d}-row map", gw["2d"], li["2d"], ">= 4x"),
        ("  the same, including reading the file", gw["2d_read"], li["2d_read"], ""),
    ]

    # 4. memory ---------------------------------------------------------------------------------
    path3d = tmp / "big3d.fits"
    rows3d = big_map(path3d, distance=True)
    memory = [(f"{rows3d}-row order-11 3-D map (generated)", path3d)]
    if SHARED_NOTICE.exists():
        from gwalert.alerts import read_notice

        real = tmp / "ms181101ab.fits"
        real.write_bytes(read_notice(SHARED_NOTICE).event.skymap_bytes)
        memory.insert(0, (f"{len(SkyMap.read(real))}-row order-11 3-D map (MS181101ab)", real))
    measured = []
    for label, path in memory:
        out = subprocess.run(
            [sys.executable, "-c", MEMORY_SCRIPT, str(path), str(tmp / "m.png")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        measured.append((label, *(int(v) / 1024 for v in out)))
    base = subprocess.run(
        [sys.executable, "-c", BASELINE_SCRIPT], capture_output=True, text=True, check=True
    ).stdout.split()

    print(
        f"gwalert sky-map benchmark (numpy {np.__version__}; best of {reps}, "
        f"ligo.skymap best of {lreps})"
    )
    print(f"{'':52} {'gwalert':>11} {'ligo.skymap':>12} {'ratio':>8}  target")
    for name, g, li, target in results:
        print(f"{name:52} {g * 1e3:9.2f} ms {li * 1e3:9.1f} ms {li / g:7.1f}x  {target}")
    base_np, base_mpl = (int(v) / 1024 for v in base)
    print("peak memory (VmHWM of a fresh process; target <= 150 MB):")
    for label, before_plot, peak in measured:
        print(
            f"  {label}: read + summary + 100,000-galaxy crossmatch {before_plot:.0f} MB; "
            f"then the Mollweide plot {peak:.0f} MB"
        )
    print(
        f"  imports alone: {base_np:.0f} MB (python + numpy + gwalert), {base_mpl:.0f} MB "
        "with matplotlib"
    )
    return 0


def gw_2d_with_read(data: bytes, ra: np.ndarray, dec: np.ndarray):
    from gwalert.skymap import SkyMap

    sm = SkyMap.read(data)
    sm.credible_area([0.5, 0.9])
    return sm.crossmatch(ra, dec)


if __name__ == "__main__":
    sys.exit(main())
