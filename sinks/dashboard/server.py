"""The dashboard's HTTP server (standard library): the page, the JSON API and `/metrics`.

Routes (GET only):
- `/`: the page (self-contained: no external scripts, styles or fonts).
- `/api/summary`: counts, turnaround, overdue cases, dead letters, lag.
- `/api/cases` (`?site=SITE`) and `/api/cases/CASE_ID`: status rows.
- `/metrics`: Prometheus text.
An unknown site, case or path answers 404 with a JSON error; a database that does not answer
gives 503 with a JSON error, so nobody mistakes old numbers for current ones.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qs, unquote, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST

from infra.config import Settings
from infra.sites import SiteRegistry
from sinks.dashboard.lag import LagProbe
from sinks.dashboard.page import PAGE
from sinks.dashboard.service import Dashboard, NotFound
from sinks.errors import StoreError
from sinks.factory import create_store
from streams.topics import Topics

log = logging.getLogger("casebus.dashboard")

JSON: Final = "application/json; charset=utf-8"


class DashboardServer(ThreadingHTTPServer):
    """A threaded HTTP server bound to one `Dashboard`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], dashboard: Dashboard) -> None:
        self.dashboard = dashboard
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[0], self.server_address[1]
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"http://{shown!s}:{port}/"

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="casebus-dashboard", daemon=True)
        thread.start()
        return thread


class _Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    server_version = "casebus-dashboard"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        try:
            self._route(url.path, parse_qs(url.query))
        except NotFound as error:
            self._json(HTTPStatus.NOT_FOUND, {"error": str(error)})
        except StoreError as error:
            log.warning("status database did not answer: %s", error)
            self._json(
                HTTPStatus.SERVICE_UNAVAILABLE,
                {"error": f"the status database is not reachable: {error}"},
            )

    def _route(self, path: str, query: dict[str, list[str]]) -> None:
        dashboard = self.server.dashboard
        if path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", PAGE.encode())
        elif path == "/api/summary":
            self._json(HTTPStatus.OK, dashboard.summary())
        elif path == "/api/cases":
            site = query.get("site", [None])[-1]
            self._json(HTTPStatus.OK, dashboard.cases(site))
        elif path.startswith("/api/cases/") and path.count("/") == 3:
            self._json(HTTPStatus.OK, dashboard.case(unquote(path.rsplit("/", 1)[1])))
        elif path == "/metrics":
            self._send(HTTPStatus.OK, CONTENT_TYPE_LATEST, dashboard.metrics())
        else:
            raise NotFound(f"no such page: {path}")

    def _json(self, status: HTTPStatus, body: Any) -> None:
        self._send(status, JSON, json.dumps(body, indent=None).encode())

    def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)


def open_dashboard(settings: Settings) -> Dashboard:
    """The dashboard of the system `settings` names (its database, sites, consumer, Kafka)."""
    topics = Topics(settings.topic_prefix)
    probe = LagProbe(settings.resolve_bootstrap, topics.all_ingest)
    store = create_store(settings.database_url)
    return Dashboard(store, SiteRegistry.load().codes, settings.app_id, probe)


def serve_dashboard(
    settings: Settings, host: str, port: int, on_ready: Callable[[str], None]
) -> None:
    """Serve until SIGTERM or Ctrl-C; `on_ready` gets the address once it listens."""
    dashboard = open_dashboard(settings)
    try:
        server = DashboardServer((host, port), dashboard)
    except OSError as error:
        dashboard.close()
        raise DashboardError(f"cannot listen on {host}:{port}: {error.strerror}") from error
    # shutdown() waits for serve_forever() to return, so it must run on another thread.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    try:
        on_ready(server.url)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        dashboard.close()


class DashboardError(Exception):
    """The dashboard could not start; the message says where and why."""
