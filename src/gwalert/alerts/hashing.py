"""The content hash of a notice: the same whichever format (Avro or GCN JSON) carried it."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from .schema import official_schema


def with_defaults(value: Any, schema: Any, *, nulls: bool = False) -> Any:
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
                out[f["name"]] = with_defaults(out[f["name"]], f["type"], nulls=nulls)
        return out
    if isinstance(schema, list) and isinstance(value, dict):
        for branch in schema:
            if isinstance(branch, dict) and branch.get("type") == "record":
                return with_defaults(value, branch, nulls=nulls)
    return value


def content_hash(record: dict[str, Any]) -> str:
    """SHA-256 of a record's canonical JSON (sky maps by their own hash); a missing optional
    field counts as null, so GCN JSON that omits them hashes like the Avro form."""
    full = with_defaults(record, official_schema(), nulls=True)
    return hashlib.sha256(_canonical(full).encode()).hexdigest()


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
