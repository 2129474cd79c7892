"""The codec reads back exactly what it wrote, for every event type and every record."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from uuid import UUID

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from streams.codec import (
    MAGIC,
    content_digest,
    decode_event,
    decode_record,
    delivery_digest,
    encode_event,
    encode_record,
    fingerprint_of,
)
from streams.events import Event, ReviewComplete
from streams.schema_registry import default_registry
from tests import strategies
from tests.golden_events import GOLDEN_EVENTS
from tests.other_encodings import review_in_blocks

pytestmark = pytest.mark.unit

MOMENT = datetime(2024, 5, 6, 7, 8, 9, 10000, tzinfo=UTC)


@pytest.mark.parametrize(
    "events",
    [
        strategies.registrations(),
        strategies.samples_received(),
        strategies.qa_results(),
        strategies.reviews_complete(),
    ],
    ids=["registration", "sample_received", "qa_result", "review_complete"],
)
@given(data=st.data())
def test_round_trip(events: st.SearchStrategy[Event], data: st.DataObject) -> None:
    event = data.draw(events)
    assert decode_event(encode_event(event)) == event


@given(strategies.events())
def test_header_names_newest_schema_of_the_type(event: Event) -> None:
    encoded = encode_event(event)
    version = default_registry().by_fingerprint(fingerprint_of(encoded))
    assert encoded[:2] == MAGIC
    assert version is not None
    assert version is default_registry().newest(version.name)


@given(strategies.events())
def test_content_digest_is_stable_across_decoding(event: Event) -> None:
    assert content_digest(decode_event(encode_event(event))) == content_digest(event)


@given(strategies.events())
def test_the_delivery_digest_of_our_own_encoding_is_the_content_digest(event: Event) -> None:
    # What lets rows that hold either kind of digest be compared with new deliveries.
    assert delivery_digest(encode_event(event)) == content_digest(event)


@given(strategies.reviews_complete())
def test_other_bytes_for_the_same_review_have_another_delivery_digest(
    review: ReviewComplete,
) -> None:
    assume(review.actionable_alterations)
    other = review_in_blocks(review)
    assert decode_event(other) == review
    assert content_digest(decode_event(other)) == content_digest(review)
    assert delivery_digest(other) != delivery_digest(encode_event(review))


@given(strategies.events())
def test_content_digest_differs_when_content_differs(event: Event) -> None:
    changed = dataclasses.replace(event, source=event.source + "x")
    assert content_digest(changed) != content_digest(event)


def test_decoded_values_have_python_types() -> None:
    event = decode_event(encode_event(GOLDEN_EVENTS["registration_v1"]))
    assert isinstance(event.event_id, UUID)
    assert event.occurred_at.tzinfo is not None
    assert event.occurred_at.utcoffset() == UTC.utcoffset(None)


def test_dead_letter_round_trip() -> None:
    record = {
        "original": b"\x00\xffgarbage",
        "source_topic": "mk.qa-result",
        "source_partition": 2,
        "source_offset": 12345,
        "broker_timestamp": MOMENT,
        "key": None,
        "reason_code": "DECODE_ERROR",
        "reason": "not Avro single-object encoding",
        "recorded_at": MOMENT,
        "event_id": None,
        "case_id": None,
    }
    assert decode_record(encode_record("DeadLetter", record)) == ("DeadLetter", record)


def test_case_status_changed_round_trip() -> None:
    record = {
        "case_id": "MK-1",
        "site_id": "MY-SGH",
        "cancer_type": "GIST",
        "previous_status": None,
        "status": "REGISTERED",
        "registered_at": MOMENT,
        "first_sample_received_at": None,
        "qa_passed_at": None,
        "review_completed_at": None,
        "samples_received": 0,
        "qa_failures": 0,
        "caused_by": UUID(int=7),
        "changed_at": MOMENT,
    }
    assert decode_record(encode_record("CaseStatusChanged", record)) == (
        "CaseStatusChanged",
        record,
    )


def test_notification_round_trip() -> None:
    record = {
        "milestone": "QA_FAILED",
        "key": "MK-1/QA_FAILED/S-1",
        "case_id": "MK-1",
        "site_id": "MY-SGH",
        "status": "QA_FAILED",
        "sample_id": "S-1",
        "stage": None,
        "occurred_at": MOMENT,
        "details": {"failure_reason": "low yield"},
    }
    assert decode_record(encode_record("Notification", record)) == ("Notification", record)
