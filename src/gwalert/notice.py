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

from .errors import NoticeError, SkyMapError
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
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


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
    time: datetime
    far: float
    significant: bool
    instruments: tuple[str, ...]
    group: str
    pipeline: str
    search: str
    classification: Mapping[str, float]
    properties: Mapping[str, float]
    mchirp_source: MchirpSource | None
    duration: float | None
    central_frequency: float | None
    skymap_bytes: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ExternalCoinc:
    gcn_notice_id: int | str
    ivorn: str
    observatory: str
    search: str
    time_difference: float
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

    @cached_property
    def combined_skymap(self) -> SkyMap | None:
        """The GW + external combined sky map of an external coincidence, if any."""
        ext = self.external_coinc
        if ext is None or not ext.combined_skymap_bytes:
            return None
        from .skymap import SkyMap

        return SkyMap.read(ext.combined_skymap_bytes)

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 of the notice's content, the same whichever format carried it."""
        return hashlib.sha256(_canonical(self._record).encode()).hexdigest()


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
    """Decode and validate the notice(s) in one message or file."""
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

    try:
        reader = fastavro.reader(io.BytesIO(data))
        schema_json = reader.metadata.get("avro.schema", "")
        codec = reader.codec
    except _AVRO_ERRORS as exc:
        raise NoticeError(f"corrupt Avro container header: {_why(exc)}") from None
    if isinstance(schema_json, bytes):
        schema_json = schema_json.decode("utf-8", "replace")
    problem, official_layout = writer_schema_verdict(schema_json)
    if problem:
        raise NoticeError(problem)
    if codec != "null":
        # LVK writes uncompressed containers (Kafka compresses the message); a compressed
        # block could inflate without bound before we see it.
        raise NoticeError(f"unsupported Avro codec {codec!r} (expected 'null')")
    records: list[dict[str, Any]] = []
    try:
        for record in reader:
            records.append(record)
            if len(records) > MAX_RECORDS:
                raise NoticeError(f"Avro container holds more than {MAX_RECORDS} records")
    except NoticeError:
        raise
    except _AVRO_ERRORS as exc:
        raise NoticeError(f"corrupt Avro data: {_why(exc)}") from None
    except Exception as exc:  # fastavro's own error types (e.g. SchemaResolutionError)
        raise NoticeError(f"corrupt Avro data: {_why(exc)}") from None
    if not records:
        raise NoticeError("Avro container holds no record")
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
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
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
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


# --------------------------------------------------------------------------- validation
def _with_defaults(value: Any, schema: Any) -> Any:
    """Copy ``value`` filling fields the schema gives defaults for (what a reader schema does)."""
    if isinstance(schema, dict) and schema.get("type") == "record" and isinstance(value, dict):
        out = dict(value)
        for f in schema["fields"]:
            if f["name"] not in out and "default" in f:
                out[f["name"]] = copy.deepcopy(f["default"])
            if f["name"] in out:
                out[f["name"]] = _with_defaults(out[f["name"]], f["type"])
        return out
    if isinstance(schema, list) and isinstance(value, dict):
        for branch in schema:
            if isinstance(branch, dict) and branch.get("type") == "record":
                return _with_defaults(value, branch)
    return value


def _without_map_bytes(record: dict[str, Any]) -> dict[str, Any]:
    """A shallow copy with sky-map bytes emptied: fastavro formats every datum it tries
    against a union branch as JSON, which for a 1 MB sky map costs more than decoding."""
    out = dict(record)
    for key, inner in (("event", "skymap"), ("external_coinc", "combined_skymap")):
        sub = out.get(key)
        if isinstance(sub, dict) and isinstance(sub.get(inner), bytes | bytearray):
            out[key] = {**sub, inner: b""}
    return out


