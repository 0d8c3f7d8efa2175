"""Sky-map analysis benchmark: gwalert against ligo.skymap, per map, measured in one run.

    .venv/bin/python benchmarks/bench_skymap.py [--quick] [--rounds N] [--only TEXT] [--no-memory]

1. Per map, reading included, interleaved (gwalert, ligo.skymap, gwalert, ligo.skymap ...):
   3-D: ``SkyMap.read(path)`` + ``credible_area([0.5, 0.9])`` + ``credible_volume([0.5, 0.9])``
   + ``crossmatch`` of 100,000 targets (RA, Dec, distance up to 2.5 x DISTMEAN) against
   ``read_sky_map(path, moc=True)`` + ``crossmatch(table, coords, contours=(0.5, 0.9))``;
   2-D: the same without distances (ligo.skymap's table without its distance columns, so that
   it does not compute volumes). Maps: every map in ../shared/data/skymaps, the notices' maps
   (the Fermi-combined ones of MS181101ab-ext-update and MS230425l), flattened copies of 3-D
   maps (ligo.skymap's ``moc.rasterize`` + ``write_sky_map``, as O1/O2's files: nside 512
   NESTED gzip of three maps; of the BAYESTAR map also nside 1024 3-D NESTED gzip, nside 2048
   2-D RING gzip, nside 512 3-D RING gzip, nside 512 2-D NESTED gzip and nside 1024 3-D RING
   uncompressed; MS181101ab's at nside 1024 2-D RING uncompressed; ``--nside512-only`` keeps
   the first three), a generated broad single-detector-like 3-D map (``broad_map``: ~19,500
   rows, distance ~3 Gpc, broad and some negative DISTMU) and a generated ~320,000-row 2-D map.
   Targets: 3-D >= 50x and 2-D >= 4x on every map of >= 10,000 rows.
2. The full summary of the shared BAYESTAR map in a fresh process (as ``gwalert parse``).
3. Peak memory (VmHWM of a fresh process) reading and analysing an order-11 3-D map (the user
   guide's MS181101ab, 19,200 rows, and a generated ~315,000-row one): summary,
   100,000-galaxy crossmatch, then the Mollweide plot.

Ratios are ligo.skymap / gwalert, best times of the same run on the same machine.
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
SHARED_NOTICE_DIR = REPO.parent / "shared" / "data" / "notices"
SHARED_NOTICE = SHARED_NOTICE_DIR / "MS181101ab-preliminary.avro"
SHARED_MAPS = REPO.parent / "shared" / "data" / "skymaps"


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
    parser.add_argument("--quick", action="store_true", help="one round, 20,000 targets")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds per map")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory section")
    parser.add_argument("--only", default="", help="measure only maps whose label has this")
    parser.add_argument("--skip-3d", action="store_true", help="2-D crossmatch only")
    parser.add_argument(
        "--nside512-only",
        action="store_true",
        help="flat copies at nside 512 NESTED gzip only (no nside 1024/2048, RING, 2-D ones)",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    rounds, n = (1, 20_000) if args.quick else (args.rounds, 100_000)

    tmp = Path(tempfile.mkdtemp(prefix="gwalert-bench-"))
    maps = [
        (label, p) for label, p in real_and_made_maps(tmp, args.nside512_only) if args.only in label
    ]
    rows = per_map(maps, rounds, n, three_d=not args.skip_3d)

    fresh = None
    if SHARED_MAP.exists():  # the summary of a notice's map in a fresh process, as the CLI
        fresh = float(
            subprocess.run(
                [sys.executable, "-c", SUMMARY_SCRIPT, str(SHARED_MAP)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()[0]
        )
    print(
        f"gwalert sky-map benchmark (numpy {np.__version__}; {n} targets; best of {rounds} "
        "interleaved rounds; gwalert best of 2 per round)"
    )
    print("(summary)")
    print_per_map(rows)
    if fresh is not None:
        print(
            f"full summary of {SHARED_MAP.name} in a fresh process: {fresh * 1e3:.2f} ms "
            "(target <= 10 ms)"
        )
    if not args.no_memory:
        memory(tmp)
    return 0


def memory(tmp: Path) -> None:
    """Peak memory (VmHWM of a fresh process) of reading and analysing order-11 3-D maps."""
    path3d = tmp / "big3d.fits"
    rows3d = big_map(path3d, distance=True)
    maps = [(f"{rows3d}-row order-11 3-D map (generated)", path3d)]
    if SHARED_NOTICE.exists():
        from gwalert.alerts import read_notice

        real = tmp / "ms181101ab.fits"
        real.write_bytes(read_notice(SHARED_NOTICE).event.skymap_bytes)
        maps.insert(0, ("19200-row order-11 3-D map (MS181101ab)", real))
    measured = []
    for label, path in maps:
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


# ------------------------------------------------------------------------- per-map ratios
def real_and_made_maps(tmp: Path, quick_flat: bool = False) -> list[tuple[str, Path]]:
    """(label, path) of every map measured per map: ../shared's maps, the notices' maps
    (the Fermi-combined ones included), flattened copies of 3-D maps (as O2's files; written
    with ligo.skymap's rasterize + write_sky_map) and the generated broad and big 2-D maps."""
    out: list[tuple[str, Path]] = []
    if SHARED_MAPS.is_dir():
        out += [(p.name, p) for p in sorted(SHARED_MAPS.iterdir()) if ".fits" in p.name]
    if SHARED_NOTICE_DIR.is_dir():
        from gwalert.alerts import read_notice

        for name in ("MS181101ab-ext-update.avro", "MS230425l-preliminary.json"):
            path = SHARED_NOTICE_DIR / name
            if not path.exists():
                continue
            notice = read_notice(path.read_bytes())
            for kind, raw in (
                ("event", notice.event.skymap_bytes),
                ("combined", getattr(notice.external_coinc, "combined_skymap_bytes", None)),
            ):
                if raw:
                    dest = tmp / f"{path.stem}-{kind}.fits"
                    dest.write_bytes(raw)
                    out.append((dest.name, dest))
    flats = [(label, p) for label, p in out if label.startswith(("bayestar", "MS181101ab-ext"))]
    for label, path in flats:
        out.append(flatten(path, tmp, label, 9))
    if flats and not quick_flat:
        # the rest of the class of O1/O2 archives' flat maps: nside 1024 and 2048, RING,
        # uncompressed, 2-D (an nside-2048 3-D float64 map would inflate past the 1 GiB bound)
        label, path = flats[0]
        out.append(flatten(path, tmp, label, 10))
        out.append(flatten(path, tmp, label, 11, distance=False, nest=False))
        out.append(flatten(path, tmp, label, 9, nest=False))
        out.append(flatten(path, tmp, label, 9, distance=False))
        out.append(flatten(path, tmp, label, 10, nest=False, gz=False))
        for label, path in flats[1:2]:
            out.append(flatten(path, tmp, label, 10, distance=False, nest=False, gz=False))
    made = tmp / "broad.fits"
    broad_map(made)
    out.append(("broad single-detector (generated)", made))
    made = tmp / "big2d.fits"
    big_map(made, distance=False)
    out.append(("big 2-D, orders 7-11 (generated)", made))
    return out


def flatten(
    path: Path,
    tmp: Path,
    label: str,
    order: int,
    distance: bool = True,
    nest: bool = True,
    gz: bool = True,
) -> tuple[str, Path]:
    """A flat copy of a multi-order map, written by ligo.skymap (``moc.rasterize`` +
    ``write_sky_map``): probability per pixel (PROB), NESTED or RING, gzip or not."""
    import astropy_healpix as ah
    from astropy.table import Table
    from ligo.skymap import moc
    from ligo.skymap.io import read_sky_map, write_sky_map

    table = read_sky_map(str(path), moc=True)
    if not distance:
        table.remove_columns(
            [c for c in ("DISTMU", "DISTSIGMA", "DISTNORM") if c in table.colnames]
        )
    flat = Table(moc.rasterize(table, order=order), meta=table.meta)
    # a flat file holds probability per pixel (PROB), as ligo.skymap's readers expect
    flat["PROBDENSITY"] *= 4 * math.pi / len(flat)
    flat.rename_column("PROBDENSITY", "PROB")
    if not nest:  # row r of a RING file holds the NESTED pixel ring_to_nested(r)
        flat = flat[ah.core.ring_to_nested(np.arange(len(flat)), 2**order)]
    kind = f"{'3-D' if distance else '2-D'} {'NESTED' if nest else 'RING'}{' gz' if gz else ''}"
    dest = tmp / f"flat-{order}-{kind.replace(' ', '-')}-{label}.fits{'.gz' if gz else ''}"
    write_sky_map(str(dest), flat, nest=nest)
    short = label.split(".")[0].replace("MS181101ab-ext-update", "MS181101ab-ext")
    return f"{short} nside {2**order} {kind}", dest


def per_map(maps: list[tuple[str, Path]], rounds: int, n: int, three_d: bool = True) -> list[tuple]:
    """Interleaved, for each map and round: gwalert 3-D, ligo.skymap 3-D, gwalert 2-D,
    ligo.skymap 2-D (each reading the file); best time of each."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from ligo.skymap.io import read_sky_map
    from ligo.skymap.postprocess.crossmatch import crossmatch as ligo_crossmatch

    from gwalert.skymap import SkyMap

    ra, dec, _ = targets(n)
    coords2 = SkyCoord(ra * u.deg, dec * u.deg)
    rows = []
    for label, path in maps:
        sm = SkyMap.read(path)
        with_3d = three_d and sm.has_distance
        scale = sm.distmean or 500.0
        dist = np.random.default_rng(1).uniform(1, 2.5 * scale, n)
        coords3 = SkyCoord(ra * u.deg, dec * u.deg, dist * u.Mpc)

        def gw3(path=path, dist=dist):
            m = SkyMap.read(path)
            m.credible_area([0.5, 0.9])
            m.credible_volume([0.5, 0.9])
            return m.crossmatch(ra, dec, dist)

        def li3(path=path, coords3=coords3):
            table = read_sky_map(str(path), moc=True)
            return ligo_crossmatch(table, coords3, contours=(0.5, 0.9))

        def gw2(path=path):
            m = SkyMap.read(path)
            m.credible_area([0.5, 0.9])
            return m.crossmatch(ra, dec)

        def li2(path=path):
            table = read_sky_map(str(path), moc=True)
            drop = [c for c in ("DISTMU", "DISTSIGMA", "DISTNORM") if c in table.colnames]
            table.remove_columns(drop)
            return ligo_crossmatch(table, coords2, contours=(0.5, 0.9))

        fns = {"gw2": gw2, "li2": li2}
        if with_3d:
            fns.update(gw3=gw3, li3=li3)
        times: dict[str, float] = {k: math.inf for k in fns}
        for _ in range(rounds):
            for key, fn in fns.items():
                times[key] = min(times[key], best(fn, 2 if key.startswith("gw") else 1))
        rows.append((label, len(sm), times))
        print_per_map(rows[-1:], header=len(rows) == 1)
    return rows


def print_per_map(rows: list[tuple], header: bool = True) -> None:
    if header:
        with open("/proc/loadavg") as fh:
            print(f"load average at the start: {fh.read().strip()}")
        print("per map: read + 50/90% areas (+ volumes) + crossmatch, reading included")
        print(
            f"{'map':52} {'rows':>7} {'3-D gw':>9} {'ligo':>8} {'ratio':>7} {'2-D gw':>9} "
            f"{'ligo':>8} {'ratio':>6}"
        )
    for label, nrows, t in rows:
        three = (
            f"{t['gw3'] * 1e3:7.1f}ms {t['li3']:7.2f}s {t['li3'] / t['gw3']:6.1f}x"
            if "gw3" in t
            else f"{'':9} {'':8} {'':7}"
        )
        print(
            f"{label[:52]:52} {nrows:7d} {three} {t['gw2'] * 1e3:7.1f}ms {t['li2']:7.2f}s "
            f"{t['li2'] / t['gw2']:5.1f}x"
        )


if __name__ == "__main__":
    sys.exit(main())
