"""Alembic environment: the models' metadata and the URL from the caller or the settings.

On SQLite, foreign keys are off while migrating (batch mode rebuilds tables that others
reference, as SQLite's ALTER TABLE procedure requires) and checked before the end.
"""

from __future__ import annotations

from alembic import context

from dsa110_contimg.config import get_settings
from dsa110_contimg.database.models import Base
from dsa110_contimg.database.session import get_engine

config = context.config
url = (config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
       or get_settings().database_url)

with get_engine(url).connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    try:
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
        connection.commit()
    finally:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
