"""`sinks.bulk` on SQLite and on PostgreSQL, where the rows go as one array per column."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, select
from sqlalchemy.exc import DBAPIError

from sinks.bulk import bulk_insert, bulk_upsert
from sinks.factory import create_store
from sinks.notification_rows import MILESTONE_COLUMNS
from sinks.persistence import Store
from sinks.sql import DEAD_LETTER_COLUMNS, SqlAlchemyStore
from sinks.tables import NAME_LENGTH, counters, dead_letters, milestones
from tests.integration.test_store import T0

pytestmark = pytest.mark.integration

TOKYO = timezone(timedelta(hours=9))


def dead_letter_row(offset: int, **values: Any) -> tuple[Any, ...]:
    row: dict[str, Any] = {
        "topic": "mk.registration",
        "partition": 0,
        "offset": offset,
        "reason": "decode_error",
        "detail": f"record {offset} did not decode",
        "event_id": None,
        "case_id": None,
        "dead_letter_partition": None,
        "dead_letter_offset": None,
        "recorded_at": T0,
        **values,
    }
    return tuple(row[name] for name in DEAD_LETTER_COLUMNS)


def milestone_row(key: str, details: str = "{}") -> tuple[Any, ...]:
    row: dict[str, Any] = {
        "key": key,
        "case_id": "MK-0001",
        "milestone": "registered",
        "site_id": "MY-SGH",
        "status": "registered",
        "sample_id": None,
        "stage": None,
        "occurred_at": T0,
        "details": details,
        "recorded_at": T0,
    }
    return tuple(row[name] for name in MILESTONE_COLUMNS)


@pytest.fixture
def connection(store: Store) -> Iterator[Connection]:
    """A connection to the fresh store, in a transaction committed after the test."""
    assert isinstance(store, SqlAlchemyStore)
    with store.engine.begin() as conn:
        yield conn


def test_values_come_back_as_given(connection: Connection) -> None:
    values: dict[str, Any] = {
        "detail": "quotes ' \" braces {,} and a backslash \\",
        "dead_letter_partition": 2,
        "dead_letter_offset": 2**40,
    }
    given = [dead_letter_row(7, **values, recorded_at=T0.astimezone(TOKYO)), dead_letter_row(8)]
    bulk_insert(connection.dialect, dead_letters, DEAD_LETTER_COLUMNS).execute(connection, given)
    columns = [dead_letters.c[name] for name in DEAD_LETTER_COLUMNS]
    stored = connection.execute(select(*columns).order_by(dead_letters.c.offset)).all()
    # The time comes back in UTC, the same instant.
    assert [tuple(r) for r in stored] == [dead_letter_row(7, **values), dead_letter_row(8)]


def test_numbered_rows_are_numbered_in_the_order_given(connection: Connection) -> None:
    offsets = [5, 1, 9, 3, 7]
    bulk_insert(connection.dialect, dead_letters, DEAD_LETTER_COLUMNS).execute(
        connection, [dead_letter_row(offset) for offset in offsets]
    )
    numbered = connection.execute(
        select(dead_letters.c.offset).order_by(dead_letters.c.id)
    ).scalars()
    assert list(numbered) == offsets


def test_a_skipped_conflict_keeps_the_first_row_of_the_same_call(connection: Connection) -> None:
    insert = bulk_insert(connection.dialect, milestones, MILESTONE_COLUMNS, ["key"])
    insert.execute(connection, [milestone_row("a", '{"n": 1}'), milestone_row("a", '{"n": 2}')])
    insert.execute(connection, [milestone_row("a", '{"n": 3}'), milestone_row("b")])
    details = connection.execute(
        select(milestones.c.key, milestones.c.details).order_by(milestones.c.key)
    ).all()
    assert [tuple(r) for r in details] == [("a", '{"n": 1}'), ("b", "{}")]


def test_an_upsert_adds_to_stored_rows_and_inserts_new_ones(connection: Connection) -> None:
    upsert = bulk_upsert(connection.dialect, counters, ("name", "value"), ["name"], add=["value"])
    upsert.execute(connection, [("consumed", 5), ("duplicates", 1)])
    upsert.execute(connection, [("consumed", 3), ("rejected", 2)])
    values = connection.execute(select(counters).order_by(counters.c.name)).all()
    assert [tuple(r) for r in values] == [("consumed", 8), ("duplicates", 1), ("rejected", 2)]


def test_postgresql_refuses_a_text_longer_than_its_column(fresh_postgres_url: str) -> None:
    # The arrays are cast to unbounded text: a cast to the column's VARCHAR(n) would cut the
    # value short without an error, where a row inserted alone is refused.
    store = create_store(fresh_postgres_url)
    try:
        store.migrate()
        assert isinstance(store, SqlAlchemyStore)
        too_long = "k" * (NAME_LENGTH + 1)
        with pytest.raises(DBAPIError, match="too long"), store.engine.begin() as conn:
            bulk_insert(conn.dialect, milestones, MILESTONE_COLUMNS).execute(
                conn, [milestone_row(too_long)]
            )
        with store.engine.connect() as conn:
            assert conn.execute(select(milestones.c.key)).all() == []
    finally:
        store.close()
