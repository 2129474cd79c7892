"""The store on PostgreSQL: the production target, through psycopg 3.

Connections are checked before use (`pool_pre_ping`), so a restarted server costs one failed
ping, not a failed batch. Multi-statement reads (stats, loading cases) run at REPEATABLE READ
so that they see one snapshot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from sqlalchemy import Connection, Engine, create_engine, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import URL, make_url

from sinks.errors import UnsupportedDatabaseUrl
from sinks.persistence import check_lock_name
from sinks.sql import SqlAlchemyStore

#: Driver names accepted for PostgreSQL; the ones without a driver are mapped to psycopg 3.
DRIVERLESS: Final = ("postgresql", "postgres")
PSYCOPG: Final = "postgresql+psycopg"

#: Seconds to wait for a connection unless the URL says otherwise (`?connect_timeout=N`).
CONNECT_TIMEOUT_SECONDS: Final = 10


class DatabaseStore(SqlAlchemyStore):
    """The status tables in one PostgreSQL database (`postgresql+psycopg://USER@HOST/DB`)."""

    snapshot_isolation = "REPEATABLE READ"

    @classmethod
    def from_url(cls, url: str) -> DatabaseStore:
        return cls(_engine(psycopg_url(make_url(url))), url, insert)

    def _hold_migration_lock(self, connection: Connection) -> None:
        # Until the transaction ends; a second migrator waits here, then finds the tables.
        connection.execute(select(func.pg_advisory_xact_lock(advisory_key("migrate"))))

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        # A session advisory lock on a connection kept for the block: the server drops it
        # with the session, so a crashed holder never keeps it. The lock is taken and given
        # back outside any open transaction, so the held connection is idle, not idle in
        # a transaction.
        key = advisory_key(check_lock_name(name))
        with self._connection(f"taking the {name} lock") as connection:
            held = bool(connection.execute(select(func.pg_try_advisory_lock(key))).scalar())
            connection.commit()
            try:
                yield held
            finally:
                if held:
                    connection.execute(select(func.pg_advisory_unlock(key)))
                    connection.commit()


def advisory_key(name: str) -> int:
    """The 64-bit advisory lock key of lock `name` (the same in every process)."""
    digest = hashlib.sha256(f"casebus:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def psycopg_url(url: URL) -> URL:
    """`url` with the psycopg 3 driver; refuses other PostgreSQL drivers."""
    if url.drivername in DRIVERLESS:
        return url.set(drivername=PSYCOPG)
    if url.drivername != PSYCOPG:
        raise UnsupportedDatabaseUrl(
            f"PostgreSQL store uses psycopg 3: write the URL as {PSYCOPG}://..., "
            f"not {url.drivername}://"
        )
    return url


def _engine(url: URL) -> Engine:
    connect_args = (
        {} if "connect_timeout" in url.query else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    )
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)
