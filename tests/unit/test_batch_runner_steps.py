"""Long work in steps on the worker's database thread: a batch gets in between two steps, and
other work never gets in between a batch's decision and its commit."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Generator
from typing import cast

import pytest

from agents.ingest import BatchResult, IngestProcessor
from agents.worker import BatchRunner
from sinks.persistence import BatchWrite
from streams.records import SourceRecord

pytestmark = pytest.mark.unit


class _Processor:
    """Stands in for the processor: records when the runner calls it, and in which thread."""

    def __init__(self, order: list[str]) -> None:
        self.order = order

    def process(self, records: list[str]) -> BatchResult:
        self.order.append(f"decide {records[0]}")
        return BatchResult(BatchWrite(consumer="c"), [], [])

    def commit(self, _: BatchResult) -> None:
        self.order.append("commit")

    def forget_cases(self) -> None:
        self.order.append(f"batch in {threading.current_thread().name}")


def _runner(order: list[str], sent: asyncio.Event | None = None) -> BatchRunner:
    """A runner whose batches wait for `sent` (the broker's acknowledgement) if given."""

    async def send(_: object) -> None:
        if sent is not None:
            await sent.wait()

    return BatchRunner(cast(IngestProcessor, _Processor(order)), send)


async def test_work_asked_for_during_a_batch_waits_for_its_commit_then_goes_first() -> None:
    order: list[str] = []
    acknowledged = asyncio.Event()
    runner = _runner(order, acknowledged)
    first = asyncio.create_task(runner.run(cast(list[SourceRecord], ["first"])))
    while not order:  # the first batch is decided and waits for its acknowledgement
        await asyncio.sleep(0.01)
    work = asyncio.create_task(runner.between_batches(order.append, "work"))
    second = asyncio.create_task(runner.run(cast(list[SourceRecord], ["second"])))
    await asyncio.sleep(0.05)
    assert order == ["decide first"]
    acknowledged.set()
    await asyncio.gather(first, work, second)
    assert order == ["decide first", "commit", "work", "decide second", "commit"]
    runner.close()


async def test_work_that_comes_in_during_a_step_runs_before_the_next_step() -> None:
    order: list[str] = []
    first_step_running, go_on = threading.Event(), threading.Event()

    def steps() -> Generator[None, None, str]:
        order.append("step 1")
        first_step_running.set()
        go_on.wait(10)
        yield
        order.append("step 2")
        yield
        return "swept"

    runner = _runner(order)
    stepping = asyncio.create_task(runner.in_steps(steps()))
    assert await asyncio.to_thread(first_step_running.wait, 10)
    batch = asyncio.create_task(runner.forget_cases())
    await asyncio.sleep(0.05)  # the batch is queued behind the running step
    go_on.set()
    await batch
    assert await stepping == "swept"
    assert [entry.split(" in ")[0] for entry in order] == ["step 1", "batch", "step 2"]
    assert order[1].endswith("casebus-store_0")
    runner.close()


async def test_a_step_that_raises_ends_the_steps_with_its_error() -> None:
    def steps() -> Generator[None, None, None]:
        yield
        raise LookupError("the store lost a part")

    runner = _runner([])
    with pytest.raises(LookupError, match="lost a part"):
        await runner.in_steps(steps())
    runner.close()
