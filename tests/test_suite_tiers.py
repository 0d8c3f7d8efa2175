"""The fast tier (``pytest -m "not slow"``) covers every test module: each ``tests/test_*.py``
has at least one test not marked slow, or is listed in :data:`ALL_SLOW` with the reason."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent

#: Modules whose every test needs seconds, with the reason (the fast tier skips them whole).
ALL_SLOW = {
    "test_web_browser.py": "a real chromium and gwalert serve/listen processes per test",
    "test_soak.py": "a kill -9 storm of listeners on a real broker",
    "test_process_exit.py": "gwalert processes stopped while an action draws a sky map",
    "test_contour_differential.py": "the reference ligo-skymap-contour process, per map",
    "test_first_start.py": "a real broker and listener processes killed at random moments",
    "test_replay_dry_run.py": "a hypothesis campaign of real replay runs over random ledgers",
    "test_kill9_dual.py": "a real broker and a listener on two feeds killed -9 and restarted",
    "test_no_blas_threads.py": "whole-map geometry watched for seconds through /proc",
}


def _is_slow(node: ast.expr) -> bool:
    """``pytest.mark.slow`` (or a list/tuple holding it)."""
    if isinstance(node, ast.List | ast.Tuple):
        return any(_is_slow(e) for e in node.elts)
    return ast.unparse(node).replace(" ", "").endswith("mark.slow")


def _fast_tests(tree: ast.Module) -> list[str]:
    """Names of the module's tests not marked slow (by decorator or ``pytestmark``)."""
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)
            and _is_slow(node.value)
        ):
            return []
    fast = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            if not any(_is_slow(d) for d in node.decorator_list):
                fast.append(node.name)
    return fast


def test_every_module_is_in_the_fast_tier_or_says_why() -> None:
    modules = sorted(TESTS.glob("test_*.py"))
    assert len(modules) > 40
    missing = [
        p.name
        for p in modules
        if p.name not in ALL_SLOW and not _fast_tests(ast.parse(p.read_text()))
    ]
    assert missing == [], "give these a fast test, or list them in ALL_SLOW with the reason"
    assert sorted(set(ALL_SLOW) - {p.name for p in modules}) == [], "stale ALL_SLOW entries"
