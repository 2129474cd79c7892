"""Upgrading a database that holds data: what a later revision derives from the earlier rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import insert

from sinks.clock_table import last_checked_at
from sinks.factory import create_store
from sinks.migrate import alembic_config
from sinks.sql import SqlAlchemyStore
from sinks.tables import case_clocks
from tests.unit.case_events import START

pytestmark = pytest.mark.integration


def clock(case_id: str, checked_hours: int) -> dict[str, object]:
    return {
        "case_id": case_id,
        "site_id": "MY-SGH",
        "stage": "awaiting_sample",
        "started_at": START,
        "due_at": START + timedelta(days=14),
        "overdue": False,
        "overdue_since": None,
        "checked_at": START + timedelta(hours=checked_hours),
    }


def upgrade_from_0003(store_url: str, clocks: list[dict[str, object]]) -> SqlAlchemyStore:
    store = create_store(store_url)
    assert isinstance(store, SqlAlchemyStore)
    with store.engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0003")
        if clocks:
            connection.execute(insert(case_clocks), clocks)
    store.migrate()
    return store


def test_clock_sweep_time_is_taken_from_the_existing_clocks(store_url: str) -> None:
    store = upgrade_from_0003(store_url, [clock("MK-1", 1), clock("MK-2", 3)])
    try:
        assert last_checked_at(store) == START + timedelta(hours=3)
    finally:
        store.close()


def test_no_clocks_means_never_checked(store_url: str) -> None:
    store = upgrade_from_0003(store_url, [])
    try:
        assert last_checked_at(store) is None
    finally:
        store.close()
