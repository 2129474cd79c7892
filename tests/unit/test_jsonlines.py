"""The JSON Lines form: valid lines become events, bad lines give one clear reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given

from streams.events import Event
from streams.jsonlines import JsonLineError, event_to_json, parse_line
from tests import strategies
from tests.golden_events import GOLDEN_EVENTS

pytestmark = pytest.mark.unit

QA = GOLDEN_EVENTS["qa_result_v1"]


def _line(**changes: Any) -> str:
    document = {**event_to_json(GOLDEN_EVENTS["registration_v1"]), **changes}
    return json.dumps({k: v for k, v in document.items() if v is not ...})


def _error(line: str) -> str:
    with pytest.raises(JsonLineError) as raised:
        parse_line(line)
    return str(raised.value)


@given(strategies.events())
def test_json_round_trip(event: Event) -> None:
    assert parse_line(json.dumps(event_to_json(event))) == event


def test_golden_json_form() -> None:
    assert event_to_json(QA) == {
        "type": "qa_result",
        "event_id": "9c8b7a6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
        "case_id": "MK-SGH-0001",
        "site_id": "JP-NCCH",
        "occurred_at": "2024-03-11T23:59:59.999Z",
        "source": "ncch-lims",
        "sample_id": "S-0001-FFPE",
        "outcome": "FAILED",
        "dna_yield_ng": 12.5,
        "dv200_percent": 31.0,
        "failure_reason": "DV200 below 50%",
    }


def test_offset_is_converted_to_utc_and_truncated_to_milliseconds() -> None:
    event = parse_line(_line(occurred_at="2024-03-01T15:15:30.123999+07:00"))
    assert event.occurred_at == datetime(2024, 3, 1, 8, 15, 30, 123000, tzinfo=UTC)


def test_optional_field_may_be_absent_or_null() -> None:
    assert parse_line(_line(birth_year=...)) == parse_line(_line(birth_year=None))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"type": "registration",', "malformed JSON: "),
        ("[1, 2]", "expected a JSON object, got array"),
        ('{"case_id": "MK-1"}', "missing field 'type'"),
        ('{"type": "biopsy"}', "unknown type 'biopsy' (expected one of registration, "),
        ('{"type": ["registration"]}', "unknown type ['registration']"),
    ],
)
def test_shape_errors(line: str, message: str) -> None:
    assert _error(line).startswith(message)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"patient_ref": ...}, "registration: missing field(s) 'patient_ref'"),
        ({"name": "Jane"}, "registration: unknown field(s) 'name'"),
        ({"birth_year": True}, "registration.birth_year: expected an integer, got boolean"),
        ({"birth_year": 1987.0}, "registration.birth_year: expected an integer, got number"),
        ({"case_id": 7}, "registration.case_id: expected a string, got number"),
        ({"event_id": "not-a-uuid"}, "registration.event_id: 'not-a-uuid' is not a UUID"),
        (
            {"occurred_at": "2024-03-01T08:15:30"},
            "registration.occurred_at: '2024-03-01T08:15:30' has no UTC offset",
        ),
        (
            {"occurred_at": "yesterday"},
            "registration.occurred_at: 'yesterday' is not an ISO-8601 timestamp",
        ),
        ({"cancer_type": "LUNG"}, "registration.cancer_type: 'LUNG' is not one of SOFT_TISSUE"),
        ({"cancer_type": None}, "registration.cancer_type: expected a string, got null"),
    ],
)
def test_field_errors(changes: dict[str, Any], message: str) -> None:
    assert _error(_line(**changes)).startswith(message)


def test_review_alterations_must_be_strings() -> None:
    document = event_to_json(GOLDEN_EVENTS["review_complete_v1"])
    document["actionable_alterations"] = ["KIT", 3]
    message = _error(json.dumps(document))
    assert message == "review_complete.actionable_alterations[1]: expected a string, got number"


def test_qa_numbers_accept_integers() -> None:
    document = {**event_to_json(QA), "dv200_percent": 31}
    assert parse_line(json.dumps(document)) == QA


def test_malformed_json_names_the_column_of_the_line() -> None:
    assert _error('{"type": "registration", "case_id": \n') == (
        "malformed JSON: Expecting value at column 37"
    )
