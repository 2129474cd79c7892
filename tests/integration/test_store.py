"""The status-table store, on SQLite and on PostgreSQL (see `conftest.py`): one suite, both."""

from __future__ import annotations

import functools
import hashlib
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from uuid import uuid4

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from agents.model import CaseStatus, Disposition, RejectReason, StatusRow
from infra.postgres import free_port
from sinks.errors import StoreError, StoreIntegrityError, StoreNotEmpty, StoreUnavailable
from sinks.factory import create_store
from sinks.persistence import (
    CONSUMED,
    DUPLICATES,
    BatchWrite,
    DeadLetterEntry,
    DispositionChange,
    Store,
    StoredEvent,
)
from sinks.sql import SqlAlchemyStore
from sinks.tables import metadata
from streams.events import CancerType, EventType

pytestmark = pytest.mark.integration

CONSUMER = "casebus-test"
T0 = datetime(2026, 3, 1, 8, 30, 15, 123000, tzinfo=UTC)
BANGKOK = timezone(timedelta(hours=7))


def stored_event(
    case_id: str = "MK-0001",
    *,
    offset: int = 0,
    event_type: EventType = EventType.REGISTRATION,
    disposition: Disposition = Disposition.ACCEPTED,
    site_id: str = "MY-SGH",
    occurred_at: datetime = T0,
    reason: str | None = None,
) -> StoredEvent:
    event_id = uuid4()
    raw = b"\xc3\x01" + event_id.bytes + bytes(range(256))
    return StoredEvent(
        event_id=event_id,
        case_id=case_id,
        event_type=event_type,
        site_id=site_id,
        occurred_at=occurred_at,
        disposition=disposition,
        reason=reason,
        content_digest=hashlib.sha256(raw).hexdigest(),
        topic=f"mk.{event_type.value}",
        partition=1,
        offset=offset,
        broker_timestamp=occurred_at + timedelta(milliseconds=5),
        raw=raw,
        key=case_id.encode(),
    )


def status_row(
    case_id: str = "MK-0001",
    *,
    site_id: str = "MY-SGH",
    status: CaseStatus = CaseStatus.REGISTERED,
    samples: int = 0,
) -> StatusRow:
    return StatusRow(
        case_id=case_id,
        site_id=site_id,
        cancer_type=CancerType.GIST,
        status=status,
        registered_at=T0,
        first_sample_received_at=T0 + timedelta(days=2) if samples else None,
        qa_passed_at=None,
        review_completed_at=None,
        samples_received=samples,
        qa_failures=0,
    )


def dead_letter(offset: int, reason: RejectReason = RejectReason.DECODE_ERROR) -> DeadLetterEntry:
    return DeadLetterEntry(
        topic="mk.registration",
        partition=0,
        offset=offset,
        reason=reason,
        detail=f"record at offset {offset} is not single-object Avro",
        dead_letter_partition=0,
        dead_letter_offset=offset,
    )


batch = functools.partial(BatchWrite, consumer=CONSUMER)


# -- schema ---------------------------------------------------------------------------------


def test_migrate_creates_every_table(store: Store) -> None:
    assert isinstance(store, SqlAlchemyStore)
    tables = set(inspect(store.engine).get_table_names())
    assert {"case_status", "events", "tracking", "dead_letters", "counters"} <= tables


def test_migrated_schema_matches_table_metadata(store: Store) -> None:
    assert isinstance(store, SqlAlchemyStore)
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_migrate_twice_keeps_the_data(store: Store) -> None:
    store.commit(batch(new_events=[stored_event()]))
    store.migrate()
    assert not store.is_empty()


_MIGRATE_AT = """
import sys, time
from sinks.factory import create_store
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
with create_store(sys.argv[1]) as store:
    store.migrate()
"""


def test_workers_starting_together_on_a_new_database_all_migrate_it(store_url: str) -> None:
    at = str(time.time() + 3)  # the same moment for every process, once each has imported
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _MIGRATE_AT, store_url, at],
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parents[2],
        )
        for _ in range(3)
    ]
    failures = [w.stderr.read() for w in workers if w.wait(timeout=120) != 0 and w.stderr]
    assert failures == []
    with create_store(store_url) as store:
        assert store.is_empty()


