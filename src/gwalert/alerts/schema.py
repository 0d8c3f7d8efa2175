"""The official IGWN alert schema (PyPI package ``igwn-gwalert-schema``) and checks on the
schemas senders write with."""

from __future__ import annotations

import copy
import json
import re
from functools import cache, lru_cache
from typing import Any

SCHEMA_FILE = "igwn.alerts.Alert.avsc"
# Writer schema names LVK has used: igwn.alerts.v1_0.Alert (2023 samples), igwn.alerts.Alert.
_ALERT_NAME = re.compile(r"^igwn\.alerts(\.v\d+(_\d+)*)?\.Alert$")


@cache
def official_schema() -> dict[str, Any]:
    """The newest IGWN alert schema as a JSON object."""
    return json.loads(_schema_text())


def _schema_text() -> str:
    """The schema file's text, found through the package's import path (importlib.resources
    costs ``gwalert parse`` ~10 ms of imports; it is the fallback)."""
    import importlib.util
    import os

    spec = importlib.util.find_spec("igwn_gwalert_schema")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = os.path.join(folder, SCHEMA_FILE)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as fh:
                return fh.read()
    from importlib import resources

    return resources.files("igwn_gwalert_schema").joinpath(SCHEMA_FILE).read_text()


@cache
def parsed_official_schema() -> Any:
    import fastavro

    return fastavro.parse_schema(official_schema())


_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def _shape(schema: Any) -> Any:
    """The type structure of a schema, without names, namespaces, docs or defaults."""
    if isinstance(schema, str):
        return schema if schema in _PRIMITIVES else ("ref", schema.rsplit(".", 1)[-1])
    if isinstance(schema, list):
        return ("union", *(_shape(b) for b in schema))
    kind = schema.get("type")
    if kind == "record":
        return ("record", *((f["name"], _shape(f["type"])) for f in schema["fields"]))
    if kind == "enum":
        return ("enum", *schema["symbols"])
    if kind == "array":
        return ("array", _shape(schema["items"]))
    if kind == "map":
        return ("map", _shape(schema["values"]))
    if kind == "fixed":
        return ("fixed", schema["size"])
    return _shape(kind)


def legacy_schema() -> dict[str, Any]:
    """Schema 1.0 as the 2023 samples were written: no mchirp_source, int gcn_notice_id."""
    schema = copy.deepcopy(official_schema())
    for f in schema["fields"]:
        if f["name"] == "event":
            rec = f["type"][1]
            rec["fields"] = [x for x in rec["fields"] if x["name"] != "mchirp_source"]
        if f["name"] == "external_coinc":
            for x in f["type"][1]["fields"]:
                if x["name"] == "gcn_notice_id":
                    x["type"] = "int"
    return schema


@cache
def _known_shapes() -> tuple[Any, ...]:
    return (_shape(official_schema()), _shape(legacy_schema()))


@lru_cache(maxsize=32)
def writer_schema_verdict(schema_json: str) -> tuple[str | None, bool]:
    """For the writer schema text of an Avro container: (why it is refused or None, whether
    it has exactly the layout of an official schema version). Cached (LVK sends one schema),
    but bounded: a sender choosing a new schema per message must not grow memory."""
    try:
        schema = json.loads(schema_json)
    except (ValueError, RecursionError):
        return "writer schema is not valid JSON", False
    try:
        problem = check_writer_schema(schema)
    except (TypeError, AttributeError, KeyError, RecursionError):
        problem = "writer schema is not a valid Avro record schema"
    if problem:
        return problem, False
    try:
        known = _shape(schema) in _known_shapes()
    except (KeyError, TypeError, AttributeError, RecursionError):
        known = False
    return None, known


def _fullname(schema: dict[str, Any], namespace: str | None) -> str:
    name = str(schema.get("name", ""))
    if "." in name:
        return name
    ns = schema.get("namespace", namespace)
    return f"{ns}.{name}" if ns else name


def check_writer_schema(schema: Any) -> str | None:
    """Return why ``schema`` is not an IGWN alert writer schema, or None if it is one.

    The schema of an Avro container is chosen by whoever wrote it. Besides the record name and
    its required fields, this refuses arrays whose items take no bytes (``null``, empty records
    or zero-size fixed): a block of such an array can claim 2**31 items that cost nothing to
    "read", which makes the decoder spin and exhaust memory.
    """
    if not isinstance(schema, dict) or schema.get("type") != "record":
        return "writer schema is not an IGWN alert record"
    fullname = _fullname(schema, None)
    if not _ALERT_NAME.match(fullname):
        return f"writer schema {fullname!r} is not an IGWN alert schema"
    if not isinstance(schema.get("fields"), list):
        return "writer schema has no list of fields"
    fields = {f.get("name") for f in schema["fields"] if isinstance(f, dict)}
    missing = {"superevent_id", "alert_type", "time_created"} - fields
    if missing:
        return f"writer schema lacks required field(s) {', '.join(sorted(missing))}"
    try:
        _check_no_empty_items(schema, {}, None, 0)
    except ValueError as exc:
        return str(exc)
    return None


def _zero_size(schema: Any, named: dict[str, Any], namespace: str | None, depth: int) -> bool:
    if depth > 32:
        raise ValueError("writer schema nests too deeply")
    if isinstance(schema, str):
        if schema == "null":
            return True
        target = named.get(schema) or named.get(f"{namespace}.{schema}")
        return bool(target) and _zero_size(target, named, namespace, depth + 1)
    if isinstance(schema, list):
        return False  # a union index takes at least one byte
    if isinstance(schema, dict):
        kind = schema.get("type")
        if kind == "record":
            return all(
                _zero_size(f.get("type"), named, namespace, depth + 1)
                for f in schema.get("fields", [])
            )
        if kind == "fixed":
            return schema.get("size") == 0
        if kind in ("array", "map", "enum"):
            return False
        return _zero_size(kind, named, namespace, depth + 1)
    return False


def _check_no_empty_items(
    schema: Any, named: dict[str, Any], namespace: str | None, depth: int
) -> None:
    if depth > 32:
        raise ValueError("writer schema nests too deeply")
    if isinstance(schema, list):
        for branch in schema:
            _check_no_empty_items(branch, named, namespace, depth + 1)
        return
    if not isinstance(schema, dict):
        return
    kind = schema.get("type")
    if kind in ("record", "enum", "fixed"):
        named[_fullname(schema, namespace)] = schema
        namespace = schema.get("namespace", namespace)
    if kind == "record":
        for f in schema.get("fields", []):
            if isinstance(f, dict):
                _check_no_empty_items(f.get("type"), named, namespace, depth + 1)
    elif kind == "array":
        items = schema.get("items")
        if _zero_size(items, named, namespace, depth + 1):
            raise ValueError("writer schema has an array of items that take no bytes")
        _check_no_empty_items(items, named, namespace, depth + 1)
    elif kind == "map":
        _check_no_empty_items(schema.get("values"), named, namespace, depth + 1)
    elif isinstance(kind, dict | list):
        _check_no_empty_items(kind, named, namespace, depth + 1)
