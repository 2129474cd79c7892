"""Avro single-object encoding of casebus records, exactly as the Avro specification defines it.

A value is `C3 01`, the writer schema's 8-byte little-endian CRC-64-AVRO fingerprint, then
the Avro binary body. The encoder always writes with the newest version of a record; the
decoder accepts any released version and reads into the newest one (Avro schema resolution).
Decoding arbitrary bytes raises only `CodecError` subclasses.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from uuid import UUID

from fastavro import schemaless_reader, schemaless_writer

from streams.events import (
    EVENT_CLASSES,
    CancerType,
    Event,
    EventType,
    QaOutcome,
    SampleCondition,
    SampleType,
    event_type,
)
from streams.schema_registry import (
    SchemaRegistry,
    SchemaVersion,
    default_registry,
    file_fingerprint,
)

MAGIC: Final = b"\xc3\x01"
HEADER_LENGTH: Final = len(MAGIC) + 8

_EVENT_NAMES: Final[dict[EventType, str]] = {
    EventType.REGISTRATION: "Registration",
    EventType.SAMPLE_RECEIVED: "SampleReceived",
    EventType.QA_RESULT: "QaResult",
    EventType.REVIEW_COMPLETE: "ReviewComplete",
}
_EVENT_TYPES_BY_NAME: Final = {name: t for t, name in _EVENT_NAMES.items()}
_ENUM_FIELDS: Final[dict[str, type[Any]]] = {
    "cancer_type": CancerType,
    "final_diagnosis": CancerType,
    "sample_type": SampleType,
    "condition": SampleCondition,
    "outcome": QaOutcome,
}


class CodecError(Exception):
    """Bytes could not be decoded, or a value could not be encoded."""


class NotSingleObjectError(CodecError):
    """The bytes do not start with the Avro single-object header."""


class UnknownFingerprintError(CodecError):
    """The header names a writer schema that is not any released version."""


class BodyMismatchError(CodecError):
    """The body does not decode with the writer schema its header names."""


class NotAnEventError(CodecError):
    """The bytes hold a valid record that is not one of the four event types."""


class EncodeError(CodecError):
    """A value does not fit its schema; the message names the field path and the reason."""


def record_name_of(event_type: EventType) -> str:
    """The Avro record name of an event type, e.g. `QaResult` for `qa_result`."""
    return _EVENT_NAMES[event_type]


def fingerprint_of(data: bytes) -> bytes:
    """The writer schema fingerprint (the 8 header bytes) of a single-object encoding."""
    view = memoryview(data)
    if len(view) < HEADER_LENGTH or bytes(view[:2]) != MAGIC:
        raise NotSingleObjectError(_header_problem(view))
    return bytes(view[2:HEADER_LENGTH])


def schema_file_fingerprint(path: Path | str) -> bytes:
    """The 8 header bytes that values written with the schema in `path` start with (after C3 01)."""
    return file_fingerprint(path)


def encode_record(
    name: str, record: Mapping[str, Any], registry: SchemaRegistry | None = None
) -> bytes:
    """Encode a record (a dict of field values) with the newest version of schema `name`."""
    schema = _newest(name, registry or default_registry())
    _check_logical_fields(schema, record)
    out = io.BytesIO()
    out.write(MAGIC)
    out.write(schema.fingerprint)
    try:
        schemaless_writer(out, schema.parsed, record)
    except Exception as exc:  # fastavro raises many types for a value that does not fit
        raise EncodeError(_explain_encode_failure(schema, record, exc)) from exc
    return out.getvalue()


def decode_record(
    data: bytes, registry: SchemaRegistry | None = None
) -> tuple[str, dict[str, Any]]:
    """Decode a single-object encoding into (record name, fields) of the newest version."""
    registry = registry or default_registry()
    fingerprint = fingerprint_of(data)
    writer = registry.by_fingerprint(fingerprint)
    if writer is None:
        raise UnknownFingerprintError(
            f"writer schema fingerprint {fingerprint.hex()} is not any released schema version"
        )
    reader = registry.newest(writer.name)
    body = io.BytesIO(memoryview(data)[HEADER_LENGTH:])
    try:
        record = schemaless_reader(
            body, writer.parsed, None if reader is writer or reader is None else reader.parsed
        )
    except Exception as exc:  # arbitrary bytes make fastavro raise arbitrary errors
        raise BodyMismatchError(
            f"body does not match {writer.name} v{writer.version}: {type(exc).__name__}: {exc}"[
                :500
            ]
        ) from exc
    trailing = len(data) - HEADER_LENGTH - body.tell()
    if trailing:
        raise BodyMismatchError(
            f"body does not match {writer.name} v{writer.version}: "
            f"{trailing} bytes left after the record"
        )
    if not isinstance(record, dict):
        raise BodyMismatchError(f"body of {writer.name} did not decode to a record")
    return writer.name, record


def encode_event(event: Event, registry: SchemaRegistry | None = None) -> bytes:
    """Encode one event with the newest version of its record schema."""
    return encode_record(record_name_of(event_type(event)), event_to_record(event), registry)


def decode_event(data: bytes, registry: SchemaRegistry | None = None) -> Event:
    """Decode one event, whatever released version wrote it."""
    name, record = decode_record(data, registry)
    kind = _EVENT_TYPES_BY_NAME.get(name)
    if kind is None:
        raise NotAnEventError(f"record {name} is not an event type")
    return record_to_event(kind, record)


def delivery_digest(data: bytes) -> str:
    """SHA-256 hex of a record's bytes as delivered.

    Equal delivery digests mean equal bytes, so the same content. Unequal ones do not mean
    different content: another schema version, or another writer's valid choices (an array in
    several blocks, say), encode the same values differently. Compare `content_digest`s then.
    """
    return hashlib.sha256(data).hexdigest()


def content_digest(event: Event, registry: SchemaRegistry | None = None) -> str:
    """SHA-256 hex of the event encoded with the newest schema.

    Two deliveries of the same event compare equal whatever version wrote them, because both
    are decoded into the newest version first. Digests computed under different schema sets
    (before and after a new version is released) are not comparable: recompute them from the
    stored raw bytes instead of persisting them across releases.
    """
    return hashlib.sha256(encode_event(event, registry)).hexdigest()


def event_to_record(event: Event) -> dict[str, Any]:
    """The Avro field values of an event."""
    return {name: getattr(event, name) for name, _ in _FIELDS[type(event)]}


def record_to_event(kind: EventType, record: Mapping[str, Any]) -> Event:
    """Build the event dataclass from decoded Avro field values of the newest version."""
    cls = EVENT_CLASSES[kind]
    values: dict[str, Any] = {}
    for name, convert in _FIELDS[cls]:
        value = record[name]
        values[name] = value if convert is None else convert(value)
    return cls(**values)


def _as_tuple(value: Any) -> Any:
    return tuple(value)


def _field_conversions(kind: EventType) -> tuple[tuple[str, Any], ...]:
    conversions = []
    for field in dataclasses.fields(EVENT_CLASSES[kind]):
        enum_type = _ENUM_FIELDS.get(field.name)
        if enum_type is not None:
            path = f"{kind.value}.{field.name}"
            conversions.append((field.name, _enum_converter(enum_type, path)))
        elif field.name == "actionable_alterations":
            conversions.append((field.name, _as_tuple))
        else:
            conversions.append((field.name, None))
    return tuple(conversions)


def _enum_converter(enum_type: type[Any], path: str) -> Any:
    # A dict lookup: calling the enum class goes through its metaclass, several times slower.
    members = {member.value: member for member in enum_type}

    def convert(value: Any) -> Any:
        member = members.get(value)
        return member if member is not None else _enum_member(enum_type, value, path)

    return convert


def _enum_member(enum_type: type[Any], value: Any, path: str) -> Any:
    # A newer schema version may carry a symbol that this build's enum does not know yet.
    try:
        return enum_type(value)
    except ValueError:
        raise BodyMismatchError(
            f"{path}: {value!r} is not a {enum_type.__name__} this version of casebus knows"
        ) from None


def _newest(name: str, registry: SchemaRegistry) -> SchemaVersion:
    schema = registry.newest(name)
    if schema is None:
        raise EncodeError(
            f"no schema for record {name!r}; known records: {', '.join(registry.names)}"
        )
    return schema


def _check_logical_fields(schema: SchemaVersion, record: Mapping[str, Any]) -> None:
    # fastavro silently accepts naive datetimes (as UTC) and any string as a uuid; both are
    # mistakes on a clinical wire, so they are refused here.
    for name, logical in _logical_fields(schema):
        value = record.get(name)
        if value is None:
            continue
        if logical == "timestamp-millis" and isinstance(value, datetime) and value.tzinfo is None:
            raise EncodeError(
                f"{schema.slug}.{name}: datetime without timezone; give an aware UTC datetime"
            )
        if logical == "uuid" and not isinstance(value, UUID):
            raise EncodeError(f"{schema.slug}.{name}: expected a UUID, got {type(value).__name__}")


_LOGICAL_FIELDS: dict[SchemaVersion, tuple[tuple[str, str], ...]] = {}


def _logical_fields(schema: SchemaVersion) -> tuple[tuple[str, str], ...]:
    """The top-level fields of a schema that carry a logical type, computed once per schema."""
    fields = _LOGICAL_FIELDS.get(schema)
    if fields is None:
        fields = tuple(
            (field["name"], logical)
            for field in schema.parsed["fields"]
            if (logical := _logical_type(field["type"])) is not None
        )
        _LOGICAL_FIELDS[schema] = fields
    return fields


def _logical_type(field_type: Any) -> str | None:
    if isinstance(field_type, dict):
        logical = field_type.get("logicalType")
        return logical if isinstance(logical, str) else None
    if isinstance(field_type, list):
        for branch in field_type:
            logical = _logical_type(branch)
            if logical is not None:
                return logical
    return None


def _explain_encode_failure(schema: SchemaVersion, record: Any, exc: Exception) -> str:
    problem = _Explainer(schema.parsed).explain(schema.parsed, record, schema.slug)
    return problem or f"{schema.slug}: {type(exc).__name__}: {exc}"


_INT_RANGES: Final = {"int": 2**31, "long": 2**63}
_PYTHON_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "string": (str,),
    "bytes": (bytes, bytearray, memoryview),
    "boolean": (bool,),
    "float": (int, float),
    "double": (int, float),
}


class _Explainer:
    """Finds the first value that does not fit a schema, for a precise encode error."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self._named: dict[str, Any] = {}
        self._collect(schema)

    def _collect(self, schema: Any) -> None:
        if isinstance(schema, list):
            for branch in schema:
                self._collect(branch)
        elif isinstance(schema, dict):
            if "name" in schema and schema.get("type") in ("record", "enum", "fixed"):
                self._named[schema["name"]] = schema
            for field in schema.get("fields", ()):
                self._collect(field["type"])
            for key in ("items", "values"):
                if key in schema:
                    self._collect(schema[key])

    def explain(self, schema: Any, value: Any, path: str) -> str | None:
        """None when `value` fits `schema`, else "path: reason"."""
        if isinstance(schema, str):
            if schema in self._named:
                return self.explain(self._named[schema], value, path)
            return _explain_primitive(schema, value, path)
        if isinstance(schema, list):
            return self._explain_union(schema, value, path)
        kind = schema["type"]
        if kind == "record":
            return self._explain_record(schema, value, path)
        if kind == "enum":
            if value in schema["symbols"]:
                return None
            return f"{path}: {value!r} is not one of {', '.join(schema['symbols'])}"
        if kind == "array":
            if not isinstance(value, list | tuple):
                return f"{path}: expected a list, got {type(value).__name__}"
            return _first(
                self.explain(schema["items"], v, f"{path}[{i}]") for i, v in enumerate(value)
            )
        if kind == "map":
            if not isinstance(value, Mapping):
                return f"{path}: expected a mapping, got {type(value).__name__}"
            return _first(
                self.explain(schema["values"], v, f"{path}[{k!r}]") for k, v in value.items()
            )
        logical = schema.get("logicalType")
        if logical == "timestamp-millis" and isinstance(value, datetime):
            return None
        if logical == "uuid" and isinstance(value, UUID):
            return None
        return self.explain(kind, value, path)

    def _explain_record(self, schema: dict[str, Any], value: Any, path: str) -> str | None:
        if not isinstance(value, Mapping):
            return f"{path}: expected a record, got {type(value).__name__}"
        for field in schema["fields"]:
            name = field["name"]
            if name not in value and "default" not in field:
                return f"{path}.{name}: missing"
            problem = self.explain(field["type"], value.get(name), f"{path}.{name}")
            if problem:
                return problem
        return None

    def _explain_union(self, branches: list[Any], value: Any, path: str) -> str | None:
        problems = [self.explain(branch, value, path) for branch in branches]
        if any(problem is None for problem in problems):
            return None
        # For the usual ["null", T] the reason T refuses the value is the informative one.
        return problems[-1]


