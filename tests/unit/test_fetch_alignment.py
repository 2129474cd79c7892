"""The worker's fetch alignment: records of several partitions handed on in broker-time order,
and nothing held back for longer than a partition's own records take to arrive."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from faust.types import TP
from hypothesis import given
from hypothesis import strategies as st

from agents.faust_transport import BrokerTimeOrder
from agents.fetch_alignment import TimeAligner, order_key

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class Rec:
    offset: int
    timestamp: int | None


def log(*timestamps: int) -> list[Rec]:
    return [Rec(offset, ts) for offset, ts in enumerate(timestamps)]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ClientAligner(TimeAligner[str, Rec]):
    """The aligner with a stand-in for the Kafka client: a partition's position moves past
    the records handed over, as the client's does; a test may set it (a seek, a marker)."""

    def __init__(self, highwaters: dict[str, int | None], clock: Clock, **limits: Any) -> None:
        self.positions: dict[str, int] = {}
        super().__init__(highwaters.get, self.positions.get, clock, **limits)

    def add(self, fetched: Mapping[str, Iterable[Rec]]) -> None:
        lists = {p: list(records) for p, records in fetched.items()}
        for p, records in lists.items():
            if records:
                self.positions[p] = records[-1].offset + 1
        super().add(lists)


def aligner(
    highwaters: dict[str, int | None],
    clock: Clock | None = None,
    *,
    hold_max: int = 100,
    release_max: int = 100,
    idle_s: float = 0.5,
) -> ClientAligner:
    return ClientAligner(
        highwaters, clock or Clock(), hold_max=hold_max, release_max=release_max, idle_s=idle_s
    )


def flat(released: dict[str, list[Rec]]) -> list[tuple[str, int]]:
    pairs = [(p, r) for p, records in released.items() for r in records]
    return [(p, r.offset) for p, r in sorted(pairs, key=lambda pr: order_key(*pr))]


def test_records_of_several_partitions_come_out_earliest_first() -> None:
    a = aligner({"reg": 3, "smp": 2})
    a.add({"reg": log(10, 30, 50), "smp": log(20, 40)})
    released = a.release(["reg", "smp"], {"reg", "smp"})
    assert flat(released) == [("reg", 0), ("smp", 0), ("reg", 1), ("smp", 1), ("reg", 2)]
    assert released == {"reg": log(10, 30, 50), "smp": log(20, 40)}


def test_nothing_is_released_while_a_partition_with_unread_records_has_none_fetched() -> None:
    a = aligner({"reg": 5, "smp": 2})
    a.add({"smp": log(20, 40)})
    assert a.release(["reg", "smp"], {"reg", "smp"}) == {}
    assert a.held() == 2
    a.add({"reg": log(10, 30)})
    # Released up to the point where registrations run out again with three still unread.
    assert flat(a.release(["reg", "smp"], {"reg", "smp"})) == [("reg", 0), ("smp", 0), ("reg", 1)]
    assert a.held() == 1


def test_a_partition_at_its_log_end_holds_nothing_back() -> None:
    a = aligner({"reg": 2, "smp": 2, "empty": 0})
    a.add({"reg": log(10, 30), "smp": log(20, 40)})
    assert len(flat(a.release(["empty", "reg", "smp"], {"empty", "reg", "smp"}))) == 4


def test_a_partition_whose_client_position_reached_its_end_holds_nothing_back() -> None:
    # A transaction marker takes the log's last offset: the records end at offset 1, the
    # client's position is past the marker.
    a = aligner({"reg": 3, "smp": 1})
    a.add({"reg": log(10, 30), "smp": log(20)})
    a.positions["reg"] = 3
    assert len(flat(a.release(["reg", "smp"], {"reg", "smp"}))) == 3
    a.add({"smp": [Rec(1, 40)]})
    assert a.release(["reg", "smp"], {"reg", "smp"}) == {"smp": [Rec(1, 40)]}


def test_a_partition_the_client_has_not_read_to_its_end_holds_the_others_back() -> None:
    a = aligner({"reg": 3, "smp": 2})
    a.add({"reg": log(10, 30), "smp": log(20, 40)})
    assert flat(a.release(["reg", "smp"], {"reg", "smp"})) == [("reg", 0), ("smp", 0), ("reg", 1)]


