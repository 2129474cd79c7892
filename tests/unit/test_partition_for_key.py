"""Kafka's default partitioner, as the Java client computes it (murmur2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.log_reader import partition_for_key

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("key", "partition"),
    # The Java client's results for 1000 partitions.
    [(b"", 681), (b"a", 524), (b"ab", 434), (b"abc", 107), (b"123456789", 566), (b"\x00 ", 742)],
)
def test_known_java_partitions(key: bytes, partition: int) -> None:
    assert partition_for_key(key, 1000) == partition


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=64))
def test_the_partition_is_in_range(key: bytes, partitions: int) -> None:
    assert 0 <= partition_for_key(key, partitions) < partitions


def test_a_topic_without_partitions_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one partition"):
        partition_for_key(b"CB-1", 0)
