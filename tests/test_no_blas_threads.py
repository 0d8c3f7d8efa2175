"""Field geometry over many map rows never wakes OpenBLAS's threads (on a loaded machine they
cost far more than the arithmetic): the threads' CPU time, read from /proc, does not grow
while gwalert computes, and does grow for a plain matrix product (the probe works)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, os, sys, threading, time
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    from test_plan_coverage import random_map
    from gwalert.plan import coverage, footprints, galaxies, tiling
    from gwalert.plan.footprints import rectangle
    from gwalert.skymap.fields import probability_in_circle, probability_in_polygon

    def others():
        me, out = threading.get_native_id(), 0
        for t in os.listdir("/proc/self/task"):
            if int(t) != me:
                f = open(f"/proc/self/task/{t}/stat").read().rsplit(")", 1)[1].split()
                out += int(f[11]) + int(f[12])
        return out

    def settle():  # until the other threads' CPU time stops growing (spinning ends)
        last, since, deadline = others(), time.monotonic(), time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = others()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since > 0.5:
                return last
        return last

    sm = random_map(5, 5, 200)  # 12,288+ rows
    fp = rectangle(6.86, 6.86)
    grid = tiling.own_grid(fp)
    rng = np.random.default_rng(1)
    ra, dec = rng.uniform(0, 360, 200_000), rng.uniform(-90, 90, 200_000)
    v = np.random.rand(300_000, 3); c = np.random.rand(3)
    before = settle()
    for _ in range(3):
        probability_in_circle(sm, 10.0, -20.0, 30.0)
        probability_in_polygon(sm, [0, 40, 40, 0], [-30, -30, 10, 10])
        coverage.footprint_cells(fp, grid.ra, grid.dec, level=6)
        coverage.classify_cells(
            fp, coverage.edge_normals(fp), np.random.rand(200_000, 3), 0.0
        )
    ours = others() - before
    before = settle()
    for _ in range(50):
        v @ c
    probe = others() - before
    print(json.dumps({"ours": ours, "probe": probe, "threads": len(os.listdir("/proc/self/task"))}))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_field_geometry_never_wakes_blas_threads():
    import json

    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=True,
    ).stdout
    got = json.loads(out.splitlines()[-1])
    if got["threads"] < 2:
        pytest.skip("OpenBLAS runs without threads here")
    assert got["probe"] > 0, got  # a plain product does wake them: the probe sees it
    assert got["ours"] == 0, got