def test_unmigrated_database_is_a_store_error_not_unavailability(store_url: str) -> None:
    with create_store(store_url) as unmigrated, pytest.raises(StoreError) as raised:
        unmigrated.is_empty()
    assert not isinstance(raised.value, StoreUnavailable)


# -- emptiness ------------------------------------------------------------------------------


def test_fresh_database_is_empty(store: Store) -> None:
    assert store.is_empty()
    store.ensure_empty("replay")


def test_database_with_a_status_row_is_not_empty(store: Store) -> None:
    store.commit(batch(status_rows=[status_row()]))
    assert not store.is_empty()
    with pytest.raises(StoreNotEmpty, match="replay needs an empty database"):
        store.ensure_empty("replay")


# -- round trips ----------------------------------------------------------------------------


def test_commit_then_load_round_trips_every_event_field(store: Store) -> None:
    event = stored_event(occurred_at=datetime(2026, 3, 1, 15, 0, 0, 1000, tzinfo=BANGKOK))
    keyless = stored_event("MK-0002", offset=1, disposition=Disposition.HELD, reason="orphan")
    keyless = keyless._replace(key=None, broker_timestamp=None)
    store.commit(batch(new_events=[event, keyless]))

    loaded = store.load_cases(["MK-0001", "MK-0002"])

    assert loaded["MK-0001"].events == (event,)
    assert loaded["MK-0002"].events == (keyless,)
    assert loaded["MK-0001"].events[0].occurred_at.tzinfo == UTC


def test_commit_then_load_round_trips_the_status_row(store: Store) -> None:
    row = status_row(status=CaseStatus.SAMPLE_RECEIVED, samples=2)
    store.commit(batch(status_rows=[row]))

    loaded = store.load_cases(["MK-0001"])["MK-0001"].status

    assert loaded == row
    assert loaded is not None and loaded.registered_at.tzinfo == UTC


def test_load_cases_orders_events_by_order_key(store: Store) -> None:
    later = stored_event(offset=0, occurred_at=T0 + timedelta(hours=1))
    earlier = stored_event(offset=1, occurred_at=T0)
    store.commit(batch(new_events=[later, earlier]))

    events = store.load_cases(["MK-0001"])["MK-0001"].events

    assert [event.event_id for event in events] == [earlier.event_id, later.event_id]


def test_load_cases_gives_an_empty_record_for_an_unknown_case(store: Store) -> None:
    record = store.load_cases(["MK-9999"])["MK-9999"]
    assert (record.events, record.status) == ((), None)


def test_known_digests_gives_only_stored_events(store: Store) -> None:
    event = stored_event()
    store.commit(batch(new_events=[event]))
    assert store.known_digests([event.event_id, uuid4()]) == {event.event_id: event.content_digest}


def test_raw_events_gives_the_stored_bytes_of_only_stored_events(store: Store) -> None:
    event = stored_event()
    store.commit(batch(new_events=[event]))
    assert store.raw_events([event.event_id, uuid4()]) == {event.event_id: event.raw}


def test_read_for_batch_gives_what_the_three_reads_give(store: Store) -> None:
    event = stored_event(occurred_at=T0)
    held = stored_event("MK-0002", offset=1, disposition=Disposition.HELD, reason="orphan")
    store.commit(
        batch(
            new_events=[event, held],
            status_rows=[status_row()],
            offsets={("mk.registration", 0): 1},
        )
    )
    event_ids = [event.event_id, uuid4()]
    case_ids = ["MK-0001", "MK-0002", "MK-9999"]

    reads = store.read_for_batch(CONSUMER, event_ids, case_ids)

    assert reads.tracked == store.tracked_offsets(CONSUMER) == {("mk.registration", 0): 1}
    assert reads.digests == store.known_digests(event_ids) == {event.event_id: event.content_digest}
    assert reads.cases == store.load_cases(case_ids)
    assert reads.cases["MK-0002"].events == (held,)


def test_read_for_batch_of_nothing_still_gives_the_tracked_offsets(store: Store) -> None:
    store.commit(batch(offsets={("mk.qa-result", 3): 12}))

    reads = store.read_for_batch(CONSUMER, [], [])

    assert (reads.tracked, reads.digests, reads.cases) == ({("mk.qa-result", 3): 12}, {}, {})


def test_naive_datetime_is_refused(store: Store) -> None:
    naive = stored_event()._replace(occurred_at=datetime(2026, 3, 1))
    with pytest.raises(StoreError, match="naive datetime"):
        store.commit(batch(new_events=[naive]))


