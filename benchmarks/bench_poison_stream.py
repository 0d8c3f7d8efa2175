"""Issue 9's poison stream on a local broker: good notices interleaved with every kind of poison
message, through ``gwalert listen`` on SQLite and on PostgreSQL.

    .venv/bin/python benchmarks/bench_poison_stream.py [--good 13] [--no-ring]

Starts a tansu broker on 127.0.0.1 (tests/kafka_broker.py), publishes the good notices
interleaved with the poisons of tests/poison.py and a ~260 KB notice whose sky map is a gzipped
nside-2048 RING map, runs ``gwalert listen --start-at earliest`` until everything is stored or
dead-lettered, sends SIGTERM and prints, per store: published, good stored, poison stored
(flagged) or dead-lettered, the exit status and the listener's peak RSS.
"""

from __future__ import annotations

import argparse
import io
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

FAST_GROUP = [
    "--kafka-option",
    "session.timeout.ms=6000",
    "--kafka-option",
    "heartbeat.interval.ms=1000",
]


def ring_2048_map() -> bytes:
    """A gzipped single-resolution nside-2048 RING map (one float32 PROB column), written in
    chunks: 50 M pixels, 201 MB of table, about 200 KB compressed."""
    import numpy as np
    from astropy.io import fits

    nside, npix = 2048, 12 * 2048**2
    hdu = fits.BinTableHDU.from_columns([fits.Column("PROB", "E", array=np.zeros(1, "f4"))])
    for key, value in {
        "PIXTYPE": "HEALPIX",
        "ORDERING": "RING",
        "NSIDE": nside,
        "INDXSCHM": "IMPLICIT",
        "COORDSYS": "C",
        "OBJECT": "MS260901r",
    }.items():
        hdu.header[key] = value
    hdu.header["NAXIS2"] = npix
    buf = io.BytesIO()
    fits.PrimaryHDU().writeto(buf)
    buf.write(hdu.header.tostring().encode())
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [comp.compress(buf.getvalue())]
    chunk = np.full(1 << 20, 1.0 / npix, ">f4")
    chunk[:64] = 4.0 / npix  # a bright spot at the first pixels
    left = npix
    while left:
        n = min(left, chunk.size)
        parts.append(comp.compress(chunk[:n].tobytes()))
        chunk[:64] = 1.0 / npix
        left -= n
    pad = (-(npix * 4)) % 2880
    parts.append(comp.compress(b"\0" * pad))
    parts.append(comp.flush())
    return b"".join(parts)


def messages(good: int, ring: bool) -> tuple[list[bytes], int, int]:
    from poison import poisons

    from gwalert import samples

    bad = [p.data for p in poisons()]
    if ring:
        bad.append(samples.encode(samples.make_record("MS260901r", skymap=ring_2048_map())))
    goods = [
        samples.encode(
            samples.make_record(
                "MS260902g",
                "UPDATE" if i else "PRELIMINARY",
                time_created=f"2026-09-02T00:{i:02d}:00Z",
                skymap=samples.gaussian_skymap(max_level=5),
            ),
            "avro" if i % 2 else "json",
        )
        for i in range(good)
    ]
    out = []
    for i in range(max(len(goods), len(bad))):
        out += goods[i : i + 1] + bad[i : i + 1]
    return out, len(goods), len(bad)


def postgres_url() -> str | None:
    import sqlalchemy as sa

    base = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    try:
        engine = sa.create_engine(
            base, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        schema = f"gwalert_bench_{uuid.uuid4().hex[:10]}"
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        engine.dispose()
    except Exception:  # noqa: BLE001
        return None
    return f"postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"


def run_one(
    broker, values: list[bytes], n_good: int, n_bad: int, store_url: str, label: str, workdir: Path
) -> None:
    from test_listen_kafka import produce

    from gwalert.store import Store

    topic = f"igwn.gwalert-poison-{uuid.uuid4().hex[:8]}"
    produce(broker.bootstrap, topic, values)
    out = workdir / f"{label}.out"
    script = (
        "import resource, sys\nfrom gwalert.cli import main\nrc = main(sys.argv[1:])\n"
        "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
        "file=sys.stderr)\nsys.exit(rc)\n"
    )
    with open(out, "wb") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                script,
                "listen",
                broker.url(topic),
                "--no-auth",
                "--store",
                store_url,
                "--no-heartbeat",
                "--start-at",
                "earliest",
                *FAST_GROUP,
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    store = Store.open(store_url)
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < 600:
            counts = store.counts()
            if proc.poll() is not None or counts["notices"] + counts["dead_letters"] >= len(values):
                break
            time.sleep(0.5)
        alive = proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(60)
        rows = list(store.iter_notices(with_raw=False))
        counts = store.counts()
    finally:
        store.close()
    good = sum(r.superevent_id == "MS260902g" for r in rows)
    flagged = sum(
        bool(r.warnings) or bool((r.summary or {}).get("skymap_error"))
        for r in rows
        if r.superevent_id != "MS260902g"
    )
    text = out.read_text(errors="replace")
    peak = next(
        (int(line.split()[-1]) for line in text.splitlines() if line.startswith("PEAK_RSS_KB")), 0
    )
    print(
        f"{label}: published {len(values)} ({n_good} good, {n_bad} poison); good stored "
        f"{good}/{n_good}; poison stored {len(rows) - good} ({flagged} flagged), "
        f"dead letters {counts['dead_letters']}; listener alive until SIGTERM: {alive}; "
        f"exit status {status}; peak RSS {peak / 1024:.0f} MiB; "
        f"{time.monotonic() - t0:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--good", type=int, default=13)
    parser.add_argument("--no-ring", action="store_true", help="leave out the nside-2048 map")
    args = parser.parse_args()
    from kafka_broker import Broker

    values, n_good, n_bad = messages(args.good, not args.no_ring)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        broker = Broker(log_path=workdir / "tansu.log")
        try:
            run_one(broker, values, n_good, n_bad, str(workdir / "store.sqlite"), "SQLite", workdir)
            pg = postgres_url()
            if pg:
                run_one(broker, values, n_good, n_bad, pg, "PostgreSQL", workdir)
            else:
                print("PostgreSQL: not reachable on 127.0.0.1:5432, skipped")
        finally:
            broker.kill()


if __name__ == "__main__":
    main()
