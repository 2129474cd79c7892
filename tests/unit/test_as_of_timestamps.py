"""`--as-of` parsing: ISO-8601 with an offset, to UTC; anything else is one clear error."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from casebus.timestamps import TimestampError, parse_as_of

pytestmark = pytest.mark.unit


def test_an_offset_is_converted_to_utc() -> None:
    assert parse_as_of("2026-03-01T15:00:00+07:00") == datetime(2026, 3, 1, 8, tzinfo=UTC)


def test_z_means_utc() -> None:
    assert parse_as_of("2026-03-01T08:00:00.250Z") == datetime(2026, 3, 1, 8, 0, 0, 250000, UTC)


@pytest.mark.parametrize(
    ("text", "problem"),
    [("2026-03-01T08:00:00", "no UTC offset"), ("yesterday", "not an ISO-8601 timestamp")],
)
def test_bad_timestamps_are_refused(text: str, problem: str) -> None:
    with pytest.raises(TimestampError, match=problem):
        parse_as_of(text)
