"""job item priority: live photometry is claimed before reprocessing

``batch_job_item.priority`` (higher is claimed first; existing items get 0, the default of
submitted jobs) and an index on (status, priority, id), the order workers claim in.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 07:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batch_job_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_index("ix_batch_job_item_priority", ["status", "priority", "id"])


def downgrade() -> None:
    with op.batch_alter_table("batch_job_item", schema=None) as batch_op:
        batch_op.drop_index("ix_batch_job_item_priority")
        batch_op.drop_column("priority")
