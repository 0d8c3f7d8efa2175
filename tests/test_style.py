"""The code base stays ruff-clean, and ``gwalert parse`` never imports astropy."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from conftest import REPO


def test_ruff_clean():
    ruff = shutil.which("ruff") or str(REPO / ".venv" / "bin" / "ruff")
    result = subprocess.run([ruff, "check", "src", "tests", "benchmarks"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("json_output", [False, True])
def test_parse_imports_nothing_heavy(tmp_path, json_output):
    """``gwalert parse`` (and ``--json``, with areas and volume) must start fast: no astropy,
    matplotlib, scipy, SQLAlchemy or Kafka client."""
    from gwalert.alerts import encode
    from gwalert.samples import gaussian_skymap, make_record

    path = tmp_path / "n.avro"
    path.write_bytes(encode(make_record(skymap=gaussian_skymap(max_level=5))))
    argv = ["parse", "--json"] if json_output else ["parse"]
    code = ("import sys\nfrom gwalert.cli import main\n"
            f"rc = main({argv!r} + [sys.argv[1]])\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('astropy', 'astropy_healpix', 'matplotlib', 'scipy', 'sqlalchemy', "
            "'confluent_kafka'))\n"
            "print('HEAVY', heavy)\n")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, check=True).stdout
    assert out.splitlines()[-1] == "HEAVY []"
    if json_output:
        facts = json.loads(out.splitlines()[0])
        assert facts["area_90"] > 0 and facts["vol_90"] > 0
