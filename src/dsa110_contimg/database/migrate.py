"""Create or upgrade the database schema with Alembic (``contimg db upgrade``)."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

from dsa110_contimg.config import get_settings
from dsa110_contimg.database.session import get_engine

__all__ = ["alembic_config", "current_revision", "upgrade"]

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration for the package's migrations and ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = url or get_settings().database_url
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Upgrade the database at ``url`` (default: configured) to ``revision``."""
    config = alembic_config(url)
    log.debug("upgrading %s to %s", config.attributes["database_url"], revision)
    command.upgrade(config, revision)


def current_revision(url: str | None = None) -> str | None:
    """The revision the database at ``url`` is at (None when never migrated)."""
    with get_engine(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
