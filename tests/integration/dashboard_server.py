"""A dashboard server on a free port for tests, and a small HTTP client for it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from infra.sites import SiteRegistry
from sinks.dashboard.lag import LagProbe
from sinks.dashboard.server import DashboardServer
from sinks.dashboard.service import Dashboard
from sinks.persistence import Store
from streams.topics import Topics
from tests.integration.feed import CONSUMER, TOPICS

#: A PostgreSQL address where nothing listens: the database that is not reachable.
UNREACHABLE_DATABASE = "postgresql+psycopg://casebus@127.0.0.1:9/casebus?connect_timeout=2"


@contextmanager
def dashboard_server(
    store: Store, bootstrap: str | None = None, topics: Topics = TOPICS
) -> Iterator[DashboardServer]:
    """A dashboard server on `store` (lag from Kafka at `bootstrap`, when given)."""
    probe = None if bootstrap is None else LagProbe(lambda: bootstrap, topics.all_ingest)
    dashboard = Dashboard(store, SiteRegistry.load().codes, CONSUMER, probe)
    server = DashboardServer(("127.0.0.1", 0), dashboard)
    thread = server.start_in_thread()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        if probe is not None:
            probe.close()


@contextmanager
def serving(store: Store, bootstrap: str | None = None, topics: Topics = TOPICS) -> Iterator[str]:
    """The base URL of a dashboard server on `store`."""
    with dashboard_server(store, bootstrap, topics) as server:
        yield server.url


def get(url: str) -> tuple[int, str, bytes]:
    """Status, content type and body of a GET, whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def get_json(url: str) -> tuple[int, Any]:
    status, content_type, body = get(url)
    assert content_type.startswith("application/json")
    return status, json.loads(body)
