"""Transactions on a store's engine for the read models beyond the `Store` interface.

The clock table and the dashboard's queries run their own SQL on the store's engine; this turns
driver errors into the store's exceptions at that boundary, as `sinks.sql` does for its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from sinks.errors import StoreError, StoreUnavailable
from sinks.persistence import Store
from sinks.sql import WRITE_TRANSACTION, SqlAlchemyStore


def sql_store(store: Store) -> SqlAlchemyStore:
    """`store` as the SQLAlchemy store every backend is; refuses any other implementation."""
    if not isinstance(store, SqlAlchemyStore):
        raise StoreError(f"{type(store).__name__} has no SQL engine for clocks and dashboards")
    return store


@contextmanager
def transaction(store: Store, operation: str, *, write: bool = False) -> Iterator[Connection]:
    """One transaction on `store`'s engine; raises `StoreUnavailable` or `StoreError`."""
    sql = sql_store(store)
    try:
        with sql.engine.connect() as connection:
            if write:
                connection.execution_options(**{WRITE_TRANSACTION: True})
            with connection.begin():
                yield connection
    except SQLAlchemyError as error:
        why = str(getattr(error, "orig", None) or error).splitlines()[0]
        where = sql.display_url
        if sql.is_unavailable(error):
            raise StoreUnavailable(
                f"{operation} failed: database {where} is unavailable: {why}"
            ) from error
        raise StoreError(f"{operation} failed on {where}: {why}") from error
