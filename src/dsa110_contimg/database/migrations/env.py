"""Alembic environment: the models' metadata and the URL from the caller or the settings.

A caller may hand over its own connection (``config.attributes["connection"]``, already in a
transaction): the migrations then run in that transaction, which the caller commits or rolls
back (on PostgreSQL, DDL included: `dsa110_contimg.database.migrate` upgrades a server database
in one transaction). Otherwise a connection of its own is used and committed.

On SQLite, foreign keys are off while migrating (batch mode rebuilds tables that others
reference, as SQLite's ALTER TABLE procedure requires) and checked before the end.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from dsa110_contimg.config import get_settings
from dsa110_contimg.database.models import Base
from dsa110_contimg.database.session import get_engine

config = context.config
url = (
    config.attributes.get("database_url")
    or config.get_main_option("sqlalchemy.url")
    or get_settings().database_url
)


def run_migrations(connection: Connection) -> None:
    """Run the migrations on ``connection`` (in its transaction when it has one)."""
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=sqlite,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise RuntimeError(f"migration left foreign keys broken: {broken[:10]}")


external = config.attributes.get("connection")
if external is not None:
    run_migrations(external)
else:
    with get_engine(url).connect() as own:
        sqlite = own.dialect.name == "sqlite"
        if sqlite:
            own.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            run_migrations(own)
            own.commit()
        finally:
            if sqlite:
                own.exec_driver_sql("PRAGMA foreign_keys=ON")
