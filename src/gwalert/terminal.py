"""Text for a person's terminal: notice and store text shown, never obeyed.

A notice is written by someone else: a classification key, a pipeline name or an error text
may carry ESC sequences (OSC 52 writes the clipboard, others set the title or clear the screen),
other C0/C1 controls or bidi overrides that reorder what is shown. :func:`escape` turns each of
them into a visible escape (``\\x1b``, ``\\x9b``, ``\\u202e``); every other character is kept.
Every verb printing notice or store text for a person goes through it; ``--json`` output is
JSON (its encoder escapes controls itself).
"""

from __future__ import annotations

import unicodedata
from typing import Any

#: Categories shown escaped: controls (C0, DEL, C1), format characters (bidi embeddings,
#: overrides, isolates and marks, zero-width characters), surrogates, private use, unassigned,
#: line and paragraph separators. Everything else (letters, marks, symbols, spaces) is kept.
_ESCAPED = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _visible(ch: str) -> str:
    cp = ord(ch)
    if cp < 0x100:
        return f"\\x{cp:02x}"
    return f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}"


def _unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in _ESCAPED


def escape(text: Any, *, keep: str = "") -> str:
    """``text`` (any value: ``str()`` of it) with every control character, ESC, C1 control,
    bidi control, surrogate, private-use and unassigned code point shown as ``\\xNN`` or
    ``\\uNNNN``. ``keep``: controls gwalert put there itself and wants kept (``"\\t"``
    between the columns of a table, ``"\\n"`` between lines it made)."""
    s = text if isinstance(text, str) else str(text)
    if s.isprintable():  # the common case: nothing to do
        return s
    return "".join(_visible(c) if c not in keep and _unsafe(c) else c for c in s)


def print_line(text: Any, *, keep: str = "", **kwargs: Any) -> None:
    """``print(escape(text, keep=keep), **kwargs)``: a line for a person's terminal."""
    print(escape(text, keep=keep), **kwargs)