def _validate(record: dict[str, Any], typed: bool = False) -> dict[str, Any]:
    """The record with schema defaults filled, checked against the official schema unless
    ``typed`` (decoded by fastavro with an official layout, which enforced the same types)."""
    from fastavro.validation import ValidationError, validate

    full = _with_defaults(record, official_schema())
    if typed:
        return full
    try:
        validate(_without_map_bytes(full), parsed_official_schema(), raise_errors=True)
    except ValidationError:
        problem = _schema_problem(_without_map_bytes(full))
        raise NoticeError(f"does not follow the IGWN alert schema: {problem}") from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise NoticeError(f"does not follow the IGWN alert schema: {_why(exc)}") from None
    return full


def _schema_problem(record: dict[str, Any]) -> str:
    """Name the first field that breaks the schema (fastavro's own message is a wall of text)."""
    from fastavro.validation import validate

    def walk(value: Any, schema: Any, path: str) -> str | None:
        if isinstance(schema, dict) and schema.get("type") == "record":
            if not isinstance(value, dict):
                return f"{path or 'record'} is not a record"
            for f in schema["fields"]:
                sub = f"{path}.{f['name']}" if path else f["name"]
                if f["name"] not in value:
                    return f"missing field {sub}"
                found = walk(value[f["name"]], f["type"], sub)
                if found:
                    return found
            return None
        if isinstance(schema, list):
            for branch in schema:
                if branch == "null" and value is None:
                    return None
                if isinstance(branch, dict) and branch.get("type") == "record":
                    if isinstance(value, dict):
                        return walk(value, branch, path)
                    continue
                if _ok(value, branch):
                    return None
            return f"{path} has an invalid value {_short(value)}"
        if not _ok(value, schema):
            return f"{path} has an invalid value {_short(value)}"
        return None

    def _ok(value: Any, schema: Any) -> bool:
        try:
            return bool(validate(value, schema, raise_errors=False))
        except Exception:  # noqa: BLE001
            return False

    return walk(record, official_schema(), "") or "invalid record"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _time(value: str, where: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise NoticeError(f"{where} is not an ISO 8601 time: {_short(value)}") from None


def _build(record: dict[str, Any], fmt: Format, raw: bytes, *, typed: bool = False) -> Notice:
    full = _validate(record, typed)
    sid = full["superevent_id"]
    if not _ID.match(sid):
        raise NoticeError(f"superevent_id {_short(sid)} is not a GraceDB superevent id")
    if full["alert_type"] not in ALERT_TYPES:
        raise NoticeError(f"unknown alert_type {_short(full['alert_type'])}")
    ev = full.get("event")
    event = None
    if ev is not None:
        mc = ev.get("mchirp_source")
        event = Event(
            time=_time(ev["time"], "event.time"),
            far=float(ev["far"]),
            significant=bool(ev["significant"]),
            instruments=tuple(ev["instruments"]),
            group=ev["group"],
            pipeline=ev["pipeline"],
            search=ev["search"],
            classification=_frozen(ev["classification"]),
            properties=_frozen(ev["properties"]),
            mchirp_source=(MchirpSource(tuple(mc["bin_edges"]), tuple(mc["probabilities"]))
                           if mc else None),
            duration=ev["duration"],
            central_frequency=ev["central_frequency"],
            skymap_bytes=ev["skymap"],
        )
    ext = full.get("external_coinc")
    coinc = None
    if ext is not None:
        coinc = ExternalCoinc(
            gcn_notice_id=ext["gcn_notice_id"],
            ivorn=ext["ivorn"],
            observatory=ext["observatory"],
            search=ext["search"],
            time_difference=float(ext["time_difference"]),
            time_coincidence_far=ext["time_coincidence_far"],
            time_sky_position_coincidence_far=ext["time_sky_position_coincidence_far"],
            combined_skymap_bytes=ext["combined_skymap"],
        )
    return Notice(
        superevent_id=sid,
        alert_type=AlertType(full["alert_type"]),
        time_created=_time(full["time_created"], "time_created"),
        event=event,
        external_coinc=coinc,
        urls=_frozen(full["urls"]),
        format=fmt,
        raw=raw,
        _record=record,
    )


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
