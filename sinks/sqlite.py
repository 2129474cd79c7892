"""The store on SQLite: the embedded default.

One file, WAL journal (readers such as `casebus status` never block the worker), foreign keys
on, and a busy timeout so that a briefly locked database waits instead of failing. The pool
holds ONE connection: SQLite has a single writer anyway, and one connection keeps the worker's
transactions strictly one after the other. Writing transactions start with BEGIN IMMEDIATE,
so they take the write lock up front instead of failing half-way through on a lock upgrade.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool, StaticPool

from sinks import sqlite_parts
from sinks.errors import StoreError, UnsupportedDatabaseUrl
from sinks.persistence import check_lock_name
from sinks.sql import WRITE_TRANSACTION, DialectInsert, SqlAlchemyStore

#: How long a statement waits for another process's lock before the store reports it.
BUSY_TIMEOUT_SECONDS: Final = 30
#: WAL pages a commit may leave before it copies them back into the database (SQLite's
#: default is 1,000). A batch's inserts under random event ids dirty about one index page
#: each, so at the default nearly every commit ran a checkpoint that wrote the same index
#: pages again; with 10,000 a checkpoint writes each page once for several batches
#: (docs/benchmarks.md, change 38). The WAL file then grows to about 40 MiB.
WAL_AUTOCHECKPOINT_PAGES: Final = 10_000

# These operational errors mean the schema is not what the store expects (not migrated, or
# migrated by another version): retrying would never help.
_SCHEMA_PROBLEMS: Final = ("no such table", "no such column", "has no column named")


class DatabaseStore(SqlAlchemyStore):
    """The status tables in one SQLite file (`sqlite:///PATH`)."""

    def __init__(self, engine: Engine, url: str, insert: Callable[[Table], DialectInsert]) -> None:
        super().__init__(engine, url, insert)
        self._memory_locks: dict[str, threading.Lock] = {}

    @classmethod
    def from_url(cls, url: str) -> DatabaseStore:
        parsed = make_url(url)
        if parsed.drivername not in ("sqlite", "sqlite+pysqlite"):
            raise UnsupportedDatabaseUrl(
                f"SQLite store needs a sqlite:///PATH URL, not {parsed.drivername}://"
            )
        return cls(_engine(parsed), url, insert)

    def is_unavailable(self, error: SQLAlchemyError) -> bool:
        if isinstance(error, OperationalError) and _is_schema_problem(error):
            return False
        return super().is_unavailable(error)

    @property
    def is_file(self) -> bool:
        """Whether the database is a file (other processes can open it), not in memory."""
        return not _in_memory(self.engine.url)

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        # A lock file beside the database: the kernel drops a flock with its holder's file
        # descriptor, so a crashed process never keeps it. An in-memory database belongs to
        # this store alone, so a lock of the store's own does.
        check_lock_name(name)
        if not self.is_file:
            lock = self._memory_locks.setdefault(name, threading.Lock())
            held = lock.acquire(blocking=False)
            try:
                yield held
            finally:
                if held:
                    lock.release()
            return
        path = f"{self.engine.url.database}.{name}.lock"
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise StoreError(f"taking the {name} lock of {self.display_url}: {error}") from error
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(descriptor)  # releases the flock

    def release_connections(self) -> None:
        """Close the pooled connections; the store opens one again when next used."""
        self.engine.dispose()

    def merge_parts(self, parts: Sequence[Path]) -> None:
        """Add the databases of a split replay's other parts to this one, in one transaction;
        `sinks.sqlite_parts.PartsOverlap` if any two share a case or an event."""
        with self._connection("merging the parts of a replay") as connection:
            driver_connection = connection.connection.driver_connection
            assert isinstance(driver_connection, sqlite3.Connection)  # the pysqlite driver
            sqlite_parts.merge(driver_connection, parts)


def _is_schema_problem(error: OperationalError) -> bool:
    message = str(error.orig).lower()
    return any(problem in message for problem in _SCHEMA_PROBLEMS)


def _in_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:")


def _engine(url: URL) -> Engine:
    in_memory = _in_memory(url)
    connect_args = {"timeout": BUSY_TIMEOUT_SECONDS, "check_same_thread": False}
    if in_memory:
        # Every connection to :memory: is a new database: share the one connection.
        engine = create_engine(url, poolclass=StaticPool, connect_args=connect_args)
    else:
        engine = create_engine(
            url,
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=BUSY_TIMEOUT_SECONDS,
            connect_args=connect_args,
        )
    event.listen(engine, "connect", _configure_connection)
    event.listen(engine, "begin", _begin)
    return engine


def _configure_connection(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # The sqlite3 module's own implicit transactions start late and never as IMMEDIATE;
    # turning them off lets `_begin` decide.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.execute("PRAGMA foreign_keys = ON")
        _use_wal(cursor)
        cursor.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
    finally:
        cursor.close()


def _use_wal(cursor: sqlite3.Cursor) -> None:
    # A database still in the rollback journal (a new file) turns to WAL only while no other
    # connection uses it, and SQLite answers "locked" at once there instead of waiting out the
    # busy timeout: workers opening a new database together wait for each other here.
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    delay = 0.01
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def _begin(connection: Connection) -> None:
    writing = connection.get_execution_options().get(WRITE_TRANSACTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")
