"""Reading flat (single-resolution) sky maps: this tree against a git ref, in one process.

    .venv/bin/python benchmarks/bench_flat_read.py MAP [MAP ...] [--ref main] [--rounds 9]

Per map: ``gwalert.skymap.io.read(path)`` of this tree and of ``--ref`` (its ``src/gwalert``
exported to a temporary directory and imported as ``gwalert_base``), interleaved, best of
``--rounds``: wall and CPU time (both threads), the rows checked equal first. Then, for this
tree only, the CPU time with the second thread's calls made in line (``ahead`` stubbed), split
into what runs ahead (comparing/inflating the next part) and the rest: the larger of the two
bounds the wall time on two idle cores. Maps: e.g. the ones ``bench_skymap.py``'s
``flatten()`` writes (nside 512 3-D RING gzip, nside 1024 3-D RING uncompressed, ...).
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))


def export(ref: str, into: Path) -> None:
    """``src/gwalert`` at ``ref``, as the package ``gwalert_base`` under ``into``."""
    data = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, "src/gwalert"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    (into / "src" / "gwalert").rename(into / "gwalert_base")


class InLine:
    """``ahead.Ahead`` without the thread: the call made at once, its CPU time counted."""

    spent = 0.0

    def __init__(self, fn: Any, *args: Any) -> None:
        start = time.process_time()
        self.out = fn(*args)
        InLine.spent += time.process_time() - start
        self.thread = self

    def result(self) -> Any:
        return self.out

    def join(self) -> None:
        pass


def timed(read: Any, path: str) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    read(path)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("maps", nargs="+")
    parser.add_argument("--ref", default="main")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    from gwalert.skymap import derasterize, fitsstream
    from gwalert.skymap import io as new

    with tempfile.TemporaryDirectory() as tmp:
        export(args.ref, Path(tmp))
        sys.path.insert(0, tmp)
        from gwalert_base.skymap import io as old

        print(f"flat-map reads, best of {args.rounds} interleaved rounds (ms)")
        print(
            f"{'map':24s} {args.ref + ' wall':>10s} {'cpu':>7s} {'this wall':>10s} {'cpu':>7s}"
            f" {'ratio':>6s}   in line: {'cpu':>6s} {'ahead':>6s} {'rest':>6s}"
        )
        for path in args.maps:
            a, b = old.read(path), new.read(path)
            assert np.array_equal(a.uniq, b.uniq)
            for name, column in a.columns.items():
                assert np.array_equal(column.view(np.int64), b.columns[name].view(np.int64))
            best = {"old": (1e9, 1e9), "new": (1e9, 1e9)}
            for _ in range(args.rounds):
                for key, mod in (("old", old), ("new", new)):
                    wall, cpu = timed(mod.read, path)
                    best[key] = (min(best[key][0], wall), min(best[key][1], cpu))
            threaded = derasterize.Ahead
            derasterize.Ahead = fitsstream.Ahead = InLine
            try:
                line = (1e9, 0.0)
                for _ in range(args.rounds):
                    InLine.spent = 0.0
                    cpu = timed(new.read, path)[1]
                    line = min(line, (cpu, InLine.spent))
            finally:
                derasterize.Ahead = fitsstream.Ahead = threaded
            (ow, oc), (nw, nc) = best["old"], best["new"]
            print(
                f"{Path(path).name:24s} {ow * 1e3:10.1f} {oc * 1e3:7.1f} {nw * 1e3:10.1f} "
                f"{nc * 1e3:7.1f} {ow / nw:5.2f}x   {line[0] * 1e3:15.1f} "
                f"{line[1] * 1e3:6.1f} {(line[0] - line[1]) * 1e3:6.1f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
