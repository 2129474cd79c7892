"""Consumer-group offsets kept in line with the store, the worker's source of truth.

The worker commits its tracking offsets to the status database in the same transaction as
the batch; the group's Kafka offsets only say where to resume. Before the worker joins its
group, any committed Kafka offset beyond the store's position is moved back, so that a batch
acknowledged but never stored (a stop in mid-batch) is read again, and a new database is
rebuilt from the start of the log.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping

from kafka import KafkaAdminClient, TopicPartition
from kafka.errors import (
    CoordinatorLoadInProgressError,
    CoordinatorNotAvailableError,
    NotCoordinatorError,
)
from kafka.structs import OffsetAndMetadata


def rewind_group(
    bootstrap: str,
    group: str,
    topics: Collection[str],
    processed: Mapping[tuple[str, int], int],
) -> dict[tuple[str, int], int]:
    """Move `group`'s committed offsets on `topics` back to the store's next offsets.

    `processed` maps (topic, partition) to the last offset the store holds. Returns the
    offsets that were moved back, as (topic, partition) -> new committed offset. The group
    must have no active member, which holds before the worker starts.
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="casebus-rewind")
    try:
        committed = _committed_offsets(admin, group)
        moved: dict[tuple[str, int], int] = {}
        for tp, meta in committed.items():
            if tp.topic not in topics or meta is None or meta.offset < 0:
                continue
            resume = processed.get((tp.topic, tp.partition), -1) + 1
            if meta.offset > resume:
                moved[(tp.topic, tp.partition)] = resume
        if moved:
            admin.alter_group_offsets(
                group,
                {
                    TopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
                    for (topic, partition), offset in moved.items()
                },
            )
        return moved
    finally:
        admin.close()


def _committed_offsets(
    admin: KafkaAdminClient, group: str, timeout_s: float = 60.0
) -> dict[TopicPartition, OffsetAndMetadata]:
    # A new cluster creates its offsets topic, and so its group coordinator, on first use;
    # the coordinator then answers "loading" until it has read that topic.
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            result: dict[TopicPartition, OffsetAndMetadata] = admin.list_group_offsets(
                {group: None}
            ).get(group, {})
            return result
        except (
            CoordinatorNotAvailableError,
            CoordinatorLoadInProgressError,
            NotCoordinatorError,
        ):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
