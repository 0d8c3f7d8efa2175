"""gwalert plan against gwemopt, side by side, on the same map and field of view.

    .venv/bin/python benchmarks/bench_plan.py [--gwemopt /work/gwemopt-venv/bin/python]
        [--map ../shared/data/skymaps/bayestar.multiorder.fits]

gwemopt runs from its own virtual environment (never a dependency of gwalert:
``python3 -m venv /work/gwemopt-venv && /work/gwemopt-venv/bin/pip install gwemopt``) as its
command line does (``gwemopt.run.run``): ZTF (its 6.86° square and its field grid), MOC tiling,
greedy schedule, 50 tiles, observability ignored (a tiles-only plan). gwalert runs
``gwalert plan MAP --fov 6.86 --tiles 50 --json``. Each is a fresh process, timed from start to
exit (wall and CPU), with its peak resident memory (``wait4``). The probability of the first
10, 20 and 50 fields of each plan is then computed the same way for both (gwalert's exact
integral of the multi-order map over the union of the fields: overlaps once), and each tool's
own figure is shown beside it. Then a DECam-size plan (a 3 deg² circle) from gwalert alone.
Ratios are measured in one run on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MAP = REPO.parent / "shared" / "data" / "skymaps" / "bayestar.multiorder.fits"


def timed(cmd: list[str], cwd: str | None = None) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak RSS MB, stdout) of one process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
    out_chunks = []
    assert proc.stdout is not None
    for chunk in iter(lambda: proc.stdout.read(65536), b""):  # type: ignore[union-attr]
        out_chunks.append(chunk)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({proc.returncode}):\n{err[-2000:]}")
    return (
        wall,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        b"".join(out_chunks).decode(),
    )


def union_curve(sm, fp, ra, dec, ks):
    from gwalert.plan import coverage

    integral = coverage.MapIntegral(sm)
    cells = coverage.footprint_cells(fp, np.asarray(ra), np.asarray(dec))
    return {k: coverage.union_probability(integral, cells, np.arange(min(k, len(ra)))) for k in ks}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gwemopt", default="/work/gwemopt-venv/bin/python")
    ap.add_argument("--map", default=str(DEFAULT_MAP))
    args = ap.parse_args()
    from gwalert.plan import footprints
    from gwalert.skymap import SkyMap

    ks = (10, 20, 50)
    sm = SkyMap.read(args.map)
    fp = footprints.parse_fov("6.86")
    print(f"map {args.map}: 90% area {sm.credible_area(0.9):.0f} deg², {len(sm)} rows")

    gw = [sys.executable, "-m", "gwalert", "plan", args.map, "--fov", "6.86", "--tiles", "50"]
    g_wall, g_cpu, g_rss, out = timed([*gw, "--json"])
    plan = json.loads(out)
    g_ra = [t["ra"] for t in plan["tiles"]]
    g_dec = [t["dec"] for t in plan["tiles"]]
    g_own = {k: plan["tiles"][min(k, len(g_ra)) - 1]["cumulative"] for k in ks}

    have_gwemopt = Path(args.gwemopt).exists()
    if have_gwemopt:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [
                args.gwemopt,
                "-c",
                "import sys; from gwemopt.run import run; run(sys.argv[1:])",
                "-t", "ZTF", "-e", args.map, "--doTiles", "--doSchedule",
                "--scheduleType", "greedy", "--timeallocationType", "powerlaw",
                "--max_nb_tiles", "50", "--Ntiles", "50", "--ignore_observability",
                "--filters", "r", "--exposuretimes", "30", "--doSingleExposure",
                "-o", tmp,
            ]  # fmt: skip
            e_wall, e_cpu, e_rss, _ = timed(cmd, cwd=tmp)
            rows = [ln.split() for ln in Path(tmp, "schedule_ZTF.dat").read_text().splitlines()]
        rows = [r for r in rows if len(r) >= 3]
        seen: dict[str, tuple[float, float]] = {}
        for r in rows:  # first exposure of each field, in time order
            seen.setdefault(r[0], (float(r[1]), float(r[2])))
        e_ra = [v[0] for v in seen.values()][:50]
        e_dec = [v[1] for v in seen.values()][:50]
    print()
    print(f"{'':28}{'gwalert':>12}" + (f"{'gwemopt':>12}{'ratio':>10}" if have_gwemopt else ""))
    line = "{:<28}{:>12.2f}" + ("{:>12.2f}{:>10.2f}" if have_gwemopt else "")
    vals = [("wall time (s)", g_wall, e_wall if have_gwemopt else 0),
            ("CPU time (s)", g_cpu, e_cpu if have_gwemopt else 0),
            ("peak memory (MB)", g_rss, e_rss if have_gwemopt else 0)]  # fmt: skip
    for name, a, b in vals:
        print(line.format(name, a, *((b, a / b) if have_gwemopt else ())))
    g_curve = union_curve(sm, fp, g_ra, g_dec, ks)
    e_curve = union_curve(sm, fp, e_ra, e_dec, ks) if have_gwemopt else {}
    for k in ks:
        text = f"P(first {k} fields) %"
        if have_gwemopt:
            print(
                line.format(text, 100 * g_curve[k], 100 * e_curve[k], g_curve[k] / e_curve[k])
                + f"   (gwalert's own figure {100 * g_own[k]:.2f}%; fields: {len(e_ra)} gwemopt)"
            )
        else:
            print(line.format(text, 100 * g_curve[k]))
    d_wall, d_cpu, d_rss, out = timed(
        [sys.executable, "-m", "gwalert", "plan", args.map, "--telescope", "DECam",
         "--tiles-only", "--tiles", "50", "--json"]
    )  # fmt: skip
    d = json.loads(out)
    print(
        f"\nDECam-size plan (3 deg² circle, 50 fields, {d['candidates']} candidates): "
        f"{d_wall:.2f} s wall, {d_cpu:.2f} s CPU, {d_rss:.0f} MB, "
        f"{100 * d['probability']:.1f}% covered"
    )


if __name__ == "__main__":
    main()
