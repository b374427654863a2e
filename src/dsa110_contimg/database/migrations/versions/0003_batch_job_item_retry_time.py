"""batch job item retry time

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 14:01:07.001515
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batch_job_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batch_job_item", schema=None) as batch_op:
        batch_op.drop_column("not_before")
