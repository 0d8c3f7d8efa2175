"""The documentation site builds with Sphinx, warnings as errors, and its reference pages cover
what the code accepts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


@pytest.mark.slow
def test_sphinx_build_has_no_warning(tmp_path: Path) -> None:
    pytest.importorskip("sphinx")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            str(DOCS),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    cli = (tmp_path / "html" / "reference" / "cli.html").read_text()
    from gwalert.cli import VERBS

    for verb in VERBS:  # every verb is in the generated reference, with its options
        assert f'id="cli-gwalert-{verb}"' in cli, verb
    assert "--night-of" in cli and "--until-eos" in cli
    schema = (tmp_path / "html" / "reference" / "schema.html").read_text()
    for table in ("gwalert_notices", "gwalert_actions", "gwalert_arrivals", "gwalert_feeds"):
        assert table in schema
    metrics = (tmp_path / "html" / "reference" / "metrics.html").read_text()
    assert "gwalert_feed_up" in metrics and "gwalert_store_notices" in metrics


def test_config_reference_names_every_rule_key_and_action_type() -> None:
    from gwalert.actions import BUILTIN
    from gwalert.rules.filters import FILTERS
    from gwalert.rules.load import FOREIGN_SECTIONS

    text = (DOCS / "reference" / "config.rst").read_text()
    documented = set(re.findall(r"``([a-z_0-9]+)``", text))
    assert not set(FILTERS) - documented, "rule keys missing from docs/reference/config.rst"
    assert not set(BUILTIN) - set(re.findall(r"gwalert\.actions\.(\w+)", text))
    for section in ("responder", *FOREIGN_SECTIONS):
        assert f"``[{section}]``" in text, section


def test_every_verb_module_has_a_one_line_help() -> None:
    """The generated reference takes each verb's description from its HELP."""
    import importlib

    from gwalert.cli import VERBS

    for verb in VERBS:
        module = importlib.import_module(f"gwalert.cli.{verb.replace('-', '_')}")
        assert module.HELP and "\n" not in module.HELP, verb


def _readme_setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set-up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```\n(.+?)\n```", section)


def test_readme_test_command_is_what_ci_runs() -> None:
    install, tests = _readme_setup_commands()
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests in ci, ".ci/run must run the README's test command"
    assert install.startswith("python3 -m venv .venv && .venv/bin/pip install -e . && ")


@pytest.mark.slow
def test_readme_first_command_runs_after_its_install(tmp_path: Path) -> None:
    """The README's first command as written, less the venv and pip steps (this test runs
    inside such an install): it makes the samples and reads two of them."""
    install, _ = _readme_setup_commands()
    prefix = "python3 -m venv .venv && .venv/bin/pip install -e . && "
    command = install.removeprefix(prefix).replace(
        ".venv/bin/", str(Path(sys.executable).parent) + "/"
    )
    proc = subprocess.run(
        ["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert "Most probable sky location (RA, Dec) = (120.23" in proc.stdout
    assert proc.stdout.rstrip().endswith("MS260101a was retracted")
    assert not proc.stderr


def test_every_documented_table_is_accepted_in_one_config_file(tmp_path: Path) -> None:
    """The config reference says one file holds all these tables: the rules loader (which
    listen, respond, replay and rules check use) must accept them together."""
    from gwalert.rules.load import load_config

    config = tmp_path / "gwalert.toml"
    config.write_text(
        '[store]\nurl = "store.sqlite"\n'
        '[kafka]\nauth = "auth.toml"\n'
        '[gcn]\nclient_id = "id"\nclient_secret = "secret"\n'
        '[serve]\nhost = "127.0.0.1"\nport = 8080\ntoken = "t"\nsilence_warning = 600\n'
        '[responder]\nworkers = 2\nattempts = 3\nbackoff = 5\nbackoff_max = 60\nmax_age = "2d"\n'
        '[[rule]]\nname = "r"\nmock = true\n[[rule.action]]\ntype = "save"\ndir = "out"\n'
    )
    loaded = load_config(config)
    assert [rule.name for rule in loaded.rules] == ["r"]


def test_dashboard_reference_names_every_route() -> None:
    import ast
    import inspect

    import gwalert.web.app as web

    paths = [
        node.args[0].value
        for node in ast.walk(ast.parse(inspect.getsource(web)))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", "") == "Route"
        and isinstance(node.args[0], ast.Constant)
    ]
    assert len(paths) > 10
    text = (DOCS / "reference" / "dashboard.rst").read_text()
    for path in paths:  # /events/{superevent_id:str} is written /events/ID, and so on
        shown = re.sub(r"\{(\w+?)_?id:\w+\}", lambda m: "ID" if "superevent" in m[1] else "N", path)
        shown = shown.replace("{kind:str}", "KIND")
        assert f"``{shown}``" in text, f"{path} is not in docs/reference/dashboard.rst"
