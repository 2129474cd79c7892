"""Creates the contract's topics, with kafka-python's admin client."""

from __future__ import annotations

from typing import Final

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.topics import DEFAULT_PARTITIONS, Topics

# The ingest log is the registry's record, replayed by auditors: it is never deleted.
_KEEP_FOREVER: Final = {"retention.ms": "-1", "retention.bytes": "-1"}


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
                topic_configs=_KEEP_FOREVER if name in topics.all_ingest else {},
            )
            for name in topics.all
            if name not in existing
        ]
        if wanted:
            try:
                admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # another process created them at the same moment
    finally:
        admin.close()
