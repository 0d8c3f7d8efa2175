"""Offline core benchmark: gwalert vs the LVK user guide's recipe, measured in one run.

    .venv/bin/python benchmarks/bench_parse.py [NOTICE.avro]

In process: ``read_notice`` + most probable position + distance, against fastavro +
``astropy.table.Table.read`` + astropy-healpix as the guide does it (imports warm in both).
As processes: ``gwalert parse FILE`` against a script doing the guide's steps. Prints medians
and ratios (targets: in-process >= 5x faster; CLI <= 0.25x the script's time), the CLI
measured with and without gwalert's bytecode (see ``main``).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from io import BytesIO
from pathlib import Path

GUIDE_SCRIPT = """\
import sys
from io import BytesIO
from pprint import pprint
import astropy_healpix as ah
import numpy as np
from astropy.table import Table
from fastavro import reader

for path in sys.argv[1:]:
    with open(path, "rb") as fo:
        for record in reader(fo):
            if record["alert_type"] == "RETRACTION":
                print(record["superevent_id"], "was retracted")
                continue
            skymap = Table.read(BytesIO(record["event"].pop("skymap")))
            best = skymap[np.argmax(skymap["PROBDENSITY"])]["UNIQ"]
            level, ipix = ah.uniq_to_level_ipix(best)
            ra, dec = ah.healpix_to_lonlat(ipix, ah.level_to_nside(level), order="nested")
            print(f"Most probable sky location (RA, Dec) = ({ra.deg}, {dec.deg})")
            print(f"Distance = {skymap.meta['DISTMEAN']} +/- {skymap.meta['DISTSTD']}")
            print("Record:")
            pprint(record)
"""


def sample_path() -> Path:
    if len(sys.argv) > 1:
        return Path(sys.argv[1])
    shared = Path(__file__).resolve().parents[2] / "shared/data/notices"
    path = shared / "MS181101ab-preliminary.avro"
    if path.exists():
        return path
    from gwalert.alerts import encode
    from gwalert.samples import gaussian_skymap, make_record

    out = Path(tempfile.mkdtemp()) / "sample.avro"
    out.write_bytes(encode(make_record(skymap=gaussian_skymap(max_level=8))))
    return out


def median_times(fns: dict, repeat: int) -> dict[str, float]:
    """Median wall time of each function, called in turn (so all see the same machine state).
    Each result is freed after its clock stops: no side is charged for the other's memory."""
    times: dict[str, list[float]] = {key: [] for key in fns}
    for i in range(repeat + 5):
        for key, fn in fns.items():
            t0 = time.perf_counter()
            result = fn()
            elapsed = time.perf_counter() - t0
            del result
            if i >= 5:
                times[key].append(elapsed)
    return {key: statistics.median(ts) for key, ts in times.items()}


def main() -> None:
    import astropy_healpix as ah
    import numpy as np
    from astropy.table import Table
    from fastavro import reader

    import gwalert

    path = sample_path()
    data = path.read_bytes()

    def ours():
        notice = gwalert.read_notice(data)
        ra, dec = notice.skymap.most_probable()
        return notice, ra, dec, notice.skymap.distmean, notice.skymap.diststd

    def guide():
        for record in reader(BytesIO(data)):
            skymap = Table.read(BytesIO(record["event"].pop("skymap")))
            level, ipix = ah.uniq_to_level_ipix(skymap[np.argmax(skymap["PROBDENSITY"])]["UNIQ"])
            ra, dec = ah.healpix_to_lonlat(ipix, ah.level_to_nside(level), order="nested")
            return record, skymap, ra.deg, dec.deg, skymap.meta["DISTMEAN"], skymap.meta["DISTSTD"]

    def floor():
        return list(reader(BytesIO(data)))

    t = median_times({"ours": ours, "guide": guide, "floor": floor}, 300)
    t_ours, t_guide, t_floor = t["ours"], t["guide"], t["floor"]
    print(f"sample: {path} ({len(data)} bytes)")
    print(
        f"in process: gwalert {t_ours * 1e3:.2f} ms, guide recipe {t_guide * 1e3:.2f} ms, "
        f"gwalert is {t_guide / t_ours:.1f}x faster (target >= 5x)"
    )
    print(
        f"  of which fastavro's decoding, paid by both: {t_floor * 1e3:.2f} ms; beyond it "
        f"gwalert {(t_ours - t_floor) * 1e3:.2f} ms vs guide {(t_guide - t_floor) * 1e3:.2f} ms"
        f" ({(t_guide - t_floor) / max(t_ours - t_floor, 1e-9):.1f}x)"
    )

    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(GUIDE_SCRIPT)
        script = fh.name
    cli = [sys.executable, "-m", "gwalert", "parse", str(path)]
    ref = [sys.executable, script, str(path)]
    out_cli = subprocess.run(cli, capture_output=True, text=True, check=True).stdout
    out_ref = subprocess.run(ref, capture_output=True, text=True, check=True).stdout
    assert out_cli == out_ref, "gwalert parse and the guide script disagree"
    # gwalert's own modules have no bytecode in an editable install run with
    # PYTHONDONTWRITEBYTECODE=1 (as the development machines are): each run compiles them,
    # while the guide's libraries (site-packages) have theirs. Both cases are measured: as
    # the tree is, then with gwalert's bytecode written (as ``pip install gwalert`` does),
    # removed again at the end.
    package = Path(gwalert.__file__).resolve().parent
    had_bytecode = any(package.rglob("*.pyc"))
    phases = [("as the tree is", False), ("gwalert's bytecode present", True)]
    try:
        for label, compiled in phases:
            if compiled and not had_bytecode:
                subprocess.run(
                    [sys.executable, "-m", "compileall", "-q", str(package)],
                    check=True,
                    capture_output=True,
                )
            t_cli, t_ref = _process_times(cli, ref)
            print(
                f"process ({label}): gwalert parse {t_cli * 1e3:.0f} ms, guide script "
                f"{t_ref * 1e3:.0f} ms, ratio {t_cli / t_ref:.2f} (target <= 0.25); "
                "outputs identical"
            )
    finally:
        if not had_bytecode:
            for cache in package.rglob("__pycache__"):
                shutil.rmtree(cache, ignore_errors=True)
    with open("/proc/loadavg") as fh:
        print(f"load average at the end: {fh.read().strip()}")


def _process_times(cli: list[str], ref: list[str]) -> tuple[float, float]:
    """Median wall times of the two commands, run interleaved (both see the same load)."""
    runs: dict[str, list[float]] = {"cli": [], "ref": []}
    for _ in range(10):
        for key, cmd in (("cli", cli), ("ref", ref)):
            t0 = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True)
            runs[key].append(time.perf_counter() - t0)
    return statistics.median(runs["cli"]), statistics.median(runs["ref"])


if __name__ == "__main__":
    main()
