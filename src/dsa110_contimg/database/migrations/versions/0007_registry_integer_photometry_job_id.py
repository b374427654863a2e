"""registry adopted from the original code: photometry_job_id as an integer

The original registry code added ``photometry_job_id`` as TEXT holding the numeric batch job id.
Revision 0002 adopts such a table as it is; this revision converts the column to INTEGER,
keeping every value. A value that is not an integer stops the upgrade with the products named
(nothing is changed), rather than being lost.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 15:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

from dsa110_contimg.errors import InputError

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    column = next(
        c for c in sa.inspect(bind).get_columns("data_registry") if c["name"] == "photometry_job_id"
    )
    if isinstance(column["type"], sa.Integer):
        return
    rows = bind.execute(
        sa.text(
            "SELECT data_id, photometry_job_id FROM data_registry "
            "WHERE photometry_job_id IS NOT NULL"
        )
    ).all()
    bad = [f"{data_id}={job_id!r}" for data_id, job_id in rows if not str(job_id).strip().isdigit()]
    if bad:
        raise InputError(
            "data_registry.photometry_job_id holds values that are not job ids; "
            f"fix or clear them, then upgrade again: {', '.join(bad[:20])}"
        )
    with op.batch_alter_table("data_registry", schema=None) as batch_op:
        batch_op.alter_column(
            "photometry_job_id",
            existing_type=column["type"],
            type_=sa.Integer(),
            existing_nullable=True,
            postgresql_using="photometry_job_id::integer",
        )


def downgrade() -> None:
    # The integer column is what revisions 0002-0006 define; nothing to undo.
    pass
