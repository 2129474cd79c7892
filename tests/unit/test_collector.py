"""The worker's and replay's garbage-collector settings."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from agents.collector import YOUNG_THRESHOLD, collection_paused, tune_for_batches

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


class _Node:
    """An object in a reference cycle: only the collector frees it."""

    def __init__(self) -> None:
        self.me = self


def _cycle_alive(ref: weakref.ref[_Node]) -> bool:
    return ref() is not None


def _make_cycle() -> weakref.ref[_Node]:
    return weakref.ref(_Node())


@pytest.mark.usefixtures("restored_collector")
def test_no_collection_runs_while_paused_and_the_collector_runs_again_after() -> None:
    gc.enable()
    gc.set_threshold(1)  # without the pause, the next allocation collects
    with collection_paused():
        assert not gc.isenabled()
        cycle = _make_cycle()
        _ = [object() for _ in range(1_000)]
        assert _cycle_alive(cycle)
    assert gc.isenabled()
    _ = [object() for _ in range(1_000)]
    assert not _cycle_alive(cycle)


@pytest.mark.usefixtures("restored_collector")
def test_the_collector_is_enabled_again_when_the_batch_raises() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), collection_paused():
        raise RuntimeError("batch failed")
    assert gc.isenabled()


@pytest.mark.usefixtures("restored_collector")
def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
