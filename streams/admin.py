"""Creates the contract's topics, with kafka-python's admin client."""

from __future__ import annotations

import contextlib
from typing import Final

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.topics import DEFAULT_PARTITIONS, Topics

# The ingest log is the registry's record, replayed by auditors: it is never deleted. Its
# timestamps are the broker's append times, so the worker and a later replay judge
# "occurred_at in the future" against the same clock, one no publisher can set.
_INGEST_CONFIG: Final = {
    "retention.ms": "-1",
    "retention.bytes": "-1",
    "message.timestamp.type": "LogAppendTime",
}


def ensure_topics(bootstrap: str, topics: Topics, partitions: int = DEFAULT_PARTITIONS) -> None:
    """Create every topic of the system that does not exist yet; existing ones are kept."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="casebus-admin")
    try:
        replication = min(3, len(admin.describe_cluster()["brokers"]))
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                name,
                partitions,
                replication,
                topic_configs=_INGEST_CONFIG if name in topics.all_ingest else {},
            )
            for name in topics.all
            if name not in existing
        ]
        if wanted:
            # Another process may create them at the same moment.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(wanted)
    finally:
        admin.close()