# -- updates --------------------------------------------------------------------------------


def test_disposition_change_updates_the_stored_event(store: Store) -> None:
    held = stored_event(disposition=Disposition.HELD, reason="waiting for registration")
    store.commit(batch(new_events=[held]))
    change = DispositionChange(
        event_id=held.event_id, disposition=Disposition.ACCEPTED, reason=None
    )
    store.commit(batch(disposition_changes=[change]))

    (loaded,) = store.load_cases(["MK-0001"])["MK-0001"].events

    assert (loaded.disposition, loaded.reason) == (Disposition.ACCEPTED, None)


def test_disposition_change_of_an_unstored_event_is_refused(store: Store) -> None:
    change = DispositionChange(event_id=uuid4(), disposition=Disposition.ACCEPTED, reason=None)
    with pytest.raises(StoreIntegrityError, match="not stored"):
        store.commit(batch(disposition_changes=[change], counter_deltas={CONSUMED: 1}))
    assert store.stats().consumed == 0


def test_status_row_upsert_replaces_the_row(store: Store) -> None:
    store.commit(batch(status_rows=[status_row()]))
    newer = status_row(status=CaseStatus.SAMPLE_RECEIVED, samples=1)
    store.commit(batch(status_rows=[newer]))
    assert store.status_rows() == [newer]


def test_tracking_only_moves_forward(store: Store) -> None:
    store.commit(batch(offsets={("mk.registration", 0): 10, ("mk.qa-result", 2): 4}))
    store.commit(batch(offsets={("mk.registration", 0): 7, ("mk.qa-result", 2): 5}))
    assert store.tracked_offsets(CONSUMER) == {
        ("mk.registration", 0): 10,
        ("mk.qa-result", 2): 5,
    }


def test_tracking_is_kept_per_consumer(store: Store) -> None:
    store.commit(batch(offsets={("mk.registration", 0): 10}))
    assert store.tracked_offsets("another-consumer") == {}


def test_dead_letter_index_row_is_not_doubled_by_a_rerun(store: Store) -> None:
    store.commit(batch(dead_letters=[dead_letter(3)]))
    store.commit(batch(dead_letters=[dead_letter(3), dead_letter(4)]))
    assert store.stats().rejected[RejectReason.DECODE_ERROR] == 2


def test_counters_add_up_over_batches(store: Store) -> None:
    store.commit(batch(counter_deltas={CONSUMED: 5, DUPLICATES: 1}))
    store.commit(batch(counter_deltas={CONSUMED: 3, DUPLICATES: 0}))
    stats = store.stats()
    assert (stats.consumed, stats.duplicates) == (8, 1)


# -- atomicity ------------------------------------------------------------------------------


def test_duplicate_event_id_fails_the_whole_batch(store: Store) -> None:
    first = stored_event()
    store.commit(batch(new_events=[first], offsets={("mk.registration", 1): 0}))
    again = first._replace(offset=9)
    newcomer = stored_event("MK-0002", offset=8)
    doomed = batch(
        new_events=[newcomer, again],
        status_rows=[status_row("MK-0002")],
        dead_letters=[dead_letter(7)],
        counter_deltas={CONSUMED: 3},
        offsets={("mk.registration", 1): 9},
    )

    with pytest.raises(StoreIntegrityError, match="nothing stored"):
        store.commit(doomed)

    assert store.known_digests([newcomer.event_id]) == {}
    assert store.status_rows() == []
    assert store.stats().consumed == 0
    assert store.stats().rejected_total == 0
    assert store.tracked_offsets(CONSUMER) == {("mk.registration", 1): 0}


# -- CLI reads ------------------------------------------------------------------------------


def test_stats_json_has_the_documented_shape(store: Store) -> None:
    held = stored_event("MK-0002", offset=1, disposition=Disposition.HELD)
    rejected = stored_event("MK-0003", offset=2, disposition=Disposition.REJECTED)
    store.commit(
        batch(
            new_events=[stored_event(offset=0), held, rejected],
            dead_letters=[dead_letter(2, RejectReason.SITE_MISMATCH), dead_letter(5)],
            counter_deltas={CONSUMED: 5, DUPLICATES: 1},
        )
    )
    rejected_counts = {reason.value: 0 for reason in RejectReason}
    rejected_counts |= {"SITE_MISMATCH": 1, "DECODE_ERROR": 1}
    assert store.stats().to_json() == {
        "consumed": 5,
        "accepted": 1,
        "held": 1,
        "duplicates": 1,
        "rejected": rejected_counts,
    }