def test_a_partition_that_stays_empty_holds_the_others_back_only_for_idle_seconds() -> None:
    clock = Clock()
    a = aligner({"reg": None, "smp": 3}, clock, idle_s=0.5)
    a.add({"smp": log(20, 40, 60)})
    assert a.release(["reg", "smp"], {"reg", "smp"}) == {}
    clock.now += 0.4
    assert a.release(["reg", "smp"], {"reg", "smp"}) == {}
    clock.now += 0.2
    assert a.release(["reg", "smp"], {"reg", "smp"}) == {"smp": log(20, 40, 60)}


def test_only_partitions_being_fetched_can_hold_the_others_back() -> None:
    a = aligner({"reg": 9, "smp": 2})
    a.add({"smp": log(20, 40)})
    assert a.release(["smp"], {"smp"}) == {"smp": log(20, 40)}


def test_records_of_a_partition_not_deliverable_now_stay_held() -> None:
    a = aligner({"reg": 1, "smp": 1})
    a.add({"reg": log(10), "smp": log(20)})
    assert a.release(["reg", "smp"], {"smp"}) == {"smp": log(20)}
    assert a.release(["reg", "smp"], {"reg", "smp"}) == {"reg": log(10)}


def test_a_release_holds_at_most_release_max_records() -> None:
    a = aligner({"reg": 5}, release_max=2)
    a.add({"reg": log(1, 2, 3, 4, 5)})
    assert [len(a.release(["reg"], {"reg"})["reg"]) for _ in range(3)] == [2, 2, 1]


def test_a_partition_holding_hold_max_records_is_not_fetched() -> None:
    a = aligner({"reg": 9, "smp": 9}, hold_max=2)
    a.add({"reg": log(1, 2), "smp": log(3)})
    assert a.wanted(["reg", "smp", "new"]) == {"smp", "new"}


def test_forgotten_records_are_not_released() -> None:
    a = aligner({"reg": 2, "smp": 1})
    a.add({"reg": log(10, 30), "smp": log(20)})
    a.forget(["reg"])
    a.positions["reg"] = 0  # the client was moved back: reg holds smp back until fetched anew
    assert a.release(["reg", "smp"], {"reg", "smp"}) == {}
    a.forget()
    assert a.held() == 0


def test_a_record_without_a_timestamp_goes_first() -> None:
    a = aligner({"reg": 1, "smp": 1})
    a.add({"reg": log(10), "smp": [Rec(0, None)]})
    assert flat(a.release(["reg", "smp"], {"reg", "smp"})) == [("smp", 0), ("reg", 0)]


partition_logs = st.dictionaries(
    st.sampled_from(["reg", "smp", "qa", "rev"]),
    st.lists(st.integers(0, 50), max_size=30).map(sorted),
    min_size=1,
)


@given(partition_logs, st.lists(st.integers(1, 7), min_size=1, max_size=40), st.data())
def test_every_record_comes_out_once_and_in_broker_time_order(
    logs: dict[str, list[int]], chunk_sizes: list[int], data: st.DataObject
) -> None:
    # Fetches arrive in chunks of any size, for any partition, between releases; the log
    # ends are known. Whatever the interleaving, the records come out exactly as a merge of
    # the partitions by broker time would give them.
    a = aligner({p: len(ts) for p, ts in logs.items()}, release_max=5)
    positions = dict.fromkeys(logs, 0)
    out: list[tuple[str, int]] = []
    for size in chunk_sizes:
        unread = [p for p in logs if positions[p] < len(logs[p])]
        if unread:
            p = data.draw(st.sampled_from(sorted(unread)))
            start = positions[p]
            positions[p] = min(start + size, len(logs[p]))
            chunk = [Rec(o, logs[p][o]) for o in range(start, positions[p])]
            a.add({p: chunk})
        out += flat(a.release(sorted(logs), set(logs)))
    for p, ts in logs.items():
        a.add({p: [Rec(o, ts[o]) for o in range(positions[p], len(ts))]})
    while released := a.release(sorted(logs), set(logs)):
        out += flat(released)
    expected = sorted(
        ((p, o) for p, ts in logs.items() for o in range(len(ts))),
        key=lambda po: order_key(po[0], Rec(po[1], logs[po[0]][po[1]])),
    )
    assert out == expected


def test_the_scheduler_hands_a_fetch_on_in_the_same_order() -> None:
    reg, smp = TP("mk.registration", 0), TP("mk.sample-received", 0)
    records = {smp: log(20, 40), reg: log(10, 40, 50)}
    order = [(tp, r.offset) for tp, r in BrokerTimeOrder().iterate(records)]
    assert order == [(reg, 0), (smp, 0), (reg, 1), (smp, 1), (reg, 2)]
