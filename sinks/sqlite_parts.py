"""Adding up the parts of a split replay: SQLite databases of disjoint cases, into one.

A replay split by partition writes each share of the log into its own database file. Cases
never span two shares when every record is keyed by its case (the partitioner sends a key to
the same partition number of every ingest topic), so the parts hold disjoint rows and adding
them up gives what one replay would have stored. Only two things differ:
- rows numbered by the database (dead letters, outbox entries) are numbered again, part after
  part, in each part's own order;
- counters (consumed, duplicates) are summed.

If the parts do share a case or an event (a record on another partition than its key's, or
one event id used by two cases), adding them up would be wrong: `merge` raises `PartsOverlap`
and stores nothing, and the replay has to run in one piece.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Final
from uuid import UUID

from sqlalchemy import Table

from sinks.errors import StoreError
from sinks.tables import counters, metadata

#: SQLite attaches at most 10 databases unless built otherwise.
MAX_PARTS: Final = 10
#: Page cache while merging (KiB): inserting under random keys into a large index otherwise
#: spills SQLite's default 2 MiB cache over and over (a quarter of the merge time).
MERGE_CACHE_KIB: Final = 128 * 1024


class PartsOverlap(StoreError):
    """Two parts of a split replay hold the same case or event; nothing was merged."""


def merge(connection: sqlite3.Connection, parts: Sequence[Path]) -> None:
    """Add the rows of every database in `parts` to the one `connection` is open on, in one
    transaction. All must be migrated to the same revision. Raises `PartsOverlap` (nothing
    merged) when any two of them, the target included, share a case or an event."""
    if len(parts) > MAX_PARTS:
        raise ValueError(f"at most {MAX_PARTS} parts can be merged at once, not {len(parts)}")
    names = [f"part{index}" for index in range(len(parts))]
    try:
        for name, path in zip(names, parts, strict=True):
            connection.execute(f"ATTACH DATABASE ? AS {name}", (str(path),))
        try:
            _merge_attached(connection, names)
        finally:
            for name in names:
                connection.execute(f"DETACH DATABASE {name}")
    except sqlite3.IntegrityError as error:
        raise PartsOverlap(f"the replay's parts hold the same rows: {error}") from error
    except sqlite3.Error as error:
        raise StoreError(f"merging the replay's parts failed: {error}") from error


def _merge_attached(connection: sqlite3.Connection, names: list[str]) -> None:
    (cache_size,) = connection.execute("PRAGMA main.cache_size").fetchone()
    connection.execute(f"PRAGMA main.cache_size = {-MERGE_CACHE_KIB}")
    in_rollback_journal = _leave_wal(connection)
    try:
        _copy_parts(connection, names)
    finally:
        if in_rollback_journal:
            _return_to_wal(connection)
        # The connection goes back to the store's pool.
        connection.execute(f"PRAGMA main.cache_size = {int(cache_size)}")


def _leave_wal(connection: sqlite3.Connection) -> bool:
    """Put the target in the rollback journal for the merge, if no other connection has it
    open; whether it did.

    A merge writes most of its pages new, at the end of the file. A rollback journal keeps
    only the old pages a transaction changes, so those new pages are written once; in WAL
    each is written to the log and then again into the database at the checkpoint. In a
    200,000-record replay in three jobs the merge took 1.4 to 1.6 s on most runs instead of
    1.9 to 2.3 s (docs/benchmarks.md, change 42). The journal is as safe against a crash as
    the WAL (a hot journal is rolled back when the file next opens), and every connection the
    store opens turns the file back to WAL.
    """
    try:
        (mode,) = connection.execute("PRAGMA main.journal_mode = DELETE").fetchone()
    except sqlite3.OperationalError as error:
        # Another process reads the database: it stays in WAL, which only costs time.
        if "locked" in str(error):
            return False
        raise
    return str(mode).lower() == "delete"


def _return_to_wal(connection: sqlite3.Connection) -> None:
    try:
        connection.execute("PRAGMA main.journal_mode = WAL")
    except sqlite3.OperationalError as error:
        # A reader opened the file after the commit; the next connection the store opens
        # turns it to WAL (`sinks.sqlite._use_wal` waits for the readers).
        if "locked" not in str(error):
            raise


def _copy_parts(connection: sqlite3.Connection, names: list[str]) -> None:
    connection.execute("BEGIN IMMEDIATE")
    try:
        for name in names:
            _refuse_overlap(connection, name)
            for table in metadata.sorted_tables:
                connection.execute(_copy_statement(table, name))
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    else:
        connection.execute("COMMIT")


def _refuse_overlap(connection: sqlite3.Connection, name: str) -> None:
    """Before adding part `name`: none of its events or cases may already be in the target."""
    shared_event = connection.execute(
        f"SELECT p.event_id FROM {name}.events p JOIN main.events m USING (event_id) LIMIT 1"
    ).fetchone()
    if shared_event is not None:
        raise PartsOverlap(
            f"event {_as_uuid(shared_event[0])} is stored by more than one part of the replay: "
            "the log uses one event id for records of different keys"
        )
    shared_case = connection.execute(
        f"SELECT p.case_id FROM {name}.events p "
        f"WHERE EXISTS (SELECT 1 FROM main.events m WHERE m.case_id = p.case_id) LIMIT 1"
    ).fetchone()
    if shared_case is not None:
        raise PartsOverlap(
            f"case {shared_case[0]} has events in more than one part of the replay: "
            "some of its records are not on the partition its key belongs to"
        )


def _as_uuid(stored: object) -> str:
    # SQLite keeps a UUID as 32 hex digits; say it the way events and logs write it.
    try:
        return str(UUID(hex=str(stored)))
    except ValueError:
        return str(stored)


def _copy_statement(table: Table, part: str) -> str:
    if table is counters:
        return (
            f"INSERT INTO main.counters (name, value) SELECT name, value FROM {part}.counters "
            "WHERE true ON CONFLICT (name) DO UPDATE SET value = value + excluded.value"
        )
    numbered = table.autoincrement_column
    columns = ", ".join(f'"{column.name}"' for column in table.columns if column is not numbered)
    # Rows the database numbers keep their order within the part, under new numbers.
    order = f' ORDER BY "{numbered.name}"' if numbered is not None else ""
    return (
        f'INSERT INTO main."{table.name}" ({columns}) '
        f'SELECT {columns} FROM {part}."{table.name}"{order}'
    )
