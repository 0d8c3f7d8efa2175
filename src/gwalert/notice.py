"""LVK alert notices: format detection, decoding (Avro container, bare Avro, GCN JSON),
validation against the official IGWN schema, and the immutable :class:`Notice` model."""

from __future__ import annotations

import base64
import binascii
import copy
import enum
import hashlib
import io
import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from types import MappingProxyType
from typing import IO, TYPE_CHECKING, Any

from . import conform
from .errors import GwalertError, NoticeError, SkyMapError
from .limits import MAX_NOTICE_BYTES
from .schema import (
    ALERT_TYPES,
    legacy_schema,
    official_schema,
    parsed_official_schema,
    writer_schema_verdict,
)

if TYPE_CHECKING:
    from .skymap import SkyMap

NoticeSource = str | os.PathLike | bytes | bytearray | memoryview | IO[bytes]

#: Most records one Avro container may hold (LVK sends one per Kafka message).
MAX_RECORDS = 64
#: GraceDB superevent ids (S…, M…, T…, G…); ``\Z``, not ``$``, so no trailing newline.
_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")


class AlertType(enum.StrEnum):
    EARLYWARNING = "EARLYWARNING"
    PRELIMINARY = "PRELIMINARY"
    INITIAL = "INITIAL"
    UPDATE = "UPDATE"
    RETRACTION = "RETRACTION"


class Format(enum.StrEnum):
    AVRO = "avro"  # an Avro object-container file (SCiMMA / hop)
    AVRO_DATUM = "avro-datum"  # one bare Avro datum written with the official schema
    JSON = "json"  # NASA GCN Kafka's JSON, sky maps base64-encoded


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class MchirpSource:
    bin_edges: tuple[float, ...]
    probabilities: tuple[float, ...]


@dataclass(frozen=True)
class Event:
    """The event of a notice. A field the notice lacks, or holds in a form gwalert cannot use
    (see :attr:`Notice.warnings`), is None (empty for the collections)."""

    time: datetime | None
    far: float | None
    significant: bool | None
    instruments: tuple[str, ...]
    group: str | None
    pipeline: str | None
    search: str | None
    classification: Mapping[str, float]
    properties: Mapping[str, float]
    mchirp_source: MchirpSource | None
    duration: float | None
    central_frequency: float | None
    skymap_bytes: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ExternalCoinc:
    gcn_notice_id: int | str | None
    ivorn: str | None
    observatory: str | None
    search: str | None
    time_difference: float | None
    time_coincidence_far: float | None
    time_sky_position_coincidence_far: float | None
    combined_skymap_bytes: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Notice:
    """One LVK alert, decoded and validated. Immutable; ``record`` returns a fresh copy."""

    superevent_id: str
    alert_type: AlertType
    time_created: datetime
    event: Event | None
    external_coinc: ExternalCoinc | None
    urls: Mapping[str, str]
    format: Format
    raw: bytes = field(repr=False)
    _record: dict[str, Any] = field(repr=False, compare=False)
    #: How the notice strays from the official IGWN alert schema, one line per field (empty
    #: for a conforming notice). The fields concerned are None in :attr:`event`.
    warnings: tuple[str, ...] = ()
    _hash: str = field(default="", repr=False, compare=False)

    # --------------------------------------------------------------------------- helpers
    @property
    def is_mock(self) -> bool:
        """Mock/MDC alerts (``M…``), e.g. the hourly mock alerts."""
        return self.superevent_id.startswith("M")

    @property
    def is_real(self) -> bool:
        """Real candidates (``S…``)."""
        return self.superevent_id.startswith("S")

    @property
    def is_test(self) -> bool:
        """Test alerts (``T…``)."""
        return self.superevent_id.startswith("T")

    @property
    def is_retraction(self) -> bool:
        return self.alert_type is AlertType.RETRACTION

    @property
    def record(self) -> dict[str, Any]:
        """The record as the sender wrote it (sky maps as bytes), as a new dict."""
        return copy.deepcopy(self._record)

    @cached_property
    def skymap(self) -> SkyMap | None:
        """The event's sky map, parsed on first use; None when the notice carries none."""
        if self.event is None or not self.event.skymap_bytes:
            return None
        from .skymap import SkyMap

        try:
            return SkyMap.read(self.event.skymap_bytes)
        except SkyMapError as exc:
            raise SkyMapError(f"sky map of {self.superevent_id}: {exc}") from None
        except GwalertError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever a hostile map provokes: one line
            raise SkyMapError(f"sky map of {self.superevent_id}: unreadable ({_why(exc)})"
                              ) from exc

    @cached_property
    def combined_skymap(self) -> SkyMap | None:
        """The GW + external combined sky map of an external coincidence, if any."""
        ext = self.external_coinc
        if ext is None or not ext.combined_skymap_bytes:
            return None
        from .skymap import SkyMap

        try:
            return SkyMap.read(ext.combined_skymap_bytes)
        except GwalertError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise SkyMapError(f"combined sky map of {self.superevent_id}: unreadable "
                              f"({_why(exc)})") from exc

    @property
    def content_hash(self) -> str:
        """SHA-256 of the notice's content, the same whichever format carried it (a missing
        optional field counts as null)."""
        return self._hash or content_hash(self._record)


