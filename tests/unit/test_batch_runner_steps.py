"""Long work in steps on the worker's database thread: a batch gets in between two steps."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Generator
from typing import cast

import pytest

from agents.ingest import IngestProcessor
from agents.worker import BatchRunner

pytestmark = pytest.mark.unit


class _Processor:
    """Stands in for the processor: records when the runner calls it, and in which thread."""

    def __init__(self, order: list[str]) -> None:
        self.order = order

    def forget_cases(self) -> None:
        self.order.append(f"batch in {threading.current_thread().name}")


def _runner(order: list[str]) -> BatchRunner:
    async def send(_: object) -> None:
        return None

    return BatchRunner(cast(IngestProcessor, _Processor(order)), send)


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
