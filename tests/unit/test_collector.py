"""The worker's and replay's garbage-collector settings."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from agents.collector import YOUNG_THRESHOLD, tune_for_batches

pytestmark = pytest.mark.unit


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def _collected(item: object) -> bool:
    """Whether a collection of some generation would walk `item` (frozen ones are skipped)."""
    return any(tracked is item for tracked in gc.get_objects())


@pytest.mark.usefixtures("restored_collector")
def test_tuning_collects_young_objects_less_often_and_freezes_what_start_up_made() -> None:
    gc.unfreeze()
    _, middle, old = gc.get_threshold()
    start_up: list[object] = [[]]  # alive when tuning starts, like a module or the app

    tune_for_batches()
    later: list[object] = [[]]  # made by the loop afterwards

    assert gc.get_threshold() == (YOUNG_THRESHOLD, middle, old)
    assert gc.get_freeze_count() > 0
    assert not _collected(start_up)
    assert _collected(later)
