"""Fixtures shared by every test: a real Kafka broker and a fresh topic prefix per test.

The broker is the one named by `CASEBUS_KAFKA_BOOTSTRAP` when that is set; otherwise a
one-node cluster is started for the session under a temporary home, using the repository's
jar cache, and stopped at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.topics import Topics

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("CASEBUS_KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    from infra.kafka import LocalCluster

    cluster = LocalCluster(
        tmp_path_factory.mktemp("kafka-home"), jar_cache=REPO / ".casebus" / "jars"
    )
    bootstrap = cluster.up(1)
    try:
        yield bootstrap
    finally:
        cluster.down()


@pytest.fixture
def topic_prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def topics(kafka_bootstrap: str, topic_prefix: str) -> Topics:
    """A fresh system: its own prefix, so its own topics and consumer group."""
    from streams.admin import ensure_topics

    system = Topics(topic_prefix)
    ensure_topics(kafka_bootstrap, system)
    return system
