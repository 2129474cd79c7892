"""Splitting a replay: shares of whole partition numbers, how many jobs, and the `--jobs` option."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kafka import TopicPartition

from agents.split_replay import AUTO_MIN_RECORDS, auto_jobs, plan, shares, start_method
from casebus.cli import build_parser
from sinks.factory import create_store
from sinks.sqlite_parts import MAX_PARTS

pytestmark = pytest.mark.unit

TOPICS = ("p.registrations", "p.samples", "p.qa", "p.reviews")


def _ends(partitions: int, topics: tuple[str, ...] = TOPICS) -> dict[TopicPartition, int]:
    return {TopicPartition(t, p): 100 for t in topics for p in range(partitions)}


def test_a_share_holds_the_same_partition_numbers_of_every_topic() -> None:
    split = shares(_ends(3), 2)
    assert split is not None
    assert [sorted({tp.partition for tp in share}) for share in split] == [[0, 2], [1]]
    for share in split:
        for number in {tp.partition for tp in share}:
            assert {tp.topic for tp in share if tp.partition == number} == set(TOPICS)


def test_no_more_shares_than_partition_numbers() -> None:
    split = shares(_ends(3), 8)
    assert split is not None
    assert len(split) == 3


def test_topics_with_different_partition_counts_are_not_split() -> None:
    ends = {**_ends(3, TOPICS[:3]), **_ends(6, TOPICS[3:])}
    assert shares(ends, 2) is None


@given(partitions=st.integers(1, 24), jobs=st.integers(1, MAX_PARTS))
def test_every_partition_is_in_exactly_one_share(partitions: int, jobs: int) -> None:
    ends = _ends(partitions)
    split = shares(ends, jobs)
    assert split is not None
    assert sorted(tp for share in split for tp in share) == sorted(ends)
    assert all(share for share in split)
    numbers = [{tp.partition for tp in share} for share in split]
    assert sum(len(n) for n in numbers) == partitions  # no partition number in two shares


def test_a_small_log_is_replayed_by_one_job() -> None:
    assert auto_jobs(AUTO_MIN_RECORDS - 1, cpus=8) == 1


def test_a_large_log_gets_twice_the_cpus_up_to_the_attach_limit() -> None:
    assert auto_jobs(AUTO_MIN_RECORDS, cpus=2) == 4
    assert auto_jobs(AUTO_MIN_RECORDS, cpus=64) == MAX_PARTS


def test_a_database_in_memory_is_replayed_in_one_process() -> None:
    with create_store("sqlite://") as store:
        reason = plan(store, _ends(3), 3)
    assert reason == "a split replay needs a SQLite database file, not sqlite://"


def test_one_job_asked_for_is_one_process() -> None:
    with create_store("sqlite:///unused.db") as store:
        assert plan(store, _ends(3), 1) == "one job was asked for"


@pytest.mark.parametrize("text", ["0", "11", "two", "-1"])
def test_jobs_outside_one_to_the_limit_are_refused(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["replay", "--database", "sqlite://", "--jobs", text])
    assert exit_info.value.code == 2
    assert f"argument --jobs: give a number of jobs from 1 to {MAX_PARTS}, not '{text}'" in (
        capsys.readouterr().err
    )


def test_jobs_are_forked_from_a_process_with_one_thread() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from agents.split_replay import start_method as m; print(m())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "fork"


def test_jobs_are_spawned_while_another_thread_runs() -> None:
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert start_method() == "spawn"
    finally:
        release.set()
        other.join()
