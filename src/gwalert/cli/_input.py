"""Plain words for inputs that are clearly not what a verb reads (instead of a decoder's
internal exception text)."""

from __future__ import annotations

import os


def what_it_is(head: bytes) -> str | None:
    """A short description of bytes that are plainly not an LVK notice, else None."""
    from ..alerts.sniff import kind

    if not head.strip():
        return None  # the decoder says "empty input"
    known = kind(head)
    if known is not None:
        return known
    if head.startswith(b"Obj\x01"):
        return None  # an Avro container: the decoder's reason is the useful one
    text = head.lstrip()
    if text.startswith((b"{", b"[")):
        return None  # JSON: the decoder's reason is the useful one
    try:
        sample = head.decode("utf-8")
    except UnicodeDecodeError:
        return None  # binary: perhaps a bare Avro record
    if "," in sample.splitlines()[0] if sample.splitlines() else False:
        return "a text (CSV?) file"
    return "a text file"


def not_a_notice(path: str, what: str = "an LVK notice (Avro or GCN JSON)") -> str | None:
    """ "not WHAT: it is a FITS file …" when ``path``'s first bytes say so, else None."""
    if path == "-" or not os.path.isfile(path):
        return None
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return None
    kind = what_it_is(head)
    return None if kind is None else f"not {what}: {kind}"
