"""Alembic environment of the status tables.

`sinks.migrate` runs the migrations in code and hands this script an open connection
in `config.attributes["connection"]`. Run from the `alembic` command instead (to write a new
revision), it connects to `sqlalchemy.url` or, when that is unset, `CASEBUS_DATABASE_URL`.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import URL, Connection, create_engine, make_url, pool

from sinks.postgres import DRIVERLESS, psycopg_url
from sinks.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        # SQLite can not ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _database_url() -> URL:
    given = context.config.get_main_option("sqlalchemy.url") or os.environ.get(
        "CASEBUS_DATABASE_URL"
    )
    if not given:
        raise RuntimeError("no database to migrate: set sqlalchemy.url or CASEBUS_DATABASE_URL")
    url = make_url(given)
    # The store speaks psycopg 3 to PostgreSQL; so do migrations run by hand.
    return psycopg_url(url) if url.get_backend_name() in DRIVERLESS else url


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run(connection)
        return
    engine = create_engine(_database_url(), poolclass=pool.NullPool)
    with engine.connect() as own_connection:
        _run(own_connection)
    engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=_database_url(), target_metadata=metadata, literal_binds=True, compare_type=True
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
