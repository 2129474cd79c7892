"""End to end: the real worker sends milestones to a real webhook and to the topic."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from sinks.access import transaction
from sinks.errors import StoreError
from sinks.factory import create_store
from sinks.tables import milestones
from streams.events import Event
from streams.publisher import Publisher
from streams.topics import Topics
from tests.integration.notify_receivers import HttpReceiver, free_port
from tests.integration.worker_harness import (
    read_topic,
    run_cli,
    start_worker,
    stop_worker,
    tail,
    worker_env,
)
from tests.unit.case_events import failed, receipt, registration

pytestmark = pytest.mark.integration

CONFIG = """\
delivery: {base_delay_s: 0.2, max_delay_s: 1, poll_interval_s: 0.2, timeout_s: 2}
subscriptions:
  - name: coordinator
    channel: webhook
    url: URL
    secret_env: HOOK_SECRET
"""


def wait_until(done: Callable[[], bool], what: str, log: Path, deadline_s: float = 120) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen in time:\n{tail(log)}")


def publish(bootstrap: str, topics: Topics, events: list[Event]) -> None:
    with Publisher(bootstrap, topics) as publisher:
        assert all(report.ok for report in publisher.publish_many(events))


def test_worker_refuses_a_bad_subscriptions_file(tmp_path: Path) -> None:
    bad = tmp_path / "notify.yaml"
    bad.write_text("subscriptions:\n  - name: x\n    channel: pager\n")
    env = worker_env("127.0.0.1:1", "tbad", f"sqlite:///{tmp_path / 'db'}", tmp_path)
    result = run_cli({**env, "CASEBUS_NOTIFY_CONFIG": str(bad)}, "worker")
    assert result.returncode != 0
    assert "line 3" in result.stderr and "'pager'" in result.stderr


def test_worker_delivers_each_milestone_once_across_a_restart(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    receiver = HttpReceiver(free_port(), fail_first=2)
    receiver.start()
    config = tmp_path / "notify.yaml"
    config.write_text(CONFIG.replace("URL", receiver.url))
    env = worker_env(kafka_bootstrap, topics.prefix, f"sqlite:///{tmp_path / 'db'}", tmp_path)
    env |= {"CASEBUS_NOTIFY_CONFIG": str(config), "HOOK_SECRET": "s"}
    log = tmp_path / "worker.log"
    try:
        publish(kafka_bootstrap, topics, [registration(), receipt("S-1", minute=1)])
        worker = start_worker(env, log)
        wait_until(lambda: len(receiver.delivered()) == 2, "first deliveries", log)
        stop_worker(worker)
        publish(kafka_bootstrap, topics, [failed("S-1", minute=2)])
        worker = start_worker(env, log)
        wait_until(lambda: len(receiver.delivered()) == 3, "delivery after restart", log)
        time.sleep(1)  # a few more delivery rounds: nothing else may arrive
        stop_worker(worker)
    finally:
        receiver.stop()
    ids = [hit.headers["X-Casebus-Delivery"] for hit in receiver.delivered()]
    assert len(ids) == len(set(ids)) == 3
    on_topic = {record["key"] for _, record in read_topic(kafka_bootstrap, topics.notifications)}
    assert len(on_topic) == 3


def recorded_overdue(database_url: str) -> set[str]:
    store = create_store(database_url)
    query = select(milestones.c.case_id).where(milestones.c.milestone == "OVERDUE")
    try:
        with transaction(store, "reading overdue milestones") as conn:
            return set(conn.execute(query).scalars())
    except StoreError:
        return set()  # the worker has not created the tables yet
    finally:
        store.close()


def test_worker_sweeps_clocks_of_cases_stored_after_its_first_sweep(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'db'}"
    env = worker_env(kafka_bootstrap, topics.prefix, url, tmp_path)
    env |= {"CASEBUS_CLOCK_SWEEP_SECONDS": "0.3"}
    log = tmp_path / "worker.log"
    # Registered in 2024 with no sample since: overdue the moment a sweep sees them.
    publish(kafka_bootstrap, topics, [registration(case="MK-FIRST-1")])
    worker = start_worker(env, log)
    try:
        wait_until(lambda: recorded_overdue(url) == {"MK-FIRST-1"}, "the first sweep", log)
        publish(kafka_bootstrap, topics, [registration(case="MK-LATER-1")])
        # Only a later, incremental sweep can see this case: the worker must have noted it.
        wait_until(
            lambda: recorded_overdue(url) == {"MK-FIRST-1", "MK-LATER-1"}, "a later sweep", log
        )
    finally:
        stop_worker(worker)
