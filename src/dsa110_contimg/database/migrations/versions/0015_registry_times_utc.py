"""registry times as UTC timestamps, like every other table

``data_registry.created_at``, ``staged_at``, ``published_at``, ``photometry_updated_at`` and
``data_relationships.created_at`` were Unix seconds (the original DSA-110 registry's floats);
they become timezone-aware timestamps (``DateTime(timezone=True)``), the type of every other
wall-clock time in the schema. Values are converted to the microsecond and back on downgrade.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 19:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

#: Columns converted, per table (their nullability is kept as found: a registry adopted from
#: the original code may hold NULL link times).
COLUMNS = {
    "data_registry": ("created_at", "staged_at", "published_at", "photometry_updated_at"),
    "data_relationships": ("created_at",),
}
#: SQLite: Unix seconds → ``YYYY-MM-DD HH:MM:SS.ffffff`` (how SQLAlchemy stores a DateTime).
_SQLITE_TO_TEXT = (
    "strftime('%Y-%m-%d %H:%M:%S', {c}, 'unixepoch') || "
    "printf('.%06d', CAST(({c} - CAST({c} AS INTEGER)) * 1000000 AS INTEGER))"
)
#: SQLite: that text → Unix seconds (``strftime('%s')`` drops the fraction, added back).
_SQLITE_TO_UNIX = "CAST(strftime('%s', {c}) AS REAL) + CAST(substr({c}, 20) AS REAL)"


def _convert(*, to_timestamp: bool) -> None:
    new, old = (
        (sa.DateTime(timezone=True), sa.Float())
        if to_timestamp
        else (
            sa.Float(),
            sa.DateTime(timezone=True),
        )
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, columns in COLUMNS.items():
        if postgresql:
            using = "to_timestamp({c})" if to_timestamp else "extract(epoch from {c})"
            for column in columns:
                op.alter_column(
                    table,
                    column,
                    type_=new,
                    existing_type=old,
                    postgresql_using=using.format(c=column),
                )
            continue
        # SQLite keeps any value in any column: the text is written where the type allows
        # (a REAL column would turn numeric text back into numbers), and the table is
        # recreated with the new type by batch mode.
        if not to_timestamp:
            _sqlite_update(table, columns, _SQLITE_TO_UNIX)
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.alter_column(column, type_=new, existing_type=old)
        if to_timestamp:
            _sqlite_update(table, columns, _SQLITE_TO_TEXT)


def _sqlite_update(table: str, columns: tuple[str, ...], expression: str) -> None:
    assignments = ", ".join(f"{c} = {expression.format(c=c)}" for c in columns)
    op.execute(f"UPDATE {table} SET {assignments}")


def upgrade() -> None:
    _convert(to_timestamp=True)


def downgrade() -> None:
    _convert(to_timestamp=False)
