"""photometry: one source-led unique index instead of two, plus a product index

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 14:21:07.052976
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("photometry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_photometry_source_mjd"))
        batch_op.drop_constraint(
            batch_op.f("uq_photometry_product_id_source_id_params_hash"), type_="unique"
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_photometry_source_id_product_id_params_hash"),
            ["source_id", "product_id", "params_hash"],
        )
        batch_op.create_index("ix_photometry_product_id", ["product_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("photometry", schema=None) as batch_op:
        batch_op.drop_index("ix_photometry_product_id")
        batch_op.drop_constraint(
            batch_op.f("uq_photometry_source_id_product_id_params_hash"), type_="unique"
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_photometry_product_id_source_id_params_hash"),
            ["product_id", "source_id", "params_hash"],
        )
        batch_op.create_index(
            batch_op.f("ix_photometry_source_mjd"), ["source_id", "mjd_obs"], unique=False
        )
