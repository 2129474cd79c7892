"""Feeding events into a store exactly as the worker does, without a broker."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from agents.ingest import IngestProcessor
from infra.sites import SiteRegistry
from sinks.persistence import Store
from streams import codec
from streams.events import Event, event_type
from streams.records import SourceRecord
from streams.topics import Topics

TOPICS = Topics("cb")
CONSUMER = "casebus-cb"


def feed(
    store: Store,
    events: Sequence[Event],
    published_at: datetime | None = None,
    *,
    first_offset: int = 0,
) -> None:
    """Process and store `events` in one batch, in the order given, at offsets from
    `first_offset` (a later feed into the same store must start past the earlier ones).

    Each record's broker timestamp is `published_at`, or a minute after its event occurred.
    """
    records = [
        SourceRecord(
            TOPICS.ingest(event_type(event)),
            0,
            offset,
            published_at or event.occurred_at + timedelta(minutes=1),
            event.case_id.encode(),
            codec.encode_event(event),
        )
        for offset, event in enumerate(events, start=first_offset)
    ]
    processor = IngestProcessor(store, TOPICS, SiteRegistry.load(), consumer=CONSUMER)
    processor.commit(processor.process(records))
