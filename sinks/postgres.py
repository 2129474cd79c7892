"""The store on PostgreSQL: the production target, through psycopg 3.

Connections are checked before use (`pool_pre_ping`), so a restarted server costs one failed
ping, not a failed batch. Multi-statement reads (stats, loading cases) run at REPEATABLE READ
so that they see one snapshot.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Engine, create_engine
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import URL, make_url

from sinks.errors import UnsupportedDatabaseUrl
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
