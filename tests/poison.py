"""The poison messages of issue 9's table, built from gwalert.samples (no shared data).

Each :class:`Poison` is a message that once escaped the pipeline, with what must happen to it
now: ``dead`` (a dead letter whose reason contains ``reason``) or ``stored`` (a notice, with
``check(row)`` on the stored row and ``warning`` among its warnings, if given).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gwalert import samples


@dataclass
class Poison:
    name: str
    data: bytes
    outcome: str  # "dead" or "stored"
    reason: str = ""  # dead letter reason (substring), or the line `gwalert parse` prints
    warning: str = ""  # a warning of the stored notice (substring)
    check: Callable[[Any], bool] | None = None  # on the stored notice row


def _json(record: dict[str, Any]) -> dict[str, Any]:
    return json.loads(samples.encode(record, "json"))


def _dump(doc: dict[str, Any], **replace: str) -> bytes:
    """JSON text of ``doc`` with literal tokens put in place of placeholder strings."""
    text = json.dumps(doc)
    for key, literal in replace.items():
        text = text.replace(json.dumps(key), literal)
    return text.encode()


def _ext() -> dict[str, Any]:
    return {
        "gcn_notice_id": 123,
        "ivorn": "ivo://nasa.gsfc.gcn/Fermi#1",
        "observatory": "Fermi",
        "search": "GRB",
        "time_difference": 1.5,
        "time_coincidence_far": 1e-9,
        "time_sky_position_coincidence_far": 1e-11,
        "combined_skymap": None,
    }


def _varint(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)  # zigzag
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def container(schema: dict[str, Any], datum: bytes) -> bytes:
    """An Avro object container declaring ``schema`` (written as is, even if invalid) and
    holding one block with ``datum``."""

    def text(b: bytes) -> bytes:
        return _varint(len(b)) + b

    sync = bytes(range(16))
    meta = (
        _varint(2)
        + text(b"avro.schema")
        + text(json.dumps(schema).encode())
        + text(b"avro.codec")
        + text(b"null")
        + _varint(0)
    )
    return b"Obj\x01" + meta + sync + _varint(1) + _varint(len(datum)) + datum + sync


def nameless_field_container() -> bytes:
    """An Avro container whose writer schema has a field without ``name``."""
    schema = {
        "type": "record",
        "name": "Alert",
        "namespace": "igwn.alerts",
        "fields": [
            {"name": "alert_type", "type": "string"},
            {"name": "time_created", "type": "string"},
            {"name": "superevent_id", "type": "string"},
            {"type": "string"},
        ],
    }
    datum = b"".join(
        _varint(len(t)) + t for t in (b"PRELIMINARY", b"2026-01-01T00:00:00Z", b"MS1", b"")
    )
    return container(schema, datum)


def corrupted_distmu_map(value: float = 1e308) -> bytes:
    """A 3-D sky map whose most probable pixel's DISTMU word is ``value`` (1e308 made the
    volume solver raise StopIteration)."""
    from astropy.io import fits

    hdus = fits.open(io.BytesIO(samples.gaussian_skymap(max_level=4)))
    table = hdus[1].data
    table["DISTMU"][int(table["PROBDENSITY"].argmax())] = value
    buf = io.BytesIO()
    hdus.writeto(buf)
    return buf.getvalue()


def poisons(skymap: bytes | None = None) -> list[Poison]:
    """Issue 9's table, one entry per row (and per optional key of the missing-key row)."""
    skymap = skymap if skymap is not None else samples.gaussian_skymap(max_level=3)
    base = samples.make_record("MS260201a", skymap=skymap)
    out: list[Poison] = []

    doc = _json(base)
    doc["event"]["far"] = "BIGINT"
    out.append(
        Poison(
            "json-4301-digit-integer",
            _dump(doc, BIGINT="1" * 4301),
            "dead",
            reason="an integer has more than 4300 digits",
        )
    )

    burst = samples.make_record("MS260201b", group="Burst", pipeline="CWB", skymap=skymap)
    for key in ("duration", "skymap", "central_frequency"):
        doc = _json(burst)
        del doc["event"][key]
        out.append(
            Poison(
                f"json-without-event.{key}",
                _dump(doc),
                "stored",
                warning=f"missing field event.{key}",
            )
        )
    for key in ("time_coincidence_far", "combined_skymap"):
        doc = _json(samples.make_record("MS260201c", skymap=skymap, external_coinc=_ext()))
        del doc["external_coinc"][key]
        out.append(
            Poison(
                f"json-without-external_coinc.{key}",
                _dump(doc),
                "stored",
                warning=f"missing field external_coinc.{key}",
            )
        )

    doc = _json(base)
    doc["event"]["far"] = "HUGE"
    out.append(
        Poison(
            "far-1e400-integer-literal",
            _dump(doc, HUGE="1" + "0" * 400),
            "stored",
            warning="event.far",
            check=lambda row: row.far is None,
        )
    )
    out.append(
        Poison(
            "far-1e400-float-literal",
            _dump(doc, HUGE="1e400"),
            "stored",
            warning="event.far is not a finite number",
            check=lambda row: row.far is None,
        )
    )

    out.append(
        Poison(
            "avro-writer-schema-field-without-name",
            nameless_field_container(),
            "dead",
            reason="invalid Avro writer schema",
        )
    )

    out.append(
        Poison(
            "corrupted-distmu-word",
            samples.encode(samples.make_record("MS260201d", skymap=corrupted_distmu_map())),
            "stored",
            # stored with the facts that could be computed; the volume solver once raised
            # StopIteration on this map (skymap_error names it if it ever fails again)
            check=lambda row: (
                row.ra is not None
                and row.distmean is not None
                and (
                    row.summary["skymap_error"] is None
                    or "could not be computed" in row.summary["skymap_error"]
                )
            ),
        )
    )

    doc = _json(base)
    doc["time_created"] = "9999-12-31T23:59:59-01:00"
    out.append(
        Poison(
            "time-created-past-year-9999-in-utc",
            _dump(doc),
            "stored",
            check=lambda row: row.time_created == "9999-12-31T23:59:59-01:00",
        )
    )

    doc = _json(base)
    doc["event"]["pipeline"] = "SURROGATE"
    out.append(
        Poison(
            "lone-surrogate-in-pipeline",
            _dump(doc, SURROGATE='"gst\\ud800lal"'),
            "stored",
            check=lambda row: row.pipeline == "gst\ufffdlal",
        )
    )

    doc = _json(base)
    doc["event"]["group"] = "G" * 40
    out.append(
        Poison(
            "group-longer-than-32",
            _dump(doc),
            "stored",
            check=lambda row: len(row.group) == 32 and row.summary["group"] == "G" * 40,
        )
    )

    doc = _json(base)
    doc["event"]["far"] = "NAN"
    out.append(
        Poison(
            "nan-far",
            _dump(doc, NAN="NaN"),
            "stored",
            warning="event.far is not a finite number: nan",
            check=lambda row: row.far is None and row.summary["far"] is None,
        )
    )

    doc = _json(base)
    doc["event"]["classification"]["BNS"] = "NAN"
    out.append(
        Poison(
            "nan-classification",
            _dump(doc, NAN="NaN"),
            "stored",
            warning="event.classification.BNS is not a finite number",
            check=lambda row: (
                "BNS" not in row.summary["classification"]
                and all(math.isfinite(v) for v in row.summary["classification"].values())
            ),
        )
    )

    doc = _json(base)
    doc["event"]["search"] = "All\u0000Sky"
    out.append(
        Poison(
            "nul-in-search", _dump(doc), "stored", check=lambda row: row.search == "All\ufffdSky"
        )
    )
    return out
