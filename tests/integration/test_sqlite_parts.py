"""Adding up a split replay's parts (`sinks.sqlite_parts`), on real SQLite files."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from sinks import sqlite
from sinks.factory import create_store
from sinks.persistence import CONSUMED
from sinks.sqlite_parts import PartsOverlap
from tests.integration.test_store import batch, status_row, stored_event

pytestmark = pytest.mark.integration


def _part(path: Path, case_id: str, offset: int) -> Path:
    """A migrated database holding one case's event and status row, and a consumed count."""
    with create_store(f"sqlite:///{path}") as store:
        store.migrate()
        store.commit(
            batch(
                new_events=[stored_event(case_id, offset=offset)],
                status_rows=[status_row(case_id)],
                counter_deltas={CONSUMED: 1},
            )
        )
    return path


@pytest.fixture
def target(tmp_path: Path) -> Iterator[sqlite.DatabaseStore]:
    store = create_store(f"sqlite:///{tmp_path / 'target.db'}")
    assert isinstance(store, sqlite.DatabaseStore)
    with store:
        store.migrate()
        store.commit(batch(new_events=[stored_event("MK-0001")], counter_deltas={CONSUMED: 1}))
        yield store


def _journal_mode(path: str | None) -> str:
    assert path is not None
    # A bare connection: the store's own would turn the file to WAL itself.
    with closing(sqlite3.connect(path)) as connection:
        (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
    return str(mode)


def test_the_parts_are_added_up(target: sqlite.DatabaseStore, tmp_path: Path) -> None:
    parts = [_part(tmp_path / "p1.db", "MK-0002", 1), _part(tmp_path / "p2.db", "MK-0003", 2)]
    target.merge_parts(parts)
    stats = target.stats()
    assert (stats.consumed, stats.accepted) == (3, 3)
    assert target.status_row_count() == 2


def test_the_target_is_in_wal_after_the_merge(target: sqlite.DatabaseStore, tmp_path: Path) -> None:
    target.merge_parts([_part(tmp_path / "p1.db", "MK-0002", 1)])
    assert _journal_mode(target.engine.url.database) == "wal"


def test_a_merge_with_a_reader_on_the_target_still_adds_up(
    target: sqlite.DatabaseStore, tmp_path: Path
) -> None:
    """A reader keeps the target in WAL for the merge; the merge still commits."""
    database = target.engine.url.database
    assert database is not None
    reader = sqlite3.connect(database)
    try:
        assert reader.execute("SELECT count(*) FROM events").fetchone() == (1,)
        target.merge_parts([_part(tmp_path / "p1.db", "MK-0002", 1)])
        assert reader.execute("SELECT count(*) FROM events").fetchone() == (2,)
    finally:
        reader.close()
    assert _journal_mode(database) == "wal"


def test_an_overlapping_part_leaves_the_target_as_it_was_and_in_wal(
    target: sqlite.DatabaseStore, tmp_path: Path
) -> None:
    clashing = _part(tmp_path / "p1.db", "MK-0001", 7)
    with pytest.raises(PartsOverlap, match="case MK-0001 has events in more than one part"):
        target.merge_parts([clashing])
    assert target.stats().consumed == 1
    assert _journal_mode(target.engine.url.database) == "wal"
