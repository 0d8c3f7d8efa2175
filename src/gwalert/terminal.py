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

#: Bidi controls (embeddings, overrides, isolates, marks) and the line/paragraph separators.
_FORMAT = frozenset(
    [0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)


def _visible(ch: str) -> str:
    cp = ord(ch)
    return f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}"


def _unsafe(ch: str) -> bool:
    cp = ord(ch)
    return (
        cp < 0x20
        or 0x7F <= cp <= 0x9F
        or cp in _FORMAT
        or unicodedata.category(ch) in ("Cs", "Co", "Cn")
    )


def escape(text: Any, *, newlines: bool = False) -> str:
    """``text`` (any value: ``str()`` of it) with every control character, ESC, C1 control,
    bidi control, surrogate and unassigned code point shown as ``\\xNN``/``\\uNNNN``.
    ``newlines=True`` keeps ``\\n`` (for a multi-line block whose lines gwalert made)."""
    s = text if isinstance(text, str) else str(text)
    if s.isprintable() and not any(ord(c) in _FORMAT for c in s):
        return s
    return "".join(_visible(c) if _unsafe(c) and not (newlines and c == "\n") else c for c in s)
