"""Fetched records handed on in broker-time order across partitions, as they were appended.

The worker reads four topics. Fetching them independently, a backlog drains at each
partition's own pace: one topic's partition can run minutes of broker time ahead of
another's. A sample then arrives before the registration it belongs to and is held as an
orphan; every case is loaded and decided again once per topic, in a different batch each
time; and an orphan's clock runs against a registration that is already in the log, so a
sweep during a long drain can raise ORPHAN_OVERDUE for a case that is registered, only not
read yet.

`TimeAligner` holds what the fetcher returned per partition and releases it merged by broker
timestamp (as Kafka Streams does for the partitions of a task). It releases a record only
while every partition that has unread records in the log also has fetched ones, so nothing
from later in broker time overtakes what another partition still has to give; a partition
caught up with its log end waits for nothing. A partition that still has none after
`idle_s` (a slow fetch) no longer holds the others back until its records arrive.

Pure bookkeeping: no Kafka here. The worker's consumer (`agents.faust_transport`) fetches
only the partitions `wanted` names, so each partition holds at most about `hold_max` records
beyond the one fetch response the client keeps.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, Final, Generic, Protocol, TypeVar

#: Records held per partition before that partition is fetched no further. With 2,000 the
#: worker's resident size grew by 9.4% over a 1,000,000-event drain, with 500 by 6.9%, and
#: drained as fast (docs/benchmarks.md, change 34).
HOLD_MAX: Final = 500
#: Records released per call: about a fetch's worth.
RELEASE_MAX: Final = 1000
#: Seconds a partition with unread records may hold the others back while none are fetched.
IDLE_S: Final = 0.5


class Record(Protocol):
    @property
    def offset(self) -> int: ...

    @property
    def timestamp(self) -> int | None: ...


P = TypeVar("P")
R = TypeVar("R", bound=Record)


class TimeAligner(Generic[P, R]):
    """Per-partition queues of fetched records, released in broker-time order.

    `highwater(p)` gives the offset after the last one in partition `p`'s log, and
    `position(p)` the offset the client reads `p` from next (past the records it handed over,
    and past transaction markers and compacted gaps, which take offsets without records);
    either None when not known. `clock()` gives the current time in seconds.
    """

    def __init__(
        self,
        highwater: Callable[[P], int | None],
        position: Callable[[P], int | None],
        clock: Callable[[], float],
        *,
        hold_max: int = HOLD_MAX,
        release_max: int = RELEASE_MAX,
        idle_s: float = IDLE_S,
    ) -> None:
        self._highwater = highwater
        self._position = position
        self._clock = clock
        self.hold_max = hold_max
        self.release_max = release_max
        self.idle_s = idle_s
        self._held: dict[P, deque[R]] = {}
        self._idle_since: dict[P, float] = {}

    def held(self) -> int:
        return sum(len(queue) for queue in self._held.values())

    def wanted(self, partitions: Iterable[P]) -> set[P]:
        """Those of `partitions` to fetch: the ones holding fewer than `hold_max` records."""
        return {p for p in partitions if len(self._held.get(p, ())) < self.hold_max}

    def add(self, fetched: Mapping[P, Iterable[R]]) -> None:
        """Hold records just fetched, each partition's in offset order."""
        for partition, records in fetched.items():
            queue = self._held.setdefault(partition, deque())
            before = len(queue)
            queue.extend(records)
            if len(queue) > before:
                self._idle_since.pop(partition, None)

    def forget(self, partitions: Collection[P] | None = None) -> None:
        """Drop what is held of `partitions` (None: of all): their client was moved back to
        an earlier position, or they are no longer assigned."""
        for partition in list(self._held) if partitions is None else partitions:
            self._held.pop(partition, None)
            self._idle_since.pop(partition, None)

    def release(self, active: Collection[P], deliverable: Collection[P]) -> dict[P, list[R]]:
        """Up to `release_max` held records of `deliverable` partitions, the earliest in
        broker time first (`order_key`), each partition's in offset order.

        Only the `active` partitions (the ones being fetched) can hold the others back."""
        now = self._clock()
        if any(not self._held.get(p) and self._waits_on(p, now) for p in active):
            return {}
        heads: list[tuple[tuple[int, Any, int], P]] = [
            (order_key(p, queue[0]), p) for p in deliverable if (queue := self._held.get(p))
        ]
        heapq.heapify(heads)
        released: dict[P, list[R]] = {}
        count = 0
        while heads and count < self.release_max:
            _, partition = heapq.heappop(heads)
            queue = self._held[partition]
            released.setdefault(partition, []).append(queue.popleft())
            count += 1
            if queue:
                heapq.heappush(heads, (order_key(partition, queue[0]), partition))
            elif partition in active and self._waits_on(partition, now):
                break  # its next records may be older than every other head
        return released

    def _waits_on(self, partition: P, now: float) -> bool:
        """Whether `partition`, holding nothing, may have older records still to fetch."""
        highwater = self._highwater(partition)
        if highwater is not None:
            position = self._position(partition)
            if highwater == 0 or (position is not None and position >= highwater):
                return False
        since = self._idle_since.setdefault(partition, now)
        return now - since < self.idle_s


def order_key(partition: Any, record: Record) -> tuple[int, Any, int]:
    """Where `record` of `partition` goes: broker time, then partition, then offset. A record
    without a timestamp cannot be placed in time: it goes first, not held back."""
    timestamp = record.timestamp if record.timestamp is not None else -1
    return (timestamp, partition, record.offset)
