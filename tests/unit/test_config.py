"""Settings from the environment: the case cache's size and the batch cap are read and
checked once, at start."""

from __future__ import annotations

import pytest

from infra.config import DEFAULT_BATCH_MAX, MAX_BATCH_MAX, MAX_CASE_CACHE, ConfigError, Settings

pytestmark = pytest.mark.unit


def test_the_worker_caches_no_cases_unless_asked() -> None:
    assert Settings.from_env({}).case_cache == 0


@pytest.mark.parametrize(("text", "cases"), [("0", 0), ("10000", 10_000), (" 2500 ", 2_500)])
def test_a_case_cache_size_is_read(text: str, cases: int) -> None:
    assert Settings.from_env({"CASEBUS_CASE_CACHE": text}).case_cache == cases


@pytest.mark.parametrize("text", ["-1", "ten", "1e4", str(MAX_CASE_CACHE + 1)])
def test_a_bad_case_cache_size_names_the_variable_and_the_range(text: str) -> None:
    with pytest.raises(ConfigError, match=r"CASEBUS_CASE_CACHE='.+': give a number of cases"):
        Settings.from_env({"CASEBUS_CASE_CACHE": text})


def test_batches_hold_up_to_a_thousand_events_unless_asked() -> None:
    assert Settings.from_env({}).batch_max == DEFAULT_BATCH_MAX == 1000


@pytest.mark.parametrize(("text", "events"), [("1", 1), ("5000", 5_000), (" 4000 ", 4_000)])
def test_a_batch_cap_is_read(text: str, events: int) -> None:
    assert Settings.from_env({"CASEBUS_BATCH_MAX": text}).batch_max == events


@pytest.mark.parametrize("text", ["0", "-5", "many", "5e3", str(MAX_BATCH_MAX + 1)])
def test_a_bad_batch_cap_names_the_variable_and_the_range(text: str) -> None:
    with pytest.raises(
        ConfigError, match=r"CASEBUS_BATCH_MAX='.+': give a number of events from 1"
    ):
        Settings.from_env({"CASEBUS_BATCH_MAX": text})
