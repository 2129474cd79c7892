"""Choosing the store by URL, and URL masking; no database is contacted."""

from __future__ import annotations

from pathlib import Path

import pytest

from sinks import postgres, sqlite
from sinks.errors import UnsupportedDatabaseUrl
from sinks.factory import create_store
from sinks.persistence import Stats
from sinks.sql import mask_url

pytestmark = pytest.mark.unit


def test_sqlite_url_gives_the_sqlite_store_without_touching_the_file(tmp_path: Path) -> None:
    path = tmp_path / "casebus.db"
    with create_store(f"sqlite:///{path}") as store:
        assert isinstance(store, sqlite.DatabaseStore)
    assert not path.exists()


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_postgresql_urls_use_psycopg_3(scheme: str) -> None:
    with create_store(f"{scheme}://casebus@db.example:5432/casebus") as store:
        assert isinstance(store, postgres.DatabaseStore)
        assert store.engine.url.drivername == "postgresql+psycopg"


def test_other_postgresql_driver_is_refused() -> None:
    with pytest.raises(UnsupportedDatabaseUrl, match=r"postgresql\+psycopg://"):
        create_store("postgresql+psycopg2://casebus@db.example/casebus")


def test_unknown_database_is_refused() -> None:
    with pytest.raises(UnsupportedDatabaseUrl, match="no store for 'mysql'"):
        create_store("mysql://casebus@db.example/casebus")


def test_unparsable_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(UnsupportedDatabaseUrl) as raised:
        create_store("hunter2 is not a url")
    assert "hunter2" not in str(raised.value)


def test_display_url_masks_the_password() -> None:
    masked = mask_url("postgresql+psycopg://casebus:s3cret@db.example/casebus")
    assert masked == "postgresql+psycopg://casebus:***@db.example/casebus"


def test_stats_json_lists_rejections_by_reason() -> None:
    stats = Stats(consumed=6, accepted=2, held=1, duplicates=1, rejected={"DECODE_ERROR": 2})
    assert stats.to_json() == {
        "consumed": 6,
        "accepted": 2,
        "held": 1,
        "duplicates": 1,
        "rejected": {"DECODE_ERROR": 2},
    }
    assert stats.rejected_total == 2
