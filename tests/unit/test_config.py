"""Settings from the environment: the case cache's size is read and checked once, at start."""

from __future__ import annotations

import pytest

from infra.config import MAX_CASE_CACHE, ConfigError, Settings

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
