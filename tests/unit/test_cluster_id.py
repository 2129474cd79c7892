"""Cluster ids for formatting the local Kafka nodes' storage."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.kafka import new_cluster_id

pytestmark = pytest.mark.unit

# 0xF8 encodes to '-' as the first URL-safe base64 character.
LEADING_DASH = bytes([0xF8]) + bytes(15)


def draws(*values: bytes) -> Iterator[bytes]:
    yield from values


def test_an_id_that_would_start_with_a_dash_is_drawn_again() -> None:
    source = draws(LEADING_DASH, bytes(16))
    assert base64.urlsafe_b64encode(LEADING_DASH).startswith(b"-")
    assert new_cluster_id(lambda: next(source)) == "AAAAAAAAAAAAAAAAAAAAAA"


@given(st.binary(min_size=16, max_size=16))
def test_an_id_is_16_bytes_in_url_safe_base64_without_padding(raw: bytes) -> None:
    source = draws(raw, bytes(16))
    found = new_cluster_id(lambda: next(source))
    assert len(found) == 22 and "=" not in found and not found.startswith("-")
    assert base64.urlsafe_b64decode(found + "==") in (raw, bytes(16))
