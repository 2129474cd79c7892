"""Database fixtures: every store test runs on SQLite and on PostgreSQL, each on a fresh database.

PostgreSQL is the server named by `CASEBUS_TEST_POSTGRES_URL` when set, otherwise a throwaway
cluster started from the machine's PostgreSQL binaries (`infra/postgres.py`). When neither is
possible the tests fail with the reason: PostgreSQL is a required backend, never skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.postgres import PostgresError, throwaway_postgres
from sinks.factory import create_store
from sinks.persistence import Store
from tests.integration.databases import create_postgres_database, drop_postgres_database

POSTGRES_URL_VARIABLE = "CASEBUS_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server whose user may create databases."""
    given = os.environ.get(POSTGRES_URL_VARIABLE)
    if given:
        yield given
        return
    try:
        with throwaway_postgres() as url:
            yield url
    except PostgresError as error:
        pytest.fail(
            f"no PostgreSQL for the store tests: set {POSTGRES_URL_VARIABLE}, "
            f"or make a local server startable: {error}",
            pytrace=False,
        )


@pytest.fixture
def fresh_postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A new, empty database on the test server, dropped after the test."""
    url = create_postgres_database(postgres_server_url, "casebus_test")
    yield url
    drop_postgres_database(postgres_server_url, url)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of a fresh, empty database, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'casebus.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A migrated store on a fresh database."""
    created = create_store(store_url)
    created.migrate()
    try:
        yield created
    finally:
        created.close()
