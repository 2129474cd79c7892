"""The INVALID_FIELD rules, each at its edges."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given

from infra.sites import SiteRegistry
from streams.events import Event, QaOutcome
from streams.validation import (
    FieldError,
    ValidationError,
    ensure_valid,
    reason_of,
    validate_event,
)
from tests import golden_events as golden
from tests import strategies

pytestmark = pytest.mark.unit

SITES = SiteRegistry.load()
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
REGISTRATION = golden.REGISTRATION
QA = golden.QA_RESULT
SAMPLE = golden.SAMPLE_RECEIVED


def _errors(event: Event, key: bytes | str | None = None) -> list[str]:
    return [str(error) for error in validate_event(event, sites=SITES, now=NOW, key=key)]


@given(strategies.events())
def test_generated_events_are_valid(event: Event) -> None:
    assert validate_event(event, sites=SITES, now=datetime.now(UTC)) == []


def test_unknown_site() -> None:
    assert _errors(dataclasses.replace(REGISTRATION, site_id="MY-XXX")) == [
        "registration.site_id: 'MY-XXX' is not a site of the registry"
    ]


@pytest.mark.parametrize("case_id", ["ABC", "A" * 40, "0-9", "MK-SGH-0001"])
def test_case_id_pattern_accepts(case_id: str) -> None:
    assert _errors(dataclasses.replace(REGISTRATION, case_id=case_id)) == []


@pytest.mark.parametrize("case_id", ["AB", "A" * 41, "-AB", "mk-1", "MK 1", "MK_1", "MK-1\n", ""])
def test_case_id_pattern_refuses(case_id: str) -> None:
    (error,) = _errors(dataclasses.replace(REGISTRATION, case_id=case_id))
    assert error.startswith("registration.case_id: ")


def test_sample_id_pattern() -> None:
    (error,) = _errors(dataclasses.replace(SAMPLE, sample_id="s-1"))
    assert error.startswith("sample_received.sample_id: 's-1' does not match")


@pytest.mark.parametrize(
    ("occurred_at", "valid"),
    [
        (datetime(2000, 1, 1, tzinfo=UTC), True),
        (datetime(2000, 1, 1, tzinfo=UTC) - timedelta(milliseconds=1), False),
        (NOW + timedelta(minutes=5), True),
        (NOW + timedelta(minutes=5, milliseconds=1), False),
    ],
)
def test_occurred_at_window(occurred_at: datetime, valid: bool) -> None:
    errors = _errors(dataclasses.replace(REGISTRATION, occurred_at=occurred_at))
    assert (errors == []) is valid


def test_occurred_at_future_message() -> None:
    late = dataclasses.replace(REGISTRATION, occurred_at=NOW + timedelta(hours=1))
    assert _errors(late) == [
        "registration.occurred_at: 2026-01-01T13:00:00.000+00:00 is more than 5 minutes "
        "in the future (now 2026-01-01T12:00:00.000+00:00)"
    ]


@pytest.mark.parametrize(
    ("dv200", "valid"),
    [(0.0, True), (100.0, True), (-0.001, False), (100.001, False), (float("nan"), False)],
)
def test_dv200_range(dv200: float, valid: bool) -> None:
    assert (_errors(dataclasses.replace(QA, dv200_percent=dv200)) == []) is valid


def test_dv200_message() -> None:
    assert _errors(dataclasses.replace(QA, dv200_percent=140.0)) == [
        "qa_result.dv200_percent: 140.0 is outside 0..100"
    ]


@pytest.mark.parametrize(
    ("dna_yield", "message"),
    [(0.0, None), (-0.5, "-0.5 is negative"), (float("inf"), "inf is not a finite number")],
)
def test_dna_yield(dna_yield: float, message: str | None) -> None:
    expected = [] if message is None else [f"qa_result.dna_yield_ng: {message}"]
    assert _errors(dataclasses.replace(QA, dna_yield_ng=dna_yield)) == expected


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_failed_needs_a_reason(reason: str | None) -> None:
    assert _errors(dataclasses.replace(QA, failure_reason=reason)) == [
        "qa_result.failure_reason: required when outcome is FAILED"
    ]


def test_passed_needs_no_reason() -> None:
    passed = dataclasses.replace(QA, outcome=QaOutcome.PASSED, failure_reason=None)
    assert _errors(passed) == []


@pytest.mark.parametrize("key", [b"MK-SGH-0001", "MK-SGH-0001"])
def test_key_equal_to_case_id(key: bytes | str) -> None:
    assert _errors(REGISTRATION, key=key) == []


@pytest.mark.parametrize("key", [b"MK-SGH-0002", b"\xff", ""])
def test_key_not_equal_to_case_id(key: bytes | str) -> None:
    (error,) = _errors(REGISTRATION, key=key)
    assert error.startswith("key: record key ")


def test_all_errors_in_one_reason() -> None:
    bad = dataclasses.replace(QA, site_id="XX", dv200_percent=140.0)
    with pytest.raises(ValidationError) as raised:
        ensure_valid(bad, sites=SITES, now=NOW)
    assert str(raised.value) == (
        "qa_result.site_id: 'XX' is not a site of the registry; "
        "qa_result.dv200_percent: 140.0 is outside 0..100"
    )
    assert raised.value.errors[1] == FieldError(
        "qa_result.dv200_percent", "140.0 is outside 0..100"
    )
    assert reason_of(raised.value.errors) == str(raised.value)
