"""The code base stays ruff-clean, and ``gwalert parse`` never imports astropy."""

from __future__ import annotations

import shutil
import subprocess
import sys

from conftest import REPO


def test_ruff_clean():
    ruff = shutil.which("ruff") or str(REPO / ".venv" / "bin" / "ruff")
    result = subprocess.run([ruff, "check", "src", "tests", "benchmarks"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_parse_path_imports_no_astropy(tmp_path):
    from gwalert.samples import encode, gaussian_skymap, make_record

    path = tmp_path / "n.avro"
    path.write_bytes(encode(make_record(skymap=gaussian_skymap(max_level=4))))
    code = ("import sys\nfrom gwalert.cli import main\nrc = main(['parse', sys.argv[1]])\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('astropy', 'astropy_healpix', 'matplotlib', 'sqlalchemy', 'confluent_kafka'))\n"
            "print('HEAVY', heavy)\n")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, check=True).stdout
    assert "HEAVY []" in out
