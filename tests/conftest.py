"""Shared fixtures. ``../shared`` (beside the repository) holds real LVK samples; tests that use
it skip cleanly when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs the property-based tests with a fixed seed, so a landing is reproducible; developers'
# runs explore new examples each time (GWALERT_LONG_TESTS=1 runs longer campaigns).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

#: GWALERT_LONG_TESTS=1: the long campaigns (more hypothesis examples, more repetitions).
LONG = os.environ.get("GWALERT_LONG_TESTS") == "1"


def examples(default: int, long: int) -> int:
    """A hypothesis example count: ``default`` in the suite, ``long`` in a long campaign."""
    return long if LONG else default


REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
NOTICES = SHARED / "notices"
SKYMAPS = SHARED / "skymaps"
CATALOGS = SHARED / "catalogs"


def shared_file(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available (../shared is absent)")
    return path


@pytest.fixture
def shared_notices() -> Path:
    if not NOTICES.is_dir():
        pytest.skip("../shared/data/notices not available")
    return NOTICES


# ----------------------------------------------------------------- a real Kafka-protocol broker
@pytest.fixture(scope="module")
def kafka_broker(tmp_path_factory):
    """A tansu broker on 127.0.0.1 (in-memory log), started and stopped by the fixture."""
    from kafka_broker import Broker

    broker = Broker(log_path=tmp_path_factory.mktemp("tansu") / "tansu.log")
    yield broker
    broker.kill()


@pytest.fixture
def s3_kafka_broker(tmp_path):
    """A tansu broker whose log lives in a local S3 (moto) so it survives a restart."""
    from kafka_broker import Broker, MotoS3

    s3 = MotoS3()
    broker = Broker(storage=f"s3://{s3.bucket}/", env=s3.env, log_path=tmp_path / "tansu.log")
    yield broker
    broker.kill()
    s3.stop()


@pytest.fixture
def postgres_url():
    """A throwaway schema in the ``test`` database on 127.0.0.1:5432 (dropped afterwards), as
    a store URL; skips when PostgreSQL is not there."""
    import uuid

    import sqlalchemy as sa

    base = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    try:
        admin = sa.create_engine(
            base, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        with admin.connect() as conn:
            schema = f"gwalert_test_{uuid.uuid4().hex[:12]}"
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"PostgreSQL not reachable on 127.0.0.1:5432: {exc}")
    yield f"postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    admin.dispose()


@pytest.fixture
def sqlite_store(tmp_path):
    """A gwalert store in a fresh SQLite file."""
    from gwalert.store import Store

    store = Store.open(str(tmp_path / "store.sqlite"))
    yield store
    store.close()


@pytest.fixture
def postgres_store(postgres_url):
    """A gwalert store in a throwaway PostgreSQL schema."""
    from gwalert.store import Store

    store = Store.open(postgres_url)
    yield store
    store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request):
    """Each test that takes ``store`` runs on SQLite and on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_store")


def modes_map(modes: list[tuple[float, float, float, float]], level: int = 5) -> bytes:
    """A single-order map of Gaussian blobs (ra, dec, sigma, weight)."""
    import math

    import astropy_healpix as ah
    import numpy as np

    from gwalert.samples import write_skymap

    nside = 2**level
    ipix = np.arange(12 * nside * nside)
    lon, lat = ah.healpix_to_lonlat(ipix, nside, order="nested")
    dens = np.full(ipix.size, 1e-300)
    for ra, dec, sigma, weight in modes:
        r0, d0 = math.radians(ra), math.radians(dec)
        cosd = np.sin(lat.rad) * math.sin(d0) + np.cos(lat.rad) * math.cos(d0) * np.cos(
            lon.rad - r0
        )
        sep = np.degrees(np.arccos(np.clip(cosd, -1, 1)))
        dens += weight * np.exp(-0.5 * (sep / sigma) ** 2) / sigma**2
    dens /= dens.sum() * (4 * math.pi / ipix.size)
    return write_skymap(ipix + 4 * nside * nside, dens)
