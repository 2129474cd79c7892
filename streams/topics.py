"""Topic names and settings of the wire contract.

Every topic name derives from the prefix (`CASEBUS_TOPIC_PREFIX`), so a fresh prefix is a
fresh system. The four ingest topics are all keyed by case id and share one partition count,
so that one case's events of every type live in the same partition number.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Final

from streams.events import EventType

INGEST_SUFFIXES: Final[dict[EventType, str]] = {
    EventType.REGISTRATION: "registration",
    EventType.SAMPLE_RECEIVED: "sample-received",
    EventType.QA_RESULT: "qa-result",
    EventType.REVIEW_COMPLETE: "review-complete",
}

DEFAULT_PARTITIONS: Final = 3


@dataclass(frozen=True, slots=True)
class Topics:
    """The topic names of one casebus system."""

    prefix: str

    def ingest(self, event_type: EventType) -> str:
        return f"{self.prefix}.{INGEST_SUFFIXES[event_type]}"

    @property
    def all_ingest(self) -> tuple[str, ...]:
        return tuple(self.ingest(t) for t in EventType)

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}.dead-letter"

    @property
    def case_status(self) -> str:
        return f"{self.prefix}.case-status"

    @property
    def notifications(self) -> str:
        return f"{self.prefix}.notifications"

    @property
    def all(self) -> tuple[str, ...]:
        return (*self.all_ingest, self.dead_letter, self.case_status, self.notifications)

    def event_type_of(self, topic: str) -> EventType | None:
        """The event type an ingest topic carries, or None for any other topic."""
        return _ingest_types(self.prefix).get(topic)


@cache
def _ingest_types(prefix: str) -> dict[str, EventType]:
    # Asked once per consumed record: the names are built once per prefix, not per record.
    topics = Topics(prefix)
    return {topics.ingest(event_type): event_type for event_type in EventType}
