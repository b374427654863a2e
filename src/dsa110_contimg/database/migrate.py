"""Create or upgrade the database schema with Alembic (``contimg db upgrade``).

A failed upgrade changes nothing and can simply be run again:

* an existing SQLite file is first copied beside itself
  (``<file>.pre-upgrade-<revision>-<time>.bak``, kept) and, should any step fail, that copy is
  restored; ``dry_run`` upgrades a temporary copy and reports what would happen;
* a PostgreSQL database is upgraded in one transaction (PostgreSQL's DDL is transactional:
  the renaming of original tables, every migration and the mapping of legacy measurements
  commit together or not at all); ``dry_run`` runs that transaction and rolls it back.

A products database left by the original DSA-110 code has its clashing ``photometry`` table set
aside as ``legacy_photometry`` before the migrations run, and its measurements mapped into the
new schema afterwards (`dsa110_contimg.database.legacy`); a dry run reports that mapping's
counts on either database.
"""

from __future__ import annotations

import logging
import sqlite3
import tempfile
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from dsa110_contimg.config import get_settings
from dsa110_contimg.database.legacy import (
    legacy_tables,
    migrate_legacy_photometry,
    set_aside_legacy_tables,
)
from dsa110_contimg.database.session import get_engine
from dsa110_contimg.errors import InputError

__all__ = ["UpgradeReport", "alembic_config", "current_revision", "upgrade"]

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


@dataclass
class UpgradeReport:
    """What an upgrade did (with ``dry_run``: would do).

    ``legacy_tables`` are the original DSA-110 tables found with their row counts, ``renamed``
    the ones set aside, ``legacy_photometry`` the outcome of mapping their measurements
    (``migrated`` or ``unmapped: <reason>`` → rows), ``backup`` the copy made first.
    """

    revision_before: str | None
    revision_after: str | None
    legacy_tables: dict[str, int] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)
    legacy_photometry: dict[str, int] = field(default_factory=dict)
    backup: Path | None = None
    dry_run: bool = False


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration for the package's migrations and ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = url or get_settings().database_url
    return config


def upgrade(
    url: str | None = None,
    revision: str = "head",
    *,
    dry_run: bool = False,
    map_legacy: bool = False,
) -> UpgradeReport:
    """Upgrade the database at ``url`` (default: configured) to ``revision``.

    Parameters
    ----------
    url : str, optional
        Database URL.
    revision : str
        Target revision.
    dry_run : bool
        Report what would happen and change nothing: an SQLite file's temporary copy is
        upgraded; on PostgreSQL the upgrade's transaction (schema and mapping of legacy
        measurements) is rolled back.
    map_legacy : bool
        Try to map legacy measurements not yet mapped even when the schema is already current
        (``contimg db upgrade`` does; services starting do not).

    Raises
    ------
    InputError
        ``dry_run`` on an SQLite database that is not an existing file.
    """
    url = url or get_settings().database_url
    path = _sqlite_file(url)
    if path is None and make_url(url).get_backend_name() != "sqlite":
        return _upgrade_in_one_transaction(url, revision, commit=not dry_run, map_legacy=map_legacy)
    if dry_run:
        if path is None or not path.is_file():
            raise InputError(
                "--dry-run needs an existing SQLite database file (it upgrades a "
                "copy) or a PostgreSQL database"
            )
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / path.name
            _copy_sqlite(path, copy)
            copy_url = f"sqlite:///{copy}"
            try:
                report = upgrade(copy_url, revision, map_legacy=True)
            finally:
                get_engine(copy_url).dispose()
            return replace(report, backup=None, dry_run=True)
    config = alembic_config(url)
    before = current_revision(url)
    target = (
        ScriptDirectory.from_config(config).get_current_head() if revision == "head" else revision
    )
    with get_engine(url).connect() as conn:
        found = legacy_tables(conn)
    changing = before != target
    backup = None
    if changing and path is not None and path.is_file() and path.stat().st_size > 0:
        backup = path.with_name(
            f"{path.name}.pre-upgrade-{before or 'none'}-{time.strftime('%Y%m%dT%H%M%S')}.bak"
        )
        _copy_sqlite(path, backup)
        log.warning(
            "%s: copied to %s before upgrading from %s to %s",
            path.name,
            backup.name,
            before or "no revision",
            target,
        )
    try:
        with get_engine(url).begin() as conn:
            renamed = set_aside_legacy_tables(conn)
        log.debug("upgrading %s to %s", config.attributes["database_url"], revision)
        command.upgrade(config, revision)
        mapped: Counter[str] = Counter()
        if changing or map_legacy:
            with get_engine(url).begin() as conn:
                mapped = migrate_legacy_photometry(conn)
    except BaseException:
        if backup is not None and path is not None:
            get_engine(url).dispose()
            _copy_sqlite(backup, path)
            log.error(
                "%s: upgrade failed; restored from %s (nothing changed)", path.name, backup.name
            )
        raise
    return UpgradeReport(before, current_revision(url), found, renamed, dict(mapped), backup)


def _upgrade_in_one_transaction(
    url: str, revision: str, *, commit: bool, map_legacy: bool
) -> UpgradeReport:
    """Set aside the original tables, run the migrations and map the legacy measurements
    (when the schema changed, or ``map_legacy``) in one transaction of a server database
    (transactional DDL), committed when ``commit`` (else rolled back: a dry run)."""
    config = alembic_config(url)
    with get_engine(url).connect() as conn:
        transaction = conn.begin()
        try:
            before = MigrationContext.configure(conn).get_current_revision()
            found = legacy_tables(conn)
            renamed = set_aside_legacy_tables(conn)
            config.attributes["connection"] = conn
            log.debug("upgrading %s to %s in one transaction", url, revision)
            command.upgrade(config, revision)
            after = MigrationContext.configure(conn).get_current_revision()
            mapped = migrate_legacy_photometry(conn) if map_legacy or before != after else Counter()
        except BaseException:
            transaction.rollback()
            log.error(
                "upgrade of %s failed; rolled back (nothing changed)",
                make_url(url).render_as_string(hide_password=True),
            )
            raise
        if commit:
            transaction.commit()
        else:
            transaction.rollback()
    return UpgradeReport(before, after, found, renamed, dict(mapped), dry_run=not commit)


def current_revision(url: str | None = None) -> str | None:
    """The revision the database at ``url`` is at (None when never migrated)."""
    with get_engine(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database).expanduser()


def _copy_sqlite(source: Path, target: Path) -> None:
    """Copy an SQLite database through SQLite's backup API (consistent, WAL included)."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
