"""LVK alerts as data: the immutable :class:`Notice` model (:mod:`.model`), bytes to notice and
back (:mod:`.codec`), the official IGWN schema (:mod:`.schema`), lenient validation with
warnings (:mod:`.validate`) and the format-independent content hash (:mod:`.hashing`).

Light on purpose: fastavro is imported only when Avro is decoded, the sky map only when read.
"""

from __future__ import annotations

from .codec import (
    NoticeSource,
    decode,
    detect_format,
    embedded_skymap,
    encode,
    read_notice,
    read_notices,
)
from .hashing import content_hash
from .model import AlertType, Event, ExternalCoinc, Format, MchirpSource, Notice

__all__ = [
    "AlertType",
    "Event",
    "ExternalCoinc",
    "Format",
    "MchirpSource",
    "Notice",
    "NoticeSource",
    "content_hash",
    "decode",
    "detect_format",
    "embedded_skymap",
    "encode",
    "read_notice",
    "read_notices",
]