def _explain_primitive(kind: str, value: Any, path: str) -> str | None:
    if kind == "null":
        return None if value is None else f"{path}: expected null, got {type(value).__name__}"
    if value is None:
        return f"{path}: missing (null is not allowed)"
    if kind in _INT_RANGES:
        if not isinstance(value, int) or isinstance(value, bool):
            return f"{path}: expected an integer, got {type(value).__name__}"
        limit = _INT_RANGES[kind]
        if not -limit <= value < limit:
            return f"{path}: {value} does not fit an Avro {kind}"
        return None
    allowed = _PYTHON_TYPES.get(kind)
    if allowed is None:
        return None
    if not isinstance(value, allowed) or (kind in ("float", "double") and isinstance(value, bool)):
        return f"{path}: expected {kind}, got {type(value).__name__}"
    return None


def _first(problems: Any) -> str | None:
    return next((problem for problem in problems if problem), None)


def _header_problem(view: memoryview) -> str:
    start = bytes(view[:2])
    if start != MAGIC:
        found = start.hex() or "nothing"
        return f"not Avro single-object encoding: starts with {found}, expected c301"
    return f"not Avro single-object encoding: {len(view)} bytes, shorter than the 10-byte header"


#: Per event class: each field's name, and how a decoded value becomes the field's value.
_FIELDS: Final[dict[type[Any], tuple[tuple[str, Any], ...]]] = {
    EVENT_CLASSES[kind]: _field_conversions(kind) for kind in EventType
}
