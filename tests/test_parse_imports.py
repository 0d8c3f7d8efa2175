"""``gwalert parse`` loads only what its report needs, whatever the input: the modules a real
process imports (``python -X importtime``, through ``python -m gwalert`` and through the
installed ``gwalert`` console script) are checked for every input format parse takes (Avro
container, bare Avro datum, GCN JSON; CBC, Burst and retraction notices; a map the numpy-free
reader leaves to ``SkyMap``) and for the files it refuses (a bare FITS sky map, gzip data).

The speed target itself lives in ``benchmarks/bench_parse.py``; this test keeps the import
graph from growing back.
"""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gwalert.alerts import encode
from gwalert.samples import gaussian_skymap, make_record

#: Never imported by ``gwalert parse`` (plain or ``--json``): other verbs' libraries, the
#: store, the web dashboard, the Kafka clients, astropy (a third of a second by itself).
HEAVY = (
    "astropy",
    "astropy_healpix",
    "healpy",
    "ligo",
    "scipy",
    "matplotlib",
    "pandas",
    "sqlalchemy",
    "psycopg",
    "confluent_kafka",
    "hop",
    "gcn_kafka",
    "adc",
    "starlette",
    "uvicorn",
    "jinja2",
    "prometheus_client",
    "requests",
    "concurrent",
    "asyncio",
    "multiprocessing",
    "importlib.metadata",
    "gwalert.store.db",
    "gwalert.store.notices",
    "gwalert.pipeline",
    "gwalert.web",
    "gwalert.plan",
    "gwalert.handlers",
    "gwalert.rules",
    "gwalert.actions",
    "gwalert.responder",
    "gwalert.sources",
)
#: ``gwalert.cli`` modules other than parse's own.
CLI_OWN = {"gwalert.cli", "gwalert.cli.parse", "gwalert.cli._input", "gwalert.cli._process"}
#: What the plain report of a usual LVK map does without as well: numpy (``skymap.peek``
#: reads the map), the summary and its time budget, logging (parse logs nothing).
PLAIN_EXTRA_HEAVY = (
    "numpy",
    "gwalert.summary",
    "gwalert.budget",
    "gwalert.store",
    "gwalert.skymap.map",
    "gwalert.skymap.io",
    "logging",
)


def _imported(
    argv: list[str], script: bool = False
) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """The modules a ``gwalert`` process imported, and its result."""
    entry = [str(Path(sys.executable).parent / "gwalert")] if script else ["-m", "gwalert"]
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *entry, *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    names = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", result.stderr, re.M))
    assert names, result.stderr[-2000:]
    return names, result


def _heavy(modules: set[str], extra: tuple[str, ...] = ()) -> list[str]:
    banned = HEAVY + extra
    found = [m for m in modules if any(m == b or m.startswith(b + ".") for b in banned)]
    found += [m for m in modules if m.startswith("gwalert.cli.") and m not in CLI_OWN]
    return sorted(found)


def _notices(tmp: Path) -> dict[str, Path]:
    cbc = gaussian_skymap(max_level=6)
    burst = gaussian_skymap(200.0, 40.0, 8.0, distance=None, max_level=5)
    files = {
        "avro": encode(make_record(skymap=cbc)),
        "avro-datum": encode(make_record(skymap=cbc), "avro-datum"),
        "json": encode(make_record(skymap=cbc), "json"),
        "burst-json": encode(
            make_record(group="Burst", pipeline="CWB", search="AllSky", skymap=burst), "json"
        ),
        "retraction": encode(make_record(alert_type="RETRACTION")),
    }
    out = {}
    for name, data in files.items():
        out[name] = tmp / f"{name}.notice"
        out[name].write_bytes(data)
    return out


@pytest.fixture(scope="module")
def notices(tmp_path_factory) -> dict[str, Path]:
    return _notices(tmp_path_factory.mktemp("notices"))


@pytest.mark.parametrize("kind", ["avro", "avro-datum", "json", "burst-json", "retraction"])
def test_plain_report_imports_neither_numpy_nor_heavy_modules(notices, kind):
    modules, result = _imported(["parse", str(notices[kind])])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Record:" in result.stdout or "retracted" in result.stdout
    assert _heavy(modules, PLAIN_EXTRA_HEAVY) == []


def test_console_script_imports_the_same(notices):
    """What users run: the entry-point wrapper pip writes (no importlib.metadata either)."""
    if not (Path(sys.executable).parent / "gwalert").exists():
        pytest.skip("no gwalert console script beside this interpreter")
    modules, result = _imported(["parse", str(notices["avro"])], script=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert _heavy(modules, PLAIN_EXTRA_HEAVY) == []


def test_several_files_at_once(notices):
    modules, result = _imported(["parse", *map(str, notices.values())])
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("==> ") == len(notices)
    assert _heavy(modules, PLAIN_EXTRA_HEAVY) == []


def test_map_left_to_skymap_loads_numpy_but_nothing_heavy(tmp_path):
    """A gzip-compressed embedded map is read by SkyMap (numpy), still without astropy."""
    path = tmp_path / "gz.avro"
    path.write_bytes(encode(make_record(skymap=gzip.compress(gaussian_skymap(max_level=5)))))
    modules, result = _imported(["parse", str(path)])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Most probable sky location" in result.stdout
    assert "numpy" in modules
    assert _heavy(modules) == []


def test_json_output_imports_nothing_heavy(notices):
    modules, result = _imported(["parse", "--json", str(notices["avro"])])
    assert result.returncode == 0, result.stderr[-2000:]
    assert _heavy(modules) == []


@pytest.mark.parametrize("what", ["fits", "fits.gz", "gzip", "garbage"])
def test_refused_files_cost_one_line_and_no_heavy_import(tmp_path, what):
    """Files parse does not take (a bare sky map, compressed data): one line naming the file,
    exit status 1, and nothing heavy loaded to say so."""
    fits_map = gaussian_skymap(max_level=4)
    data = {
        "fits": fits_map,
        "fits.gz": gzip.compress(fits_map),
        "gzip": gzip.compress(b'{"superevent_id": "S1"}'),
        "garbage": bytes(range(256)) * 4,
    }[what]
    path = tmp_path / f"x.{what}"
    path.write_bytes(data)
    modules, result = _imported(["parse", str(path)])
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    said = [line for line in lines if not line.startswith("import time:")]
    assert len(said) == 1 and said[0].startswith(f"gwalert: {path}: "), said
    assert _heavy(modules, ("numpy",)) == []
