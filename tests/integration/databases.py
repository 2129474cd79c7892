"""PostgreSQL test databases: each test run or module gets a new, empty one on the test server."""

from __future__ import annotations

import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sinks.postgres import psycopg_url


def create_postgres_database(server_url: str, prefix: str) -> str:
    """Create a database named `prefix` and a random suffix on the server; its URL."""
    server = psycopg_url(make_url(server_url))
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _run_on_server(server_url, f'CREATE DATABASE "{name}"')
    return server.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(server_url: str, database_url: str) -> None:
    """Drop the database of `database_url`, closing any connection still open to it."""
    name = make_url(database_url).database
    _run_on_server(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run_on_server(server_url: str, statement: str) -> None:
    admin = create_engine(psycopg_url(make_url(server_url)), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(statement))
    finally:
        admin.dispose()
