"""Long work taken in steps: a generator that yields between steps and returns its result.

The worker takes such work (a clock sweep, a part of its cases per step) on its database
thread one step at a time, so that its batches run between the steps (`BatchRunner.in_steps`).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar, cast

_T = TypeVar("_T")

#: Work in steps that returns a `_T` when its last step is taken.
Steps = Generator[None, None, _T]


def take_step(steps: Steps[_T]) -> tuple[bool, _T | None]:
    """Take the next step of `steps`: (True, the result) when that was the last, else
    (False, None). Returned rather than raised as `StopIteration`, which can not cross an
    executor's future."""
    try:
        next(steps)
    except StopIteration as stop:
        result: _T = stop.value
        return True, result
    return False, None


def run_to_end(steps: Steps[_T]) -> _T:
    """Take every step of `steps`; what it returns."""
    while True:
        done, result = take_step(steps)
        if done:
            return cast(_T, result)  # the result, once the last step is taken
