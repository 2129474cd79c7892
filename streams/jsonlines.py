"""The JSON Lines form of events that `casebus publish` reads: one object per line, with `type`.

Parsing checks shape and types only (one clear line per problem); the field rules of the wire
contract (sites, id patterns, ranges) are `streams.validation`'s job.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final
from uuid import UUID

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


class JsonLineError(ValueError):
    """One line is not a valid event in JSON Lines form; the message says where and why."""


_Converter = Callable[[Any, str], Any]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _wrong(path: str, expected: str, value: Any) -> JsonLineError:
    return JsonLineError(f"{path}: expected {expected}, got {_json_type(value)}")


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _wrong(path, "a string", value)
    return value


def _integer(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong(path, "an integer", value)
    return value


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong(path, "a number", value)
    return float(value)


def _boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _wrong(path, "true or false", value)
    return value


def _uuid(value: Any, path: str) -> UUID:
    text = _string(value, path)
    try:
        return UUID(text)
    except ValueError:
        raise JsonLineError(f"{path}: {text!r} is not a UUID") from None


def _timestamp(value: Any, path: str) -> datetime:
    text = _string(value, path)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise JsonLineError(f"{path}: {text!r} is not an ISO-8601 timestamp") from None
    if moment.tzinfo is None:
        raise JsonLineError(f"{path}: {text!r} has no UTC offset (add Z or +07:00)")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise JsonLineError(f"{path}: {text!r} is out of range in UTC") from None
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _strings(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _wrong(path, "an array of strings", value)
    return tuple(_string(item, f"{path}[{index}]") for index, item in enumerate(value))


def _enum(enum_type: type[StrEnum]) -> _Converter:
    symbols = [member.value for member in enum_type]

    def convert(value: Any, path: str) -> StrEnum:
        text = _string(value, path)
        if text not in symbols:
            raise JsonLineError(f"{path}: {text!r} is not one of {', '.join(symbols)}")
        return enum_type(text)

    return convert


_COMMON: Final[dict[str, _Converter]] = {
    "event_id": _uuid,
    "case_id": _string,
    "site_id": _string,
    "occurred_at": _timestamp,
    "source": _string,
}
_FIELDS: Final[dict[EventType, dict[str, _Converter]]] = {
    EventType.REGISTRATION: {
        **_COMMON,
        "patient_ref": _string,
        "cancer_type": _enum(CancerType),
        "consent_version": _string,
        "birth_year": _integer,
    },
    EventType.SAMPLE_RECEIVED: {
        **_COMMON,
        "sample_id": _string,
        "sample_type": _enum(SampleType),
        "condition": _enum(SampleCondition),
    },
    EventType.QA_RESULT: {
        **_COMMON,
        "sample_id": _string,
        "outcome": _enum(QaOutcome),
        "dna_yield_ng": _number,
        "dv200_percent": _number,
        "failure_reason": _string,
    },
    EventType.REVIEW_COMPLETE: {
        **_COMMON,
        "diagnosis_confirmed": _boolean,
        "final_diagnosis": _enum(CancerType),
        "actionable_alterations": _strings,
        "report_ref": _string,
    },
}
_OPTIONAL: Final[dict[EventType, frozenset[str]]] = {
    kind: frozenset(
        field.name for field in dataclasses.fields(cls) if field.default is not dataclasses.MISSING
    )
    for kind, cls in EVENT_CLASSES.items()
}
_TYPES: Final = ", ".join(kind.value for kind in EventType)


def parse_line(line: str) -> Event:
    """The event in one JSON Lines line; raises `JsonLineError` with a one-line reason."""
    try:
        document = json.loads(line.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        # A JSON line holds no raw newline, so the character offset is the column.
        raise JsonLineError(f"malformed JSON: {exc.msg} at column {exc.pos + 1}") from None
    except RecursionError:
        raise JsonLineError("malformed JSON: nested too deeply") from None
    if not isinstance(document, dict):
        raise JsonLineError(f"expected a JSON object, got {_json_type(document)}")
    return event_from_json(document)


def event_from_json(document: dict[str, Any]) -> Event:
    """The event in one decoded JSON object of the DESIGN.md form."""
    kind = _event_type_of(document.get("type"))
    converters = _FIELDS[kind]
    given = set(document) - {"type"}
    missing = [name for name in converters if name not in given and name not in _OPTIONAL[kind]]
    if missing:
        raise JsonLineError(f"{kind.value}: missing field(s) {_names(missing)}")
    extra = sorted(given - set(converters))
    if extra:
        raise JsonLineError(f"{kind.value}: unknown field(s) {_names(extra)}")
    values: dict[str, Any] = {}
    for name, convert in converters.items():
        value = document.get(name)
        if value is None and name in _OPTIONAL[kind]:
            continue
        values[name] = convert(value, f"{kind.value}.{name}")
    return EVENT_CLASSES[kind](**values)


def event_to_json(event: Event) -> dict[str, Any]:
    """The JSON Lines form of an event (the inverse of `event_from_json`)."""
    document: dict[str, Any] = {"type": event_type(event).value}
    for field in dataclasses.fields(event):
        value = getattr(event, field.name)
        if isinstance(value, UUID):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, StrEnum):
            value = value.value
        document[field.name] = value
    return document


def _event_type_of(value: Any) -> EventType:
    if value is None:
        raise JsonLineError(f"missing field 'type' (one of {_TYPES})")
    try:
        return EventType(value)
    except ValueError:
        raise JsonLineError(f"unknown type {value!r} (expected one of {_TYPES})") from None


def _names(names: list[str]) -> str:
    return ", ".join(repr(name) for name in names)
