"""A case's whole history from the ingest log: every record, what became of it, and the
status after it.

The records of a case are all in one partition of each ingest topic (the partition of its
key), so replaying exactly those records, one per batch, through the worker's own
`IngestProcessor` into a throwaway store gives each record's disposition and the status
after it, as the worker decided them. A record keyed with the case id whose event names
another case is part of the history too (it is rejected for the key mismatch), and so is a
record that no longer decodes.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass
from typing import Final

from agents.ingest import IngestProcessor
from agents.model import Disposition, RejectReason, StatusRow
from agents.replay import IN_MEMORY_URL
from sinks.factory import create_store
from sinks.persistence import Store
from streams import codec
from streams.events import Event
from streams.records import SourceRecord
from streams.topics import Topics

#: How many leading bytes of an undecodable record a timeline shows (as hex).
RAW_PREFIX_BYTES: Final = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One record of the case's history.

    `disposition` is what the record got when it was read; `final_disposition` is what its
    stored event has at the end of the history (a held event may count later), None when
    nothing was stored (duplicates, and records rejected before the case rules).
    """

    record: SourceRecord
    event: Event | None
    decode_error: str | None
    disposition: Disposition
    reason: RejectReason | None
    detail: str | None
    final_disposition: Disposition | None
    final_reason: str | None
    status_after: StatusRow | None

    @property
    def raw_prefix_hex(self) -> str:
        return self.record.value[:RAW_PREFIX_BYTES].hex()


@dataclass(frozen=True, slots=True)
class CaseHistory:
    case_id: str
    entries: tuple[AuditEntry, ...]

    @property
    def derived_status(self) -> StatusRow | None:
        """The status row the history derives (None: the case was never registered)."""
        return self.entries[-1].status_after if self.entries else None


def _decoded(record: SourceRecord) -> tuple[Event | None, str | None]:
    try:
        return codec.decode_event(record.value), None
    except codec.CodecError as error:
        return None, str(error)


def belongs_to_case(record: SourceRecord, case_id: str) -> bool:
    """Whether `record` is part of the case's history: keyed with it, or naming it."""
    if record.key == case_id.encode():
        return True
    event, _ = _decoded(record)
    return event is not None and event.case_id == case_id


def case_history(
    records: Iterable[SourceRecord], case_id: str, topics: Topics, sites: Container[str]
) -> CaseHistory:
    """The history of `case_id` among `records` (given in log order)."""
    mine = [record for record in records if belongs_to_case(record, case_id)]
    with create_store(IN_MEMORY_URL) as store:
        store.migrate()
        return CaseHistory(case_id, tuple(_replay_one_by_one(store, mine, case_id, topics, sites)))


def _replay_one_by_one(
    store: Store,
    records: list[SourceRecord],
    case_id: str,
    topics: Topics,
    sites: Container[str],
) -> list[AuditEntry]:
    processor = IngestProcessor(store, topics, sites, consumer=f"audit-{topics.prefix}")
    status: StatusRow | None = None
    decided = []
    for record in records:
        result = processor.process([record])
        processor.commit(result)
        for _, row in result.status_changes:
            if row.case_id == case_id:
                status = row
        decided.append((result.outcomes[0], status))
    final = {
        (e.topic, e.partition, e.offset): e for e in store.load_cases([case_id])[case_id].events
    }
    entries = []
    for outcome, status_after in decided:
        record = outcome.record
        event, error = _decoded(record)
        stored = final.get((record.topic, record.partition, record.offset))
        entries.append(
            AuditEntry(
                record=record,
                event=event,
                decode_error=error,
                disposition=outcome.disposition,
                reason=outcome.reason,
                detail=outcome.detail,
                final_disposition=stored.disposition if stored else None,
                final_reason=stored.reason if stored else None,
                status_after=status_after,
            )
        )
    return entries
