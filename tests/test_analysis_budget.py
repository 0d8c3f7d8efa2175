"""The sky-map analysis of one notice has a time budget: a map bomb is abandoned past it, its
notice stored with the reason, and the real notices behind it are not held up."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from gwalert import samples
from gwalert.alerts import decode
from gwalert.store import Store
from gwalert.summary import summarize


def flat_bomb(nside: int, columns: int = 1, ordering: str = "NESTED") -> bytes:
    """A gzip FITS flat (implicit NESTED) map of ``12 nside²`` zero rows: a few MB that inflate
    to hundreds (``nside`` 2048: 400 MB per column), inside the size bounds: reading it is
    seconds of work (and it is refused at the end: its probabilities sum to 0)."""
    npix = 12 * nside * nside
    names = ["PROB", "DISTMU", "DISTSIGMA", "DISTNORM"][:columns]
    hdu = fits.BinTableHDU.from_columns([fits.Column(n, "D", array=np.zeros(1)) for n in names])
    hdu.header.update(PIXTYPE="HEALPIX", ORDERING=ordering, NSIDE=nside, INDXSCHM="IMPLICIT")
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
    head = bytearray(buf.getvalue())
    at = head.index(b"NAXIS2  = ", 2880)
    head[at : at + 80] = f"NAXIS2  = {npix:>20d}".ljust(80).encode()
    end = head.index(b"END     ", 2880)
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    parts = [comp.compress(bytes(head[: -(-(end + 80) // 2880) * 2880]))]
    total = npix * 8 * columns
    chunk = bytes(1 << 24)
    for _ in range(total // len(chunk)):
        parts.append(comp.compress(chunk))
    parts += [comp.compress(bytes(total % len(chunk))), comp.flush()]
    return b"".join(parts)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    data = flat_bomb(2048, columns=2, ordering="RING")  # 800 MB inflated, under the 1 GiB bound
    assert len(data) < 8 << 20
    return data


def _notice(sid: str, skymap: bytes, minute: int = 0) -> bytes:
    rec = samples.make_record(sid, skymap=skymap, time_created=f"2026-01-01T01:{minute:02d}:00Z")
    return samples.encode(rec, "avro")


def test_worker_analysis_equals_in_process(monkeypatch):
    """The worker's facts are exactly those computed here (it runs the same analysis)."""
    notice = decode(_notice("MS260101a", samples.gaussian_skymap(max_level=5)))[0]
    monkeypatch.setenv("GWALERT_ANALYSIS_TIMEOUT", "0")
    here = summarize(notice)
    monkeypatch.setenv("GWALERT_ANALYSIS_TIMEOUT", "120")
    again = decode(_notice("MS260101a", samples.gaussian_skymap(max_level=5)))[0]
    assert summarize(again) == here
    assert here["area_90"] is not None and here["skymap_error"] is None
    assert "skymap" not in again.__dict__  # the map was never decoded in this process


@pytest.mark.slow
def test_a_bomb_is_abandoned_past_the_budget(monkeypatch, bomb):
    monkeypatch.setenv("GWALERT_ANALYSIS_TIMEOUT", "0.5")
    notice = decode(_notice("MS260101b", bomb))[0]
    summary = summarize(notice)
    assert summary["skymap_error"] == "analysis took longer than 0.5 s"
    assert summary["area_90"] is None and summary["superevent_id"] == "MS260101b"
    assert "skymap" not in notice.__dict__
    # the next notice gets a fresh worker
    ok = decode(_notice("MS260101c", samples.gaussian_skymap(max_level=4)))[0]
    assert summarize(ok)["skymap_error"] is None


# --------------------------------------------------------------- a live stream, real processes
def _produce(bootstrap: str, topic: str, value: bytes) -> float:
    import confluent_kafka

    producer = confluent_kafka.Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 0, "message.max.bytes": 16 << 20}
    )
    producer.produce(topic, value=value, key=b"one-partition")  # keeps the order
    assert producer.flush(30) == 0
    return time.monotonic()


def _stored(store: Path) -> dict[str, dict]:
    if not store.exists():
        return {}
    s = Store.open(str(store))
    try:
        return {r.superevent_id: dict(r.summary or {}) for r in s.iter_notices(with_raw=False)}
    except Exception:  # noqa: BLE001 - the listener may be creating its tables
        return {}
    finally:
        s.close()


@pytest.mark.slow
@pytest.mark.broker
def test_ten_bombs_between_real_notices(kafka_broker, tmp_path, bomb):
    """real0, bomb1, real1, …, bomb10, real10 produced back to back: each real notice is
    stored within its share of the budget (bombs before it x (budget + a margin for a fresh
    worker) + a margin), although each bomb alone takes seconds to read."""
    budget = 0.5  # the bomb (RING, 800 MB inflated) reads in about a second, or more
    name = f"igwn.gwalert-budget-{os.getpid()}"
    store = tmp_path / "s.sqlite"
    log = open(tmp_path / "listen.log", "wb")  # noqa: SIM115 - owned by the child
    env = {**os.environ, "GWALERT_ANALYSIS_TIMEOUT": str(budget)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gwalert", "listen", kafka_broker.url(name), "--no-auth"]
        + ["--store", str(store), "--no-heartbeat", "--start-at", "earliest"]
        + ["--kafka-option", "session.timeout.ms=6000"]
        + ["--kafka-option", "heartbeat.interval.ms=1000"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    real = samples.gaussian_skymap(max_level=5)
    try:
        sent: dict[str, float] = {
            "MS260102a": _produce(kafka_broker.bootstrap, name, _notice("MS260102a", real))
        }
        deadline = time.monotonic() + 180  # the listener starting, joining the group
        while "MS260102a" not in _stored(store):
            assert time.monotonic() < deadline and proc.poll() is None, "listener not running"
            time.sleep(0.2)
        reals = [f"MS260102{chr(ord('b') + i)}" for i in range(10)]
        bombs = [f"MS260103{chr(ord('a') + i)}" for i in range(10)]
        start = time.monotonic()
        for i, (b, r) in enumerate(zip(bombs, reals, strict=True)):
            _produce(kafka_broker.bootstrap, name, _notice(b, bomb, i))
            sent[r] = _produce(kafka_broker.bootstrap, name, _notice(r, real, i))
        seen: dict[str, float] = {}
        deadline = start + 600
        while len(seen) < len(reals) and time.monotonic() < deadline:
            have = _stored(store)
            now = time.monotonic()
            for r in reals:
                if r in have and r not in seen:
                    seen[r] = now
            assert proc.poll() is None, (tmp_path / "listen.log").read_text()
            time.sleep(0.2)
        assert len(seen) == len(reals), "not every real notice was stored"
        for i, r in enumerate(reals):
            allowed = (i + 1) * (budget + 3.0) + 20.0
            assert seen[r] - sent[r] < allowed, (r, seen[r] - sent[r], allowed)
        have = _stored(store)
        for b in bombs:
            assert have[b]["skymap_error"] == f"analysis took longer than {budget:g} s", have[b]
        for r in reals:
            assert have[r]["skymap_error"] is None and have[r]["area_90"] is not None
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
