"""The dashboard page in headless Chromium shows the database's numbers, and says when the
database is out of reach. Screenshots go to `test-output/`.

Chromium is Debian's (`infra/ensure-chromium.sh`), driven by Playwright; Playwright's own
browser downloads are never used.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from agents.clocks import Targets
from agents.overdue import ClockSweeper
from sinks.clock_table import load_clocks
from sinks.factory import create_store
from sinks.persistence import Store
from streams.simulator import plan_traffic
from tests.conftest import REPO
from tests.integration.dashboard_server import UNREACHABLE_DATABASE, dashboard_server, serving
from tests.integration.feed import feed

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OUTPUT = REPO / "test-output"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run infra/ensure-chromium.sh", pytrace=False)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = create_store(f"sqlite:///{tmp_path / 'casebus.db'}")
    store.migrate()
    yield store
    store.close()


def open_page(browser: Browser, url: str) -> Page:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    return page


def test_page_shows_the_counts_in_the_database(browser: Browser, sqlite_store: Store) -> None:
    now = datetime.now(UTC)
    feed(sqlite_store, plan_traffic(120, seed=7, now=now).events, published_at=now)
    ClockSweeper(sqlite_store, Targets()).sweep(now)
    with serving(sqlite_store) as url:
        page = open_page(browser, url)
        page.wait_for_selector("body[data-generated-at]")
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "dashboard.png"), full_page=True)
        shown = page.eval_on_selector_all(
            "td[data-site][data-status]",
            "cells => cells.map(c => [c.dataset.site, c.dataset.status, c.textContent])",
        )
        overdue = page.eval_on_selector_all(
            "[data-overdue]", "tiles => tiles.map(t => [t.dataset.overdue, t.textContent])"
        )
    rows = sqlite_store.status_rows()
    expected = Counter((r.site_id, r.status.value) for r in rows)
    expected.update((r.site_id, "TOTAL") for r in rows)
    expected.update(("ALL", r.status.value) for r in rows)
    expected["ALL", "TOTAL"] = len(rows)
    assert {(site, status): int(text) for site, status, text in shown if text != "0"} == expected
    clocks = Counter(c.stage.value for c in load_clocks(sqlite_store, overdue_only=True))
    assert {stage: int(text) for stage, text in overdue} == {
        stage: clocks[stage] for stage, _ in overdue
    }


def test_page_says_the_database_is_unreachable(browser: Browser) -> None:
    with serving(create_store(UNREACHABLE_DATABASE)) as url:
        page = open_page(browser, url)
        banner = page.wait_for_selector("#banner", state="visible")
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "dashboard-database-down.png"))
        assert banner is not None
        assert "not reachable" in banner.inner_text()
        assert not page.is_visible("#pipeline")


def test_numbers_are_hidden_once_the_database_goes_away(
    browser: Browser, sqlite_store: Store
) -> None:
    now = datetime.now(UTC)
    feed(sqlite_store, plan_traffic(10, seed=3, now=now).events, published_at=now)
    with dashboard_server(sqlite_store) as server:
        page = open_page(browser, server.url)
        page.wait_for_selector("body[data-generated-at]")
        assert page.is_visible("#pipeline")
        server.dashboard.store = create_store(UNREACHABLE_DATABASE)
        page.wait_for_selector("#banner", state="visible", timeout=30_000)
        assert not page.is_visible("#pipeline")
        assert "out of date" in page.inner_text("#banner")
