"""`create_store`: the store for a database URL, backend chosen by the URL's scheme."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from sinks import postgres, sqlite
from sinks.errors import UnsupportedDatabaseUrl
from sinks.persistence import Store

EXPECTED = "sqlite:///PATH or postgresql+psycopg://USER[:PASSWORD]@HOST[:PORT]/DATABASE"


def create_store(url: str) -> Store:
    """A store for `url`; nothing connects until the first operation.

    `sqlite:///PATH` gives the SQLite store; `postgresql+psycopg://...` (or `postgresql://`,
    mapped to psycopg 3) the PostgreSQL store.
    """
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        # The text is not echoed: it may hold a password.
        raise UnsupportedDatabaseUrl(f"not a database URL; expected {EXPECTED}") from None
    if backend == "sqlite":
        return sqlite.DatabaseStore.from_url(url)
    if backend in postgres.DRIVERLESS:
        return postgres.DatabaseStore.from_url(url)
    raise UnsupportedDatabaseUrl(f"no store for {backend!r} databases; expected {EXPECTED}")
