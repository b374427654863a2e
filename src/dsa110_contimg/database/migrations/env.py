"""Alembic environment: the models' metadata and the URL from the caller or the settings."""

from __future__ import annotations

from alembic import context

from dsa110_contimg.config import get_settings
from dsa110_contimg.database.models import Base
from dsa110_contimg.database.session import get_engine

config = context.config
url = config.attributes.get("database_url") or get_settings().database_url

with get_engine(url).connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
