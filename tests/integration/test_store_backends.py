"""What each backend adds to the shared store: SQLite pragmas, PostgreSQL reconnection."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sinks import sqlite
from sinks.factory import create_store
from sinks.persistence import BatchWrite
from sinks.postgres import psycopg_url

pytestmark = pytest.mark.integration


def test_sqlite_connections_use_wal_foreign_keys_a_busy_timeout_and_rarer_checkpoints(
    tmp_path: Path,
) -> None:
    with create_store(f"sqlite:///{tmp_path / 'casebus.db'}") as store:
        assert isinstance(store, sqlite.DatabaseStore)
        with store.engine.connect() as connection:
            pragma = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar_one()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "wal_autocheckpoint")
            }
    assert pragma == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": sqlite.BUSY_TIMEOUT_SECONDS * 1000,
        "wal_autocheckpoint": sqlite.WAL_AUTOCHECKPOINT_PAGES,
    }


def test_a_sqlite_lock_file_lies_beside_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'casebus.db'}"
    with create_store(url) as store, store.exclusive("clocks") as held:
        assert held is True
        assert (tmp_path / "casebus.db.clocks.lock").exists()


def test_an_in_memory_sqlite_store_has_locks_of_its_own() -> None:
    with create_store("sqlite://") as store, create_store("sqlite://") as unrelated:
        with store.exclusive("clocks") as first, store.exclusive("clocks") as second:
            assert (first, second) == (True, False)
            # Another in-memory database is another database, with its own locks.
            with unrelated.exclusive("clocks") as elsewhere:
                assert elsewhere is True
        with store.exclusive("clocks") as after_release:
            assert after_release is True


def test_postgres_store_survives_its_connections_being_killed(fresh_postgres_url: str) -> None:
    with create_store(fresh_postgres_url) as store:
        store.migrate()
        store.commit(BatchWrite(consumer="worker", offsets={("mk.registration", 0): 1}))
        _terminate_connections_to(fresh_postgres_url)
        store.commit(BatchWrite(consumer="worker", offsets={("mk.registration", 0): 2}))
        assert store.tracked_offsets("worker") == {("mk.registration", 0): 2}


def _terminate_connections_to(url: str) -> None:
    target = psycopg_url(make_url(url))
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            killed = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": target.database},
            ).scalar_one()
        assert killed >= 1
    finally:
        admin.dispose()
