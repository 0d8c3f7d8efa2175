"""Sphinx directive ``.. gwalert-cli::``: the command-line reference, generated at build time
from gwalert's own argparse parsers (``gwalert.cli.build_parser``), so it cannot drift from the
code. One section per verb (and per sub-command, e.g. ``rules check``): its description, usage,
positional arguments and options (as Sphinx ``option`` entries under ``program``, so they can be
cross-referenced with ``:option:``), and the verb's epilog as a literal block.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

UNDERLINES = ["-", "~", "^", "'"]
#: Options every verb takes (described once, at the top of the page).
COMMON = {"help", "debug", "verbose"}


def escape(text: str) -> str:
    """Plain text as reStructuredText inline text (no markup)."""
    for ch in ("\\", "*", "`", "|", "_"):
        text = text.replace(ch, "\\" + ch)
    return " ".join(text.split())


def _help(action: argparse.Action, parser: argparse.ArgumentParser) -> str:
    if not action.help or action.help == argparse.SUPPRESS:
        return ""
    formatter = parser._get_formatter()
    return escape(formatter._expand_help(action))


def _signature(action: argparse.Action, parser: argparse.ArgumentParser) -> str:
    formatter = parser._get_formatter()
    if not action.option_strings:
        return formatter._metavar_formatter(action, action.dest)(1)[0]
    if action.nargs == 0:
        return ", ".join(action.option_strings)
    args = formatter._format_args(action, action.dest.upper())
    return ", ".join(f"{opt} {args}" for opt in action.option_strings)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def parser_lines(parser: argparse.ArgumentParser, prog: str, depth: int) -> list[str]:
    """reStructuredText for one parser and, recursively, its sub-commands."""
    title = f"``{prog}``"
    lines = [f".. _cli-{prog.replace(' ', '-')}:", "", title, UNDERLINES[depth] * len(title), ""]
    if parser.description:
        lines += [escape(parser.description), ""]
    usage = parser.format_usage().strip()
    lines += ["::", ""] + ["   " + line for line in usage.splitlines()] + [""]
    lines += [f".. program:: {prog}", ""]
    subs = _subcommands(parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
            continue
        if action.dest in COMMON:
            continue  # said once at the top of the page
        lines += [f".. option:: {_signature(action, parser)}", ""]
        text = _help(action, parser)
        if text:
            lines += ["   " + text, ""]
    if parser.epilog:
        lines += ["::", ""] + ["   " + line for line in parser.epilog.splitlines()] + [""]
    for name, sub in subs.items():
        lines += parser_lines(sub, f"{prog} {name}", depth + 1)
    return lines


class GwalertCli(SphinxDirective):
    """Every verb of ``gwalert`` as a section."""

    has_content = False

    def run(self) -> list[Any]:
        os.environ["COLUMNS"] = "88"  # argparse wraps usage to the terminal width
        from gwalert.cli import build_parser

        parser = build_parser()
        lines: list[str] = []
        for name, sub in _subcommands(parser).items():
            lines += parser_lines(sub, f"gwalert {name}", 0)
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source="gwalert-cli"), node)
        return node.children


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("gwalert-cli", GwalertCli)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