# ------------------------------------------------------------------------------ reading
def read_notice(source: NoticeSource) -> Notice:
    """Read one notice from a path (``-`` for stdin), bytes or a binary file object.

    Raises :class:`NoticeError` with the reason when the input is not a valid notice. An Avro
    container with several records gives its first; use :func:`read_notices` for all.
    """
    return read_notices(source)[0]


def read_notices(source: NoticeSource) -> list[Notice]:
    """Read every notice in ``source`` (an Avro container may hold more than one)."""
    return decode(_read_source(source))


def _read_source(source: NoticeSource) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif isinstance(source, str | os.PathLike):
        if os.fspath(source) == "-":
            data = sys.stdin.buffer.read(MAX_NOTICE_BYTES + 1)
        else:
            try:
                if os.path.isdir(source):
                    raise NoticeError("is a directory")
                if os.path.getsize(source) > MAX_NOTICE_BYTES:
                    raise NoticeError(f"larger than {MAX_NOTICE_BYTES} bytes")
                with open(source, "rb") as fh:
                    data = fh.read(MAX_NOTICE_BYTES + 1)
            except OSError as exc:
                raise NoticeError(exc.strerror or str(exc)) from None
    elif hasattr(source, "read"):
        data = source.read(MAX_NOTICE_BYTES + 1)
        if isinstance(data, str):
            data = data.encode()
    else:
        raise TypeError(f"cannot read a notice from {type(source).__name__}")
    if len(data) > MAX_NOTICE_BYTES:
        raise NoticeError(f"larger than {MAX_NOTICE_BYTES} bytes")
    return data


def detect_format(data: bytes) -> Format:
    """Tell the format from the bytes themselves, not from a file name."""
    if data.startswith(b"Obj\x01"):
        return Format.AVRO
    if data.lstrip(b" \t\r\n\xef\xbb\xbf")[:1] == b"{":
        return Format.JSON
    return Format.AVRO_DATUM


def decode(data: bytes) -> list[Notice]:
    """Decode the notice(s) in one message or file, read leniently (see :mod:`gwalert.conform`).

    Whatever ``data`` holds, the only exception is :class:`NoticeError`, with one line saying
    why it is refused.
    """
    try:
        return _decode(data)
    except NoticeError:
        raise
    except RecursionError:
        raise NoticeError("nests too deeply to decode") from None
    except MemoryError:
        raise NoticeError("too large to decode in memory") from None
    except Exception as exc:  # noqa: BLE001 - hostile input must never escape as a crash
        raise NoticeError(f"cannot decode: {_why(exc)}") from exc


def _decode(data: bytes) -> list[Notice]:
    if not data:
        raise NoticeError("empty input")
    if len(data) > MAX_NOTICE_BYTES:
        raise NoticeError(f"larger than {MAX_NOTICE_BYTES} bytes")
    fmt = detect_format(data)
    if fmt is Format.AVRO:
        records, typed = _decode_container(data)
    elif fmt is Format.JSON:
        records, typed = [_decode_json(data)], False
    else:
        # decoded with an official schema: the decoder has already enforced every type
        records, typed = [_decode_datum(data)], True
    return [_build(rec, fmt, data, typed=typed) for rec in records]


