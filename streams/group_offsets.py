"""Consumer-group offsets kept in line with the store, the worker's source of truth.

The worker commits its tracking offsets to the status database in the same transaction as
the batch; the group's Kafka offsets only say where to resume. Before the worker joins its
group, any committed Kafka offset beyond the store's position is moved back, so that a batch
acknowledged but never stored (a stop in mid-batch) is read again, and a new database is
rebuilt from the start of the log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping

from kafka import KafkaAdminClient, TopicPartition
from kafka.errors import (
    CoordinatorLoadInProgressError,
    CoordinatorNotAvailableError,
    KafkaError,
    NoError,
    NotCoordinatorError,
)
from kafka.structs import OffsetAndMetadata


def rewind_group(
    bootstrap: str,
    group: str,
    topics: Collection[str],
    processed: Callable[[], Mapping[tuple[str, int], int]],
) -> dict[tuple[str, int], int]:
    """Move `group`'s committed offsets on `topics` back to the store's next offsets.

    `processed` reads the store: (topic, partition) to the last offset it holds. It is called
    after the group's offsets are read, because other workers of the group may be storing
    and committing meanwhile, the store first: read in this order, a group offset beyond the
    store's is a real gap, never one that a running worker was just closing. Returns the
    offsets that were moved back, as (topic, partition) -> new committed offset. Kafka moves
    a group's offsets only while the group has no active member; with one, a gap is reported
    as `GroupRewindError`.
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="casebus-rewind")
    try:
        committed = _committed_offsets(admin, group)
        stored = processed()
        moved: dict[tuple[str, int], int] = {}
        for tp, meta in committed.items():
            if tp.topic not in topics or meta is None or meta.offset < 0:
                continue
            resume = stored.get((tp.topic, tp.partition), -1) + 1
            if meta.offset > resume:
                moved[(tp.topic, tp.partition)] = resume
        if moved:
            _alter(admin, group, moved)
        return moved
    finally:
        admin.close()


def _alter(admin: KafkaAdminClient, group: str, moved: Mapping[tuple[str, int], int]) -> None:
    offsets = {
        TopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
        for (topic, partition), offset in moved.items()
    }
    try:
        # Kafka answers per partition; a refusal is an error class in the answer, not raised.
        answers = admin.alter_group_offsets(group, offsets)
        refused = sorted(
            {error.__name__ for error in answers.values() if error is not NoError}
            | ({"no answer"} if set(answers) != set(offsets) else set())
        )
    except KafkaError as error:
        refused = [str(error)]
    if refused:
        raise GroupRewindError(
            f"group {group} has read past what the status database holds "
            f"({_positions(moved)}), and Kafka refused to move it back: {', '.join(refused)}. "
            "A group's offsets move only while none of its workers runs: stop every worker, "
            "then start them again."
        )


def group_assignments(bootstrap: str, group: str) -> list[frozenset[tuple[str, int]]] | None:
    """Each member's partitions, as (topic, partition) pairs, once `group` is stable (every
    member has its share); None while it is not, or while the broker has no coordinator yet."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="casebus-group-members")
    try:
        described = admin.describe_groups([group])[group]
    except (CoordinatorNotAvailableError, CoordinatorLoadInProgressError, NotCoordinatorError):
        return None  # a new cluster creates its group coordinator on first use
    finally:
        admin.close()
    if described["group_state"] != "Stable":
        return None
    return [
        frozenset(
            (assigned["topic"], partition)
            for assigned in member["member_assignment"]["assigned_partitions"]
            for partition in assigned["partitions"]
        )
        for member in described["members"]
    ]


class GroupRewindError(Exception):
    """The group's offsets are beyond the store's and could not be moved back."""


def _positions(moved: Mapping[tuple[str, int], int]) -> str:
    return ", ".join(f"{topic}[{p}] to {offset}" for (topic, p), offset in moved.items())


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
