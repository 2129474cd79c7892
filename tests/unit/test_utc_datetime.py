"""`UtcDateTime` binds on SQLite exactly the text SQLAlchemy's own conversion gives."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import TypeDecorator
from sqlalchemy.dialects import sqlite

from sinks.tables import UtcDateTime

pytestmark = pytest.mark.unit

DIALECT = sqlite.dialect()
COLUMN_TYPE = cast(UtcDateTime, UtcDateTime().dialect_impl(DIALECT))


def _processor(found: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    assert found is not None
    return found


STORED = _processor(COLUMN_TYPE.bind_processor(DIALECT))
# What SQLAlchemy composes for a TypeDecorator: `process_bind_param`, then the dialect's own
# DATETIME conversion (the path every value took before the shortcut for UTC values).
COMPOSED = _processor(TypeDecorator.bind_processor(COLUMN_TYPE, DIALECT))

offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(st.datetimes(timezones=st.just(UTC)))
def test_a_utc_value_binds_as_the_composed_conversion_does(value: datetime) -> None:
    assert STORED(value) == COMPOSED(value)


# Local times a day inside the calendar's ends, so that the UTC time exists at every offset.
@given(
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=offsets)
)
def test_a_value_at_another_offset_binds_as_its_utc_time(value: datetime) -> None:
    assert STORED(value) == COMPOSED(value) == COMPOSED(value.astimezone(UTC))


def test_the_text_keeps_its_microseconds_when_they_are_zero() -> None:
    assert STORED(datetime(2026, 3, 1, 8, tzinfo=UTC)) == "2026-03-01 08:00:00.000000"


def test_a_naive_value_is_still_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime 2026-03-01T08:00:00 has no time zone"):
        STORED(datetime(2026, 3, 1, 8))


def test_none_binds_as_null() -> None:
    assert STORED(None) is None