# Exceptions fastavro raises on malformed input (it has no common base class for them).
_AVRO_ERRORS = (EOFError, ValueError, TypeError, KeyError, IndexError, UnicodeDecodeError,
                OverflowError, MemoryError, AttributeError, AssertionError, StopIteration,
                RecursionError)


def _decode_container(data: bytes) -> tuple[list[dict[str, Any]], bool]:
    """The container's records, and whether its writer schema has an official layout (then
    the decoder has already enforced every type the schema names)."""
    import fastavro
    from fastavro.schema import SchemaParseException

    try:
        reader = fastavro.reader(io.BytesIO(data))
        schema_json = reader.metadata.get("avro.schema", "")
        codec = reader.codec
    except SchemaParseException as exc:
        raise NoticeError(f"invalid Avro writer schema: {_why(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - fastavro's errors have no common base
        raise NoticeError(f"corrupt Avro container header: {_why(exc)}") from None
    if isinstance(schema_json, bytes):
        schema_json = schema_json.decode("utf-8", "replace")
    problem, official_layout = writer_schema_verdict(schema_json)
    if problem:
        raise NoticeError(problem)
    if codec != "null":
        # LVK writes uncompressed containers (Kafka compresses the message); a compressed
        # block could inflate without bound before we see it.
        raise NoticeError(f"unsupported Avro codec {_short(codec)} (expected 'null')")
    records: list[dict[str, Any]] = []
    try:
        for record in reader:
            records.append(record)
            if len(records) > MAX_RECORDS:
                raise NoticeError(f"Avro container holds more than {MAX_RECORDS} records")
    except NoticeError:
        raise
    except Exception as exc:  # noqa: BLE001 - fastavro's own error types (SchemaResolution...)
        raise NoticeError(f"corrupt Avro data: {_why(exc)}") from None
    if not records:
        raise NoticeError("Avro container holds no record")
    if not all(isinstance(r, dict) for r in records):
        raise NoticeError("Avro container holds a datum that is not a record")
    return records, official_layout


def _decode_datum(data: bytes) -> dict[str, Any]:
    import fastavro

    last = "not an Avro container, JSON or bare Avro alert"
    for schema in (parsed_official_schema(), fastavro.parse_schema(legacy_schema())):
        buf = io.BytesIO(data)
        try:
            record = fastavro.schemaless_reader(buf, schema, None)
        except Exception as exc:  # noqa: BLE001 - any decoder failure means "not this schema"
            last = f"not an Avro container, JSON or bare Avro alert ({_why(exc)})"
            continue
        if buf.tell() != len(data):
            last = (f"not an Avro container, JSON or bare Avro alert "
                    f"({len(data) - buf.tell()} bytes left after the record)")
            continue
        return record
    raise NoticeError(last)


def _decode_json(data: bytes) -> dict[str, Any]:
    try:
        record = json.loads(data)
    except RecursionError:
        raise NoticeError("invalid JSON: nests too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, the int digit limit
        if "integer string conversion" in str(exc):
            raise NoticeError(f"invalid JSON: an integer has more than "
                              f"{sys.get_int_max_str_digits()} digits") from None
        raise NoticeError(f"invalid JSON: {_why(exc)}") from None
    if not isinstance(record, dict):
        raise NoticeError("JSON notice is not an object")
    event = record.get("event")
    if isinstance(event, dict) and isinstance(event.get("skymap"), str):
        event["skymap"] = _b64(event["skymap"], "event.skymap")
    ext = record.get("external_coinc")
    if isinstance(ext, dict) and isinstance(ext.get("combined_skymap"), str):
        ext["combined_skymap"] = _b64(ext["combined_skymap"], "external_coinc.combined_skymap")
    return record


def _b64(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoticeError(f"{where} is not valid base64: {_why(exc)}") from None


def _why(exc: BaseException) -> str:
    try:
        text = str(exc).strip()
    except Exception:  # noqa: BLE001
        text = ""
    text = text.splitlines()[0] if text else ""
    if len(text) > 200:
        text = text[:197] + "..."
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


# --------------------------------------------------------------------------- validation
def _with_defaults(value: Any, schema: Any, *, nulls: bool = False) -> Any:
    """Copy ``value`` filling fields the schema gives defaults for (what a reader schema does);
    with ``nulls``, also the optional (nullable) fields that have no default."""
    if isinstance(schema, dict) and schema.get("type") == "record" and isinstance(value, dict):
        out = dict(value)
        for f in schema["fields"]:
            if f["name"] not in out:
                if "default" in f:
                    out[f["name"]] = copy.deepcopy(f["default"])
                elif nulls and isinstance(f["type"], list) and "null" in f["type"]:
                    out[f["name"]] = None
            if f["name"] in out:
                out[f["name"]] = _with_defaults(out[f["name"]], f["type"], nulls=nulls)
        return out
    if isinstance(schema, list) and isinstance(value, dict):
        for branch in schema:
            if isinstance(branch, dict) and branch.get("type") == "record":
                return _with_defaults(value, branch, nulls=nulls)
    return value


def content_hash(record: dict[str, Any]) -> str:
    """SHA-256 of a record's canonical JSON (sky maps by their own hash); a missing optional
    field counts as null, so GCN JSON that omits them hashes like the Avro form."""
    full = _with_defaults(record, official_schema(), nulls=True)
    return hashlib.sha256(_canonical(full).encode()).hexdigest()


def _build(record: dict[str, Any], fmt: Format, raw: bytes, *, typed: bool = False) -> Notice:
    """The notice in ``record``: refused only without a readable identity; every other
    deviation from the schema is a warning (``typed``: fastavro decoded it with an official
    layout, so only values the schema cannot exclude, like NaN, are left to check)."""
    found = conform.Warnings()
    full = _with_defaults(record, official_schema())
    if not typed:
        conform.check_schema(full, official_schema(), found)
    sid, alert_type, created = conform.identity(full, _ID, ALERT_TYPES)
    ev = full.get("event")
    event = None
    if isinstance(ev, dict):
        f = conform.Fields(ev, "event", found)
        mc = ev.get("mchirp_source")
        mchirp = None
        if isinstance(mc, dict):
            edges, probs = f.number_list(mc, "bin_edges"), f.number_list(mc, "probabilities")
            if edges is not None and probs is not None:
                mchirp = MchirpSource(edges, probs)
            else:
                found.add("event.mchirp_source", "event.mchirp_source is not two lists of "
                          "finite numbers; taken as unknown")
        event = Event(
            time=f.time("time"),
            far=f.number("far", nonnegative=True),
            significant=f.flag("significant"),
            instruments=f.text_list("instruments"),
            group=f.text("group"),
            pipeline=f.text("pipeline"),
            search=f.text("search"),
            classification=_frozen(f.numbers("classification")),
            properties=_frozen(f.numbers("properties")),
            mchirp_source=mchirp,
            duration=f.number("duration"),
            central_frequency=f.number("central_frequency"),
            skymap_bytes=f.blob("skymap"),
        )
    elif ev is not None:
        found.add("event", f"event is not a record: {_short(ev)}; ignored")
    ext = full.get("external_coinc")
    coinc = None
    if isinstance(ext, dict):
        f = conform.Fields(ext, "external_coinc", found)
        coinc = ExternalCoinc(
            gcn_notice_id=f.text_or_int("gcn_notice_id"),
            ivorn=f.text("ivorn"),
            observatory=f.text("observatory"),
            search=f.text("search"),
            time_difference=f.number("time_difference"),
            time_coincidence_far=f.number("time_coincidence_far"),
            time_sky_position_coincidence_far=f.number("time_sky_position_coincidence_far"),
            combined_skymap_bytes=f.blob("combined_skymap"),
        )
    elif ext is not None:
        found.add("external_coinc", f"external_coinc is not a record: {_short(ext)}; ignored")
    return Notice(
        superevent_id=sid,
        alert_type=AlertType(alert_type),
        time_created=created,
        event=event,
        external_coinc=coinc,
        urls=_frozen(conform.text_map(full.get("urls"), "urls", found)),
        format=fmt,
        raw=raw,
        _record=record,
        warnings=found.as_tuple(),
        _hash=content_hash(record),
    )


def _short(value: Any) -> str:
    return conform.short(value)


def _canonical(value: Any) -> str:
    def conv(v: Any) -> Any:
        if isinstance(v, bytes | bytearray):
            return {"sha256": hashlib.sha256(v).hexdigest()}
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [conv(x) for x in v]
        return v

    return json.dumps(conv(value), sort_keys=True, separators=(",", ":"))
