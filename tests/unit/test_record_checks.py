"""Reading the log back (replay, audit, export) checks record CRCs in C, not in Python."""

from __future__ import annotations

import pytest
from kafka.record import util

pytestmark = pytest.mark.unit


def test_kafka_python_checks_crc32c_with_the_c_implementation() -> None:
    # Without the `crc32c` package kafka-python falls back to a pure-Python CRC, which more
    # than doubles the cost of reading each record.
    assert util.crc32c_c is not None
    assert util.calc_crc32c(b"123456789") == 0xE3069283
