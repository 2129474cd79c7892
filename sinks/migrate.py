"""Runs the Alembic migrations in `sinks/migrations/` from code: no alembic.ini needed."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the status tables; `env.py` migrates `connection` if given."""
    config = Config()
    # Config options go through ConfigParser interpolation, so a literal % must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def upgrade_to_head(connection: Connection) -> None:
    """Apply every migration not yet applied to the database behind `connection`."""
    command.upgrade(alembic_config(connection), "head")
