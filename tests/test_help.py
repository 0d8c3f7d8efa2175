"""Every verb and sub-command answers --help (exit 0, a usage line, its own options), and the
top-level help lists every verb."""

from __future__ import annotations

import argparse

import pytest

from gwalert.cli import VERBS, build_parser, main


def _commands() -> list[list[str]]:
    """Every verb, and every sub-command of verbs that have them, from the parser itself."""
    out: list[list[str]] = [[]]
    parser = build_parser()
    verbs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for verb, sub in verbs.choices.items():
        out.append([verb])
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                out += [[verb, name] for name in action.choices]
    return out


def test_the_sweep_covers_every_verb():
    found = {tuple(c[:1]) for c in _commands() if c}
    assert found == {(v,) for v in VERBS}
    assert ["rules", "check"] in _commands() and ["rules", "status"] in _commands()


@pytest.mark.parametrize("argv", _commands(), ids=lambda a: " ".join(a) or "gwalert")
def test_help(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith(f"usage: gwalert {' '.join(argv)}".rstrip())
    if not argv:
        for verb in VERBS:
            assert f"    {verb}" in out
    else:
        assert "--debug" in out and "--verbose" in out  # every command takes them
