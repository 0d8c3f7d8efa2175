"""Every shell example in the documentation runs as written, on the shipped samples.

The examples are read from docs/**/*.rst (``.. code-block:: console`` blocks) and README.md
(```` ```console ```` fences), doctest-style, and each page runs in a fresh directory where
``gwalert sample`` has written ``gwalert-samples/``, with its own HOME and XDG directories (so
the default store and config file are the page's own):

- ``$ COMMAND`` is a command (a line ending in ``\\`` continues it); the lines after it, up to the
  next ``$``, are its expected output (stdout and stderr together), where a line ``...`` stands
  for any lines and ``...`` inside a line for any text. A command without output lines is not
  checked for output.
- A command must exit 0, unless the next command is ``$ echo $?``, whose output line gives the
  status expected.
- ``$ export NAME=VALUE`` sets a variable for the rest of the page.
- A command ending in ``&`` runs in the background until the page ends; the next command starts
  once it has printed its first line (the local broker prints one when it accepts connections).
- A block with ``:caption: NAME`` (``.. code-block:: toml`` and so on) is written to the file
  NAME before the next commands run; ``.. code-block:: python`` blocks are run with Python.
- The ports 9092, 9093, 8080 and 8081 of the examples are replaced by free ports, and the
  store ``postgresql://gwalert@127.0.0.1:5432/gwalert`` by a throwaway PostgreSQL schema (the
  page is skipped when PostgreSQL is not there).
- A block preceded by the comment ``.. gwalert-example-skip: REASON`` (README:
  ``<!-- gwalert-example-skip: REASON -->``) is not run; every ``bash``/``shell``/``sh`` block
  must carry such a reason. A block that uses a verb or an option this build does not have
  (yet) is not run, and the page's test ends as skipped with the reason once the other blocks
  have run and passed.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gwalert.cli import VERBS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.rst") if "_build" not in p.parts) + [ROOT / "README.md"]
SHELL_LANGS = ("console", "bash", "shell", "sh")
SKIP = re.compile(r"^\s*(?:\.\. |<!-- )gwalert-example-skip: (.+?)(?: -->)?\s*$")
COMMAND_TIMEOUT = 300.0
#: Ports of the examples, each replaced by a free port when they run.
PORTS = ("9092", "9093", "8080", "8081")
#: The PostgreSQL store of the examples, replaced by a throwaway schema when they run.
POSTGRES_URL = "postgresql://gwalert@127.0.0.1:5432/gwalert"


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    text: str
    caption: str | None = None
    skip: str | None = None


@dataclass
class Command:
    text: str
    line: int
    expected: list[str] = field(default_factory=list)
    background: bool = False


def rst_blocks(page: Path) -> list[Block]:
    lines = page.read_text().splitlines()
    out: list[Block] = []
    skip: str | None = None
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)\.\. code-block:: *(\w+)", lines[i])
        if s := SKIP.match(lines[i]):
            skip = s[1]
        elif not m and lines[i].strip():
            skip = None  # the reason applies to the block right after it
        if not m:
            i += 1
            continue
        indent, lang, start = len(m[1]), m[2], i + 1
        caption = None
        i += 1
        while i < len(lines) and re.match(r"^\s+:\w[\w-]*:", lines[i]):
            if c := re.match(r"^\s+:caption:\s*(.+)$", lines[i]):
                caption = c[1].strip()
            i += 1
        body = []
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent
        ):
            body.append(lines[i])
            i += 1
        text = textwrap.dedent("\n".join(body)).strip("\n") + "\n"
        out.append(Block(page, start, lang, text, caption, skip))
        skip = None
    return out


def md_blocks(page: Path) -> list[Block]:
    lines = page.read_text().splitlines()
    out: list[Block] = []
    skip: str | None = None
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if s := SKIP.match(lines[i]):
            skip = s[1]
        elif not m and lines[i].strip():
            skip = None
        if not m:
            i += 1
            continue
        start, lang = i + 1, m[1] or "text"
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        out.append(Block(page, start, lang, "\n".join(body) + "\n", None, skip))
        skip = None
    return out


def blocks(page: Path) -> list[Block]:
    return md_blocks(page) if page.suffix == ".md" else rst_blocks(page)


def commands(block: Block) -> list[Command]:
    out: list[Command] = []
    lines = block.text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("$ "):
            if out:
                out[-1].expected.append(line.rstrip())
            i += 1
            continue
        text, first = line[2:], block.line + i + 1
        while text.endswith("\\") and i + 1 < len(lines):
            i += 1
            text = text[:-1] + " " + lines[i].strip()
        i += 1
        background = text.rstrip().endswith("&")
        out.append(Command(text.rstrip().rstrip("&").strip(), first, [], background))
    for cmd in out:
        while cmd.expected and not cmd.expected[-1]:
            cmd.expected.pop()
    return out


def output_pattern(expected: list[str]) -> re.Pattern[str]:
    parts = []
    for line in expected:
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append("[^\n]*?".join(re.escape(p) for p in line.split("...")) + r"[ \t]*\n")
    return re.compile("".join(parts))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@functools.cache
def _verb_help(verb: str) -> str | None:
    """``gwalert VERB --help`` of this build, or None when it has no such verb."""
    if verb not in VERBS:
        return None
    proc = subprocess.run(
        [sys.executable, "-m", "gwalert", verb, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    return proc.stdout


def _missing(block: Block) -> str | None:
    """Why this build cannot run the block: a verb or an option it does not have yet."""
    if block.lang not in SHELL_LANGS:
        return None
    for cmd in commands(block):
        for m in re.finditer(r"(?:^|[;&|]\s*)gwalert ([a-z][\w-]*)((?:\s+[^;&|\s]+)*)", cmd.text):
            where = f"{block.page.relative_to(ROOT)}:{cmd.line}"
            text = _verb_help(m[1])
            if text is None:
                return f"{where}: 'gwalert {m[1]}' is not in this build"
            for option in re.findall(r"(?<!\S)(--[a-z][\w-]*)", m[2]):
                if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text):
                    return f"{where}: 'gwalert {m[1]} {option}' is not in this build"
    return None


class Page:
    """One page's examples, run in order in ``work``."""

    def __init__(self, page: Path, work: Path, postgres: str | None = None) -> None:
        self.page, self.work, self.postgres = page, work, postgres
        home = work / ".home"
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GWALERT_", "GCN_", "XDG_")) and k != "HOP_AUTH"
        }
        bindir = str(Path(sys.executable).parent)
        self.env.update(
            HOME=str(home),
            XDG_DATA_HOME=str(home / "data"),
            XDG_CONFIG_HOME=str(home / "config"),
            XDG_CACHE_HOME=str(home / "cache"),
            XDG_STATE_HOME=str(home / "state"),
            PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
            COLUMNS="100",
            PYTHONUNBUFFERED="1",
        )
        self.ports = {p: str(_free_port()) for p in PORTS}
        self.background: list[subprocess.Popen[bytes]] = []
        self.status: int | None = None
        self.last = 0  # the line of the last command run

    def sub(self, text: str) -> str:
        for old, new in self.ports.items():
            text = re.sub(rf"(?<!\d){old}(?!\d)", new, text)
        if self.postgres:
            text = text.replace(POSTGRES_URL, self.postgres)
        return text

    def where(self, line: int) -> str:
        page = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page.name
        return f"{page}:{line}"

    def run_block(self, block: Block) -> None:
        if block.caption:
            (self.work / block.caption).write_text(self.sub(block.text))
        elif block.lang == "python":
            self.check(Command(f"{sys.executable} -", block.line), stdin=block.text)
        elif block.lang == "console":
            for cmd in commands(block):
                self.run(cmd)

    def run(self, cmd: Command) -> None:
        text = self.sub(cmd.text)
        if text == "echo $?":
            shown = [line for line in cmd.expected if line.strip()]
            assert shown == [str(self.status)], f"{self.where(cmd.line)}: exit status {self.status}"
            self.status = 0
            return
        assert self.status in (None, 0), f"{self.where(self.last)}: exit status {self.status}"
        if m := re.fullmatch(r"export (\w+)=(.*)", text):
            self.env[m[1]] = m[2].strip("'\"")
            return
        if cmd.background:
            self.start(cmd, text)
            return
        self.check(cmd)

    def check(self, cmd: Command, stdin: str | None = None) -> None:
        text = self.sub(cmd.text)
        proc = subprocess.run(
            ["bash", "-o", "pipefail", "-c", text],
            cwd=self.work,
            env=self.env,
            input=stdin.encode() if stdin is not None else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=COMMAND_TIMEOUT,
            start_new_session=True,
        )
        out = proc.stdout.decode(errors="replace")
        out = "\n".join(line.rstrip() for line in out.splitlines()) + "\n" if out else ""
        self.status, self.last = proc.returncode, cmd.line
        if stdin is not None:
            assert proc.returncode == 0, f"{self.where(cmd.line)}: python block failed:\n{out}"
        if cmd.expected:
            want = [self.sub(line) for line in cmd.expected]
            assert output_pattern(want).fullmatch(out), (
                f"{self.where(cmd.line)}: $ {text}\n--- expected\n"
                + "\n".join(want)
                + f"\n--- got (exit {proc.returncode})\n{out}"
            )

    def start(self, cmd: Command, text: str) -> None:
        log = self.work / f".background-{len(self.background)}.log"
        with open(log, "wb") as fh:
            proc = subprocess.Popen(
                ["bash", "-c", f"exec {text}"],
                cwd=self.work,
                env=self.env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.background.append(proc)
        deadline = time.monotonic() + 120
        while not log.read_bytes().strip():
            assert proc.poll() is None, f"{self.where(cmd.line)}: {text} ended: {log.read_text()}"
            assert time.monotonic() < deadline, f"{self.where(cmd.line)}: {text}: no output"
            time.sleep(0.1)
        self.status, self.last = 0, cmd.line

    def stop(self) -> None:
        for proc in self.background:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(10)


def _run_page(page: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    postgres = None
    if POSTGRES_URL in page.read_text():
        postgres = request.getfixturevalue("postgres_url")
    runner = Page(page, tmp_path, postgres)
    for name in ("data", "config", "cache", "state"):
        (tmp_path / ".home" / name).mkdir(parents=True)
    subprocess.run(
        [sys.executable, "-m", "gwalert", "sample", "--out", "gwalert-samples"],
        cwd=tmp_path,
        env=runner.env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    not_yet = []
    try:
        for block in blocks(page):
            if block.skip is None:
                why = _missing(block)
                if why:
                    not_yet.append(why)
                    continue
                runner.run_block(block)
        assert runner.status in (None, 0), f"{runner.where(runner.last)}: exit {runner.status}"
    finally:
        runner.stop()
    if not_yet:  # every other block ran and passed
        pytest.skip("; ".join(not_yet))


def _has_examples(page: Path) -> bool:
    return any(b.skip is None and (b.lang == "console" or b.caption) for b in blocks(page))


@pytest.mark.slow
@pytest.mark.parametrize(
    "page", [p for p in PAGES if _has_examples(p)], ids=lambda p: str(p.relative_to(ROOT))
)
def test_examples_run_as_written(
    page: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    _run_page(page, tmp_path, request)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shell_block_runs_or_says_why_not(page: Path) -> None:
    for block in blocks(page):
        if block.lang in SHELL_LANGS and block.lang != "console":
            assert block.skip, (
                f"{page.relative_to(ROOT)}:{block.line}: a {block.lang} block is not run: make "
                "it a console block ($ COMMAND) or give the reason it is not run"
            )
        if block.lang == "console" and block.skip is None:
            assert commands(block), f"{page.relative_to(ROOT)}:{block.line}: no $ command"


def test_output_pattern_ellipses() -> None:
    pat = output_pattern(["a ... c", "...", "end"])
    assert pat.fullmatch("a b c\nx\ny\nend\n")
    assert pat.fullmatch("a  c\nend\n")
    assert not pat.fullmatch("a b c\nx\n")
    assert not pat.fullmatch("a b d\nend\n")
    assert not output_pattern(["a...", "end"]).fullmatch("ab\nc\nend\n")  # ... within a line
    assert output_pattern(["x"]).fullmatch("x\n") and not output_pattern(["x"]).fullmatch("xy\n")


def _page(tmp_path: Path, text: str) -> Path:
    page = tmp_path / "page.rst"
    page.write_text(text)
    return page


def _run_text(tmp_path: Path, text: str) -> None:
    page = _page(tmp_path, text)
    work = tmp_path / "work"
    work.mkdir()
    runner = Page(page, work)
    try:
        for block in blocks(page):
            if block.skip is None:
                runner.run_block(block)
        assert runner.status in (None, 0), f"exit {runner.status}"
    finally:
        runner.stop()


CASES = {
    "failing command": ("$ false\n", "exit 1"),
    "wrong output": ("$ echo 1\n2\n", "expected"),
    "wrong status": ("$ sh -c 'exit 3'\n$ echo $?\n2\n", "exit status 3"),
    "failure before the next command": ("$ false\n$ true\n", "exit status 1"),
}


@pytest.mark.parametrize("case", CASES)
def test_the_runner_catches_a_wrong_example(tmp_path: Path, case: str) -> None:
    body, message = CASES[case]
    text = "T\n=\n\n.. code-block:: console\n\n" + textwrap.indent(body, "   ") + "\nEnd.\n"
    with pytest.raises(AssertionError, match=re.escape(message)):
        _run_text(tmp_path, text)


def test_the_runner_passes_a_right_example_and_skips_as_told(tmp_path: Path) -> None:
    text = (
        "T\n=\n\n.. code-block:: text\n   :caption: f.txt\n\n   one\n   two\n\n"
        ".. code-block:: console\n\n   $ export X=42\n   $ cat f.txt; echo $X\n   one\n   ...\n"
        "   42\n   $ sh -c 'exit 3'\n   $ echo $?\n   3\n\n"
        ".. gwalert-example-skip: not run here\n\n.. code-block:: console\n\n   $ false\n"
    )
    _run_text(tmp_path, text)
    skipped = [b for b in blocks(tmp_path / "page.rst") if b.skip]
    assert [b.skip for b in skipped] == ["not run here"]
