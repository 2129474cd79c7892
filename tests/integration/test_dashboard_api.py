"""The dashboard's JSON API and `/metrics` against real stores (and the real broker for lag)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agents.clocks import Targets
from agents.model import CaseStatus
from agents.overdue import ClockSweeper
from sinks.dashboard.lag import CACHE_S
from sinks.factory import create_store
from sinks.persistence import BatchWrite, Store
from streams.publisher import Publisher
from streams.topics import Topics
from tests.integration.dashboard_server import UNREACHABLE_DATABASE, get, get_json, serving
from tests.integration.feed import CONSUMER, feed
from tests.unit.case_events import OTHER_SITE, START, receipt, registration

pytestmark = pytest.mark.integration


@pytest.fixture
def base(store: Store) -> Iterator[str]:
    """A dashboard on a store with four cases, one wrong-site event, an orphan, clocks."""
    feed(
        store,
        [
            registration(case="MK-A-1"),
            registration(case="MK-A-2"),
            registration(case="MK-B-1", site=OTHER_SITE),
            receipt("S-1", minute=5, case="MK-A-2"),
            receipt("S-2", minute=7, case="MK-A-2"),
            receipt("S-3", minute=6, case="MK-B-1", site="MY-SGH"),
            receipt("S-4", minute=8, case="MK-ORPHAN-1"),
        ],
    )
    ClockSweeper(store, Targets()).sweep(START + timedelta(days=15))
    with serving(store) as url:
        yield url


def test_summary_counts_cases_by_status_site_and_overdue(base: str, store: Store) -> None:
    status, summary = get_json(base + "api/summary")
    assert status == 200
    rows = store.status_rows()
    expected = {s.value: 0 for s in CaseStatus} | Counter(r.status.value for r in rows)
    assert summary["by_status"] == expected
    assert summary["by_site"]["MY-SGH"]["REGISTERED"] == 1
    assert summary["by_site"]["MY-SGH"]["SAMPLE_RECEIVED"] == 1
    assert summary["by_site"][OTHER_SITE]["REGISTERED"] == 1
    assert summary["overdue"] == {
        "awaiting_sample": 2,
        "awaiting_qa": 1,
        "awaiting_review": 0,
        "orphan": 1,
    }


def test_summary_counts_dead_letters_by_reason(base: str) -> None:
    _, summary = get_json(base + "api/summary")
    assert summary["dead_letters"]["SITE_MISMATCH"] == 1
    assert summary["dead_letters"]["DECODE_ERROR"] == 0
    assert summary["records"]["consumed"] == 7


def test_summary_lists_overdue_cases_most_overdue_first(base: str) -> None:
    _, summary = get_json(base + "api/summary")
    listed = [(c["case_id"], c["stage"]) for c in summary["overdue_cases"]]
    assert listed[0] == ("MK-ORPHAN-1", "orphan")
    assert set(listed[1:]) == {
        ("MK-A-1", "awaiting_sample"),
        ("MK-B-1", "awaiting_sample"),
        ("MK-A-2", "awaiting_qa"),
    }


def test_cases_of_one_site(base: str) -> None:
    status, rows = get_json(base + "api/cases?site=MY-SGH")
    assert status == 200
    assert [r["case_id"] for r in rows] == ["MK-A-1", "MK-A-2"]
    assert rows[1]["samples_received"] == 2


def test_one_case_with_its_clock(base: str) -> None:
    status, case = get_json(base + "api/cases/MK-A-2")
    assert status == 200
    assert (case["status"], case["clock"]["stage"], case["clock"]["overdue"]) == (
        "SAMPLE_RECEIVED",
        "awaiting_qa",
        True,
    )


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("api/cases?site=XX-NOWHERE", "XX-NOWHERE"),
        ("api/cases/MK-NOBODY-9", "MK-NOBODY-9"),
        ("api/cases/MK-ORPHAN-1", "MK-ORPHAN-1"),
        ("api/nothing", "/api/nothing"),
    ],
)
def test_unknown_site_case_or_path_is_404_with_json_error(base: str, path: str, named: str) -> None:
    status, body = get_json(base + path)
    assert status == 404
    assert named in body["error"]


def test_metrics_parse_and_agree_with_the_store(base: str, store: Store) -> None:
    status, content_type, body = get(base + "metrics")
    assert (status, content_type.split(";")[0]) == (200, "text/plain")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    value = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families.values()
        for s in family.samples
    }
    assert value[("casebus_database_up", ())] == 1
    assert value[("casebus_records_consumed_total", ())] == 7
    assert value[("casebus_records_rejected_total", (("reason", "SITE_MISMATCH"),))] == 1
    assert value[("casebus_overdue_cases", (("stage", "awaiting_sample"),))] == 2
    assert value[("casebus_events_held", ())] == store.stats().held
    assert families["casebus_processing_latency_seconds"].type == "histogram"
    assert value[("casebus_processing_latency_seconds_count", ())] == 7


def test_unreachable_database_is_503_and_metrics_say_so() -> None:
    store = create_store(UNREACHABLE_DATABASE)
    with serving(store) as url:
        for path in ("api/summary", "api/cases", "api/cases/MK-A-1"):
            status, body = get_json(url + path)
            assert status == 503
            assert "not reachable" in body["error"]
        status, _, metrics = get(url + "metrics")
    assert status == 200
    assert "casebus_database_up 0.0" in metrics.decode()
    assert "casebus_records_consumed" not in metrics.decode()


def test_lag_is_log_end_minus_stored_position(
    store: Store, kafka_bootstrap: str, topics: Topics
) -> None:
    events = [registration(case=f"MK-LAG-{n}", minute=0) for n in range(3)]
    with Publisher(kafka_bootstrap, topics, clock=lambda: START) as publisher:
        reports = publisher.publish_many(events)
    with serving(store, kafka_bootstrap, topics) as url:
        _, before = get_json(url + "api/summary")
        stored = {
            (r.topic, r.partition): r.offset
            for r in reports[:2]
            if r.partition is not None and r.offset is not None
        }
        store.commit(BatchWrite(consumer=CONSUMER, offsets=stored))
        time.sleep(CACHE_S)
        _, after = get_json(url + "api/summary")
    assert (before["lag"]["ok"], before["lag"]["total"]) == (True, 3)
    # Each partition of a fresh topic starts at offset 0: up to offset n is n + 1 records.
    assert after["lag"]["total"] == 3 - sum(offset + 1 for offset in stored.values())


def test_unreachable_kafka_leaves_lag_unknown(base: str, store: Store) -> None:
    with serving(store, "127.0.0.1:9") as url:
        _, summary = get_json(url + "api/summary")
    assert summary["lag"]["ok"] is False
    assert "Kafka is not reachable" in summary["lag"]["error"]
