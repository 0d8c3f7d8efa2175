"""What a file that is not a notice looks like, in plain words, and what to use instead.

A notice is an Avro container, a JSON object or a bare Avro record. When bytes are none of
these, :func:`describe` names what they look like from their first bytes (the signatures the
file formats define: PNG, JPEG, GIF, PDF, FITS, gzip, bzip2, xz, zip, SQLite, HDF5, XML/HTML,
JSON that is not an object) so that ``gwalert parse pic.png`` says "a PNG image" instead of a
decoder's internal error.
"""

from __future__ import annotations

import gzip
import json
import zlib

#: (signature at offset 0, what it is, what to do instead)
SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image", "a picture, not a notice"),
    (b"\xff\xd8\xff", "a JPEG image", "a picture, not a notice"),
    (b"GIF87a", "a GIF image", "a picture, not a notice"),
    (b"GIF89a", "a GIF image", "a picture, not a notice"),
    (b"%PDF-", "a PDF document", "not a notice"),
    (b"SIMPLE  =", "a FITS file", "a sky map? use 'gwalert skymap'"),
    (
        b"SQLite format 3\x00",
        "a SQLite database",
        "a gwalert store? read it with 'gwalert notices --store FILE'",
    ),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file", "posterior samples? not a notice"),
    (b"BZh", "bzip2-compressed data", "decompress it first"),
    (b"\xfd7zXZ\x00", "xz-compressed data", "decompress it first"),
    (b"PK\x03\x04", "a zip archive", "unpack it and give the notice files"),
)

NOTICE_HINT = "a notice is an Avro container, a JSON object or a bare Avro alert"


def describe(data: bytes) -> str | None:
    """``"not a notice: X (what to use instead)"`` when ``data`` is a known kind of file that
    is not a notice; None when it is not recognised."""
    what = kind(data)
    return None if what is None else f"not a notice: {what}"


def kind(data: bytes) -> str | None:
    """What ``data`` is, with what to use instead (``"a PNG image (a picture, not a
    notice)"``), when it is a known kind of file that is not a notice; else None."""
    for magic, what, instead in SIGNATURES:
        if data.startswith(magic):
            return f"{what} ({instead})"
    if data.startswith(b"\x1f\x8b"):
        inner = _gunzip_head(data)
        if inner is not None and inner.startswith(b"SIMPLE  ="):
            return "gzip-compressed FITS (a sky map? use 'gwalert skymap')"
        return "gzip-compressed data (decompress it first)"
    head = data.lstrip(b" \t\r\n\xef\xbb\xbf")
    if head[:1] == b"<":
        doc = "an HTML" if b"<html" in head[:512].lower() else "an XML"
        return f"{doc} document ({NOTICE_HINT})"
    if head[:1] in (b"[", b'"') or head[:4] in (b"null", b"true") or head[:5] == b"false":
        try:
            value = json.loads(data)
        except ValueError:
            return None
        return f"JSON, but {_json_kind(value)} ({NOTICE_HINT})"
    return None


def unknown(data: bytes) -> str:
    """The line for bytes that are nothing gwalert or :func:`describe` recognises."""
    text = _looks_like_text(data)
    kind = "text" if text else "binary data"
    return f"not a notice: {kind} of {len(data)} bytes that is none of these ({NOTICE_HINT})"


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        objects = sum(isinstance(v, dict) for v in value)
        if objects and objects == len(value):
            return f"an array of {objects} object(s), not one notice (one notice per file)"
        return "an array, not a notice object"
    return f"a {type(value).__name__ if value is not None else 'null'} value, not an object"


def _gunzip_head(data: bytes, size: int = 4096) -> bytes | None:
    try:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return d.decompress(data[: 1 << 16], size)
    except (zlib.error, gzip.BadGzipFile):
        return None


def _looks_like_text(data: bytes) -> bool:
    try:
        text = data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\t\r\n" for c in text)
