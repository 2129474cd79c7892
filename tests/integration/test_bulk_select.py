"""`sinks.bulk_select` against SQLAlchemy's own select, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, Table, select

from agents.model import CaseStatus, Disposition
from sinks.bulk_select import select_in
from sinks.persistence import Store
from sinks.sql import SqlAlchemyStore
from sinks.tables import case_status, events
from tests.integration.test_store import T0, batch, status_row, stored_event

pytestmark = pytest.mark.integration

TOKYO = timezone(timedelta(hours=9))
ALL_EVENT_COLUMNS = tuple(column.name for column in events.columns)


@pytest.fixture
def filled(store: Store) -> SqlAlchemyStore:
    """A store with events of three cases, keyed and keyless, and two status rows."""
    assert isinstance(store, SqlAlchemyStore)
    first = stored_event("MK-0001", occurred_at=T0.astimezone(TOKYO))
    later = stored_event("MK-0001", offset=1, occurred_at=T0 + timedelta(hours=1))
    keyless = stored_event(
        "MK-0002", offset=2, disposition=Disposition.HELD, reason="orphan"
    )._replace(key=None, broker_timestamp=None)
    other = stored_event("MK-0003", offset=3)
    store.commit(
        batch(
            new_events=[later, keyless, first, other],
            status_rows=[status_row("MK-0001"), status_row("MK-0003", status=CaseStatus.QA_PASSED)],
        )
    )
    return store


def core_rows(
    conn: Connection, table: Table, columns: tuple[str, ...], key: str, keys: list[Any]
) -> list[tuple[Any, ...]]:
    query = select(*(table.c[name] for name in columns)).where(table.c[key].in_(keys))
    return [tuple(row) for row in conn.execute(query.order_by(*table.primary_key)).all()]


def test_event_rows_equal_those_of_a_core_select(filled: SqlAlchemyStore) -> None:
    query = select_in(filled.engine.dialect, events, ALL_EVENT_COLUMNS, "case_id", ["event_id"])
    with filled.engine.connect() as conn:
        rows = query.rows(conn, ["MK-0001", "MK-0002"])
        expected = core_rows(conn, events, ALL_EVENT_COLUMNS, "case_id", ["MK-0001", "MK-0002"])
    assert rows == expected
    assert len(rows) == 3


def test_values_come_back_as_sqlalchemy_returns_them(filled: SqlAlchemyStore) -> None:
    columns = ("event_id", "occurred_at", "broker_timestamp", "raw", "key")
    query = select_in(filled.engine.dialect, events, columns, "case_id", ["event_id"])
    with filled.engine.connect() as conn:
        (keyless,) = query.rows(conn, ["MK-0002"])
        (keyed,) = query.rows(conn, ["MK-0003"])
    event_id, occurred_at, broker_timestamp, raw, key = keyless
    assert occurred_at.tzinfo is not None and occurred_at.utcoffset() == timedelta(0)
    assert broker_timestamp is None and key is None
    assert bytes(raw).startswith(b"\xc3\x01" + event_id.bytes)
    assert bytes(keyed[4]) == b"MK-0003"


def test_rows_follow_the_order_asked_for(filled: SqlAlchemyStore) -> None:
    query = select_in(
        filled.engine.dialect, events, ("case_id", "occurred_at"), "case_id", ["occurred_at"]
    )
    with filled.engine.connect() as conn:
        rows = query.rows(conn, ["MK-0001"])
    assert [occurred for _, occurred in rows] == sorted(occurred for _, occurred in rows)
    assert rows[0][1] == T0


def test_lists_of_different_lengths_each_find_their_rows(filled: SqlAlchemyStore) -> None:
    query = select_in(filled.engine.dialect, case_status, ("case_id", "status"), "case_id")
    with filled.engine.connect() as conn:
        assert query.rows(conn, ["MK-0003"]) == [("MK-0003", CaseStatus.QA_PASSED.value)]
        both = query.rows(conn, ["MK-0001", "MK-0003", "MK-9999"])
    assert sorted(case_id for case_id, _ in both) == ["MK-0001", "MK-0003"]


def test_an_empty_list_is_refused(filled: SqlAlchemyStore) -> None:
    query = select_in(filled.engine.dialect, case_status, ("case_id",), "case_id")
    with filled.engine.connect() as conn, pytest.raises(ValueError, match="at least one key"):
        query.rows(conn, [])


def test_an_unknown_column_is_refused(store: Store) -> None:
    assert isinstance(store, SqlAlchemyStore)
    with pytest.raises(ValueError, match="table case_status has no column 'colour'"):
        select_in(store.engine.dialect, case_status, ("case_id", "colour"), "case_id")


def test_rows_are_found_by_event_id(filled: SqlAlchemyStore) -> None:
    # PostgreSQL binds the keys as one uuid[] array; SQLite as a list of hex strings.
    query = select_in(filled.engine.dialect, events, ("event_id", "case_id"), "event_id")
    with filled.engine.connect() as conn:
        stored = set(conn.execute(select(events.c.event_id)).scalars())
        rows = query.rows(conn, [*stored, uuid.uuid4()])
    assert {event_id for event_id, _ in rows} == stored
    assert len(stored) == 4
