"""The code base stays ruff-clean (lint and format) and mypy-clean, and ``gwalert parse``
never imports astropy."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from conftest import REPO


def _tool(name: str) -> str:
    """The venv's own copy of a tool (the one pyproject pins), else the one on PATH."""
    here = REPO / ".venv" / "bin" / name
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return found


@pytest.mark.parametrize("check", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_clean(check):
    result = subprocess.run(
        [_tool("ruff"), *check, "src", "tests", "benchmarks"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_clean():
    """Type checking as configured in pyproject.toml ([tool.mypy])."""
    result = subprocess.run([_tool("mypy")], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr


@pytest.mark.parametrize("json_output", [False, True])
def test_parse_imports_nothing_heavy(tmp_path, json_output):
    """``gwalert parse`` (and ``--json``, with areas and volume) must start fast: no astropy,
    matplotlib, scipy, SQLAlchemy or Kafka client."""
    from gwalert.alerts import encode
    from gwalert.samples import gaussian_skymap, make_record

    path = tmp_path / "n.avro"
    path.write_bytes(encode(make_record(skymap=gaussian_skymap(max_level=5))))
    argv = ["parse", "--json"] if json_output else ["parse"]
    code = (
        "import sys\nfrom gwalert.cli import main\n"
        f"rc = main({argv!r} + [sys.argv[1]])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('astropy', 'astropy_healpix', 'matplotlib', 'scipy', 'sqlalchemy', "
        "'confluent_kafka'))\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines()[-1] == "HEAVY []"
    if json_output:
        facts = json.loads(out.splitlines()[0])
        assert facts["area_90"] > 0 and facts["vol_90"] > 0


@pytest.mark.parametrize(
    "module",
    [
        "gwalert.sources.files",
        "gwalert.sources.message",
        "gwalert.sources.offsets",
        "gwalert.util",
        "gwalert.store.sanitize",
    ],
)
def test_sources_and_helpers_import_no_store(module):
    """Sources see messages and marks through ``gwalert.sources.message`` only: importing a
    file source (or the shared helpers) loads neither SQLAlchemy nor the store's tables."""
    code = (
        f"import sys, {module}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'\n"
        "             or m in ('gwalert.pipeline', 'gwalert.store.notices',\n"
        "                      'gwalert.store.db')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_no_import_cycles():
    """No module of gwalert imports one that imports it back (at module level)."""
    import ast
    import importlib.util

    src = REPO / "src"
    graph: dict[str, set[str]] = {}
    for path in (src / "gwalert").rglob("*.py"):
        rel = path.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = name if parts[-1] == "__init__" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.parse(path.read_text()).body:  # module level only: late imports are fine
            if isinstance(node, ast.ImportFrom):
                base = (
                    importlib.util.resolve_name("." * node.level + (node.module or ""), package)
                    if node.level
                    else node.module
                )
                if base and base.startswith("gwalert"):
                    deps.add(base)
                    deps.update(f"{base}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("gwalert"))
        graph[name] = deps
    # A package's __init__ is loaded before its submodules: ``from . import x`` in a submodule
    # imports the sibling x, not the package again.
    graph = {
        k: {d for d in v if d in graph and d != k and not k.startswith(d + ".")}
        for k, v in graph.items()
    }
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep) :] + [dep])
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []
