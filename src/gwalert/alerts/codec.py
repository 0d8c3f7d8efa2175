"""Bytes to :class:`~gwalert.alerts.model.Notice` and back: format detection, decoding (Avro
container, bare Avro datum, GCN JSON) with lenient validation (:mod:`.validate`), reading from
paths, stdin or file objects, and encoding a record as LVK sends it."""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import re
import sys
from typing import IO, Any

from ..errors import NoticeError
from ..limits import MAX_NOTICE_BYTES
from . import validate
from .hashing import content_hash, with_defaults
from .model import (
    AlertType,
    Event,
    ExternalCoinc,
    Format,
    MchirpSource,
    Notice,
    decode_reason,
    frozen,
)
from .schema import legacy_schema, official_schema, parsed_official_schema, writer_schema_verdict
from .sniff import describe, unknown

NoticeSource = str | os.PathLike | bytes | bytearray | memoryview | IO[bytes]

#: Most records one Avro container may hold (LVK sends one per Kafka message).
MAX_RECORDS = 64
#: GraceDB superevent ids (S…, M…, T…, G…); ``\Z``, not ``$``, so no trailing newline.
_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")
#: The alert types, as the schema spells them.
_ALERT_TYPES = tuple(AlertType)


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
    """Decode the notice(s) in one message or file, read leniently (see :mod:`.validate`).

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
        raise NoticeError(f"cannot decode: {decode_reason(exc)}") from exc


def _decode(data: bytes) -> list[Notice]:
    fmt, records, typed = _records(data)
    return [_build(rec, fmt, data, typed=typed) for rec in records]


def _records(data: bytes) -> tuple[Format, list[dict[str, Any]], bool]:
    """The message's format, its raw records (nothing checked beyond the container) and
    whether the decoder has already enforced every type of an official schema."""
    if not data:
        raise NoticeError("empty input")
    if len(data) > MAX_NOTICE_BYTES:
        raise NoticeError(f"larger than {MAX_NOTICE_BYTES} bytes")
    fmt = detect_format(data)
    if fmt is Format.AVRO:
        records, typed = _decode_container(data)
        return fmt, records, typed
    if fmt is Format.JSON:
        return fmt, [_decode_json(data)], False
    described = describe(data)  # a picture, a FITS file, a database...: say so
    if described is not None:
        raise NoticeError(described)
    # decoded with an official schema: the decoder has already enforced every type
    return fmt, [_decode_datum(data)], True


def embedded_skymap(data: bytes, notice_hash: str = "", *, combined: bool = False) -> bytes | None:
    """The sky-map bytes carried by the notice with content hash ``notice_hash`` in the
    stored message ``data`` (its only notice if ``notice_hash`` is empty), read from the raw
    record: no :class:`Notice` is built, nothing validated or analysed (what an action that
    only hands the files on, or a download, needs). ``combined``: the external coincidence's
    combined map instead. Raises :class:`NoticeError` as :func:`decode` would."""
    try:
        _, records, _ = _records(data)
    except NoticeError:
        raise
    except Exception as exc:  # noqa: BLE001 - as in decode: one clear error, never a crash
        raise NoticeError(f"cannot decode: {decode_reason(exc)}") from exc
    if notice_hash:
        records = [r for r in records if content_hash(r) == notice_hash]
    if len(records) != 1:
        raise NoticeError(f"holds no single notice with content hash {notice_hash[:12]!r}")
    holder = records[0].get("external_coinc" if combined else "event")
    skymap = (
        holder.get("combined_skymap" if combined else "skymap")
        if isinstance(holder, dict)
        else None
    )
    return bytes(skymap) if isinstance(skymap, bytes | bytearray) and skymap else None


# Exceptions fastavro raises on malformed input (it has no common base class for them).
_AVRO_ERRORS = (
    EOFError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    UnicodeDecodeError,
    OverflowError,
    MemoryError,
    AttributeError,
    AssertionError,
    StopIteration,
    RecursionError,
)


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
        raise NoticeError(f"invalid Avro writer schema: {decode_reason(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - fastavro's errors have no common base
        raise NoticeError(f"corrupt Avro container header: {decode_reason(exc)}") from None
    if isinstance(schema_json, bytes):
        schema_json = schema_json.decode("utf-8", "replace")
    problem, official_layout = writer_schema_verdict(schema_json)
    if problem:
        raise NoticeError(problem)
    if codec != "null":
        # LVK writes uncompressed containers (Kafka compresses the message); a compressed
        # block could inflate without bound before we see it.
        raise NoticeError(f"unsupported Avro codec {validate.short(codec)} (expected 'null')")
    records: list[Any] = []  # checked to be records below
    try:
        for record in reader:
            records.append(record)
            if len(records) > MAX_RECORDS:
                raise NoticeError(f"Avro container holds more than {MAX_RECORDS} records")
    except NoticeError:
        raise
    except Exception as exc:  # noqa: BLE001 - fastavro's own error types (SchemaResolution...)
        raise NoticeError(f"corrupt Avro data: {decode_reason(exc)}") from None
    if not records:
        raise NoticeError("Avro container holds no record")
    if not all(isinstance(r, dict) for r in records):
        raise NoticeError("Avro container holds a datum that is not a record")
    return records, official_layout


def _decode_datum(data: bytes) -> dict[str, Any]:
    import fastavro

    last = unknown(data)
    for schema in (parsed_official_schema(), fastavro.parse_schema(legacy_schema())):
        buf = io.BytesIO(data)
        try:
            record = fastavro.schemaless_reader(buf, schema, None)
        except Exception:  # noqa: BLE001 - any decoder failure means "not this schema"
            continue
        if buf.tell() != len(data):
            last = (
                "not a notice: reads as a bare Avro alert but "
                f"{len(data) - buf.tell()} bytes are left after the record"
            )
            continue
        if not isinstance(record, dict):  # both schemas are records: never taken
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
            raise NoticeError(
                f"invalid JSON: an integer has more than {sys.get_int_max_str_digits()} digits"
            ) from None
        raise NoticeError(f"invalid JSON: {decode_reason(exc)}") from None
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
        raise NoticeError(f"{where} is not valid base64: {decode_reason(exc)}") from None


# --------------------------------------------------------------------------- validation
def _build(record: dict[str, Any], fmt: Format, raw: bytes, *, typed: bool = False) -> Notice:
    """The notice in ``record``: refused only without a readable identity; every other
    deviation from the schema is a warning (``typed``: fastavro decoded it with an official
    layout, so only values the schema cannot exclude, like NaN, are left to check)."""
    found = validate.Warnings()
    full = with_defaults(record, official_schema())
    if not typed:
        validate.check_schema(full, official_schema(), found)
    sid, alert_type, created = validate.identity(full, _ID, _ALERT_TYPES)
    ev = full.get("event")
    event = None
    if isinstance(ev, dict):
        f = validate.Fields(ev, "event", found)
        mc = ev.get("mchirp_source")
        mchirp = None
        if isinstance(mc, dict):
            edges, probs = f.number_list(mc, "bin_edges"), f.number_list(mc, "probabilities")
            if edges is not None and probs is not None:
                mchirp = MchirpSource(edges, probs)
            else:
                found.add(
                    "event.mchirp_source",
                    "event.mchirp_source is not two lists of finite numbers; taken as unknown",
                )
        event = Event(
            time=f.time("time"),
            far=f.number("far", nonnegative=True),
            significant=f.flag("significant"),
            instruments=f.text_list("instruments"),
            group=f.text("group"),
            pipeline=f.text("pipeline"),
            search=f.text("search"),
            classification=frozen(f.numbers("classification")),
            properties=frozen(f.numbers("properties")),
            mchirp_source=mchirp,
            duration=f.number("duration"),
            central_frequency=f.number("central_frequency"),
            skymap_bytes=f.blob("skymap"),
        )
    elif ev is not None:
        found.add("event", f"event is not a record: {validate.short(ev)}; ignored")
    ext = full.get("external_coinc")
    coinc = None
    if isinstance(ext, dict):
        f = validate.Fields(ext, "external_coinc", found)
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
        found.add(
            "external_coinc", f"external_coinc is not a record: {validate.short(ext)}; ignored"
        )
    return Notice(
        superevent_id=sid,
        alert_type=AlertType(alert_type),
        time_created=created,
        event=event,
        external_coinc=coinc,
        urls=frozen(validate.text_map(full.get("urls"), "urls", found)),
        format=fmt,
        raw=raw,
        _record=record,
        warnings=found.as_tuple(),
        _hash=content_hash(record),
    )


# ------------------------------------------------------------------------------ encoding
def encode(record: dict[str, Any], fmt: str = "avro") -> bytes:
    """Encode a record as LVK does: ``avro`` (object container, what SCiMMA carries),
    ``avro-datum`` (bare datum) or ``json`` (what NASA GCN carries)."""
    import fastavro

    if fmt == "avro":
        buf = io.BytesIO()
        fastavro.writer(buf, parsed_official_schema(), [record])
        return buf.getvalue()
    if fmt == "avro-datum":
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed_official_schema(), record)
        return buf.getvalue()
    if fmt == "json":

        def b64(value: Any) -> Any:
            return base64.b64encode(value).decode() if isinstance(value, bytes) else value

        rec = json.loads(json.dumps(record, default=b64))
        return json.dumps(rec).encode()
    raise ValueError(f"unknown format {fmt!r}")
