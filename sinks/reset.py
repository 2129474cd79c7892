"""Finding and dropping the casebus tables of a database, for `casebus replay --force`.

Only the tables casebus owns (those of `sinks.tables` and Alembic's version table) are looked
at or dropped; anything else in the database is left alone.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import MetaData, Table, inspect
from sqlalchemy.exc import SQLAlchemyError

from sinks.errors import StoreError
from sinks.persistence import Store
from sinks.sql import SqlAlchemyStore
from sinks.tables import metadata

ALEMBIC_VERSION_TABLE: Final = "alembic_version"


def _engine_of(store: Store, purpose: str) -> SqlAlchemyStore:
    if not isinstance(store, SqlAlchemyStore):
        raise StoreError(f"{purpose} on {store.display_url}: not an SQL store")
    return store


def existing_tables(store: Store) -> list[str]:
    """The casebus tables that exist in `store`'s database, sorted by name."""
    sql_store = _engine_of(store, "listing tables")
    ours = {*metadata.tables, ALEMBIC_VERSION_TABLE}
    try:
        present = set(inspect(sql_store.engine).get_table_names())
    except SQLAlchemyError as error:
        raise StoreError(f"listing the tables of {store.display_url} failed: {error}") from error
    return sorted(ours & present)


def drop_tables(store: Store) -> None:
    """Drop every casebus table of `store`'s database (with its data); migrate to recreate."""
    sql_store = _engine_of(store, "dropping tables")
    try:
        with sql_store.engine.begin() as connection:
            metadata.drop_all(connection, checkfirst=True)
            Table(ALEMBIC_VERSION_TABLE, MetaData()).drop(connection, checkfirst=True)
    except SQLAlchemyError as error:
        raise StoreError(f"dropping the tables of {store.display_url} failed: {error}") from error