def test_status_rows_filter_by_case_and_site(store: Store) -> None:
    sgh_1, sgh_2 = status_row("MK-0001"), status_row("MK-0002")
    rama = status_row("MK-0003", site_id="TH-RAMA")
    store.commit(batch(status_rows=[rama, sgh_2, sgh_1]))

    assert store.status_rows() == [sgh_1, sgh_2, rama]
    assert store.status_rows(case_id="MK-0002") == [sgh_2]
    assert store.status_rows(site_id="TH-RAMA") == [rama]
    assert store.status_rows(case_id="MK-0002", site_id="TH-RAMA") == []


def test_status_row_count_counts_each_case_once(store: Store) -> None:
    assert store.status_row_count() == 0
    store.commit(batch(status_rows=[status_row("MK-0001"), status_row("MK-0002")]))
    store.commit(batch(status_rows=[status_row("MK-0002", site_id="TH-RAMA")]))

    assert store.status_row_count() == 2


def test_orphans_are_held_events_of_unregistered_cases(store: Store) -> None:
    orphan = stored_event(
        "MK-0002", offset=1, event_type=EventType.SAMPLE_RECEIVED, disposition=Disposition.HELD
    )
    held_of_registered = stored_event(
        "MK-0001", offset=2, event_type=EventType.QA_RESULT, disposition=Disposition.HELD
    )
    store.commit(
        batch(
            new_events=[stored_event(offset=0), orphan, held_of_registered],
            status_rows=[status_row("MK-0001")],
        )
    )
    assert store.orphans() == [orphan]


# -- locks between processes ----------------------------------------------------------------


@pytest.fixture
def other(store_url: str, store: Store) -> Iterator[Store]:
    """A second store on the same database, as another worker process would hold."""
    with create_store(store_url) as second:
        yield second


def test_a_lock_has_one_holder_at_a_time(store: Store, other: Store) -> None:
    with store.exclusive("clocks") as first:
        with other.exclusive("clocks") as second:
            assert (first, second) == (True, False)
        with store.exclusive("clocks") as again_here:
            assert again_here is False
    with other.exclusive("clocks") as after_release:
        assert after_release is True


def test_locks_of_different_names_do_not_exclude_each_other(store: Store, other: Store) -> None:
    with store.exclusive("clocks") as clocks, other.exclusive("delivery") as delivery:
        assert (clocks, delivery) == (True, True)


def test_a_lock_is_released_when_its_block_raises(store: Store, other: Store) -> None:
    with pytest.raises(RuntimeError), store.exclusive("clocks"):
        raise RuntimeError("the sweep failed")
    with other.exclusive("clocks") as held:
        assert held is True


_HOLD_LOCK = """
import sys, time
from sinks.factory import create_store
with create_store(sys.argv[1]).exclusive("clocks") as held:
    print("held" if held else "refused", flush=True)
    time.sleep(600)
"""


def test_a_killed_holder_does_not_keep_its_lock(store_url: str, other: Store) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, store_url],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with other.exclusive("clocks") as while_alive:
            assert while_alive is False
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + 10
    while True:
        with other.exclusive("clocks") as after_kill:
            if after_kill:
                break
        assert time.monotonic() < deadline, "the lock was still held 10 s after its holder died"
        time.sleep(0.1)


@pytest.mark.parametrize("name", ["", "Clocks", "../clocks", "clocks lock", "x" * 41])
def test_a_lock_name_that_could_not_be_a_file_name_part_is_refused(store: Store, name: str) -> None:
    with pytest.raises(ValueError, match="lock name"), store.exclusive(name):
        pass


# -- unreachable databases ------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def unreachable_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'missing-directory' / 'casebus.db'}"
    return f"postgresql://casebus:s3cret@127.0.0.1:{free_port()}/casebus"


def test_unreachable_database_raises_store_unavailable(unreachable_url: str) -> None:
    with create_store(unreachable_url) as unreachable, pytest.raises(StoreUnavailable) as raised:
        unreachable.migrate()
    message = str(raised.value)
    assert "migrating the status tables failed" in message
    assert "is unavailable" in message
    assert "s3cret" not in message
