"""photometry parameter sets: an integer id in the photometry key instead of a text hash

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 14:43:32.165973
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "photometry_params",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("params_hash", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photometry_params")),
        sa.UniqueConstraint("params_hash", name=op.f("uq_photometry_params_params_hash")),
    )
    # Existing rows keep their parameter set: one photometry_params row per distinct hash.
    op.execute(
        "INSERT INTO photometry_params (params_hash) SELECT DISTINCT params_hash FROM photometry"
    )
    with op.batch_alter_table("photometry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("params_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE photometry SET params_id = (SELECT id FROM photometry_params "
        "WHERE photometry_params.params_hash = photometry.params_hash)"
    )
    with op.batch_alter_table("photometry", schema=None) as batch_op:
        batch_op.alter_column("params_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_constraint(
            batch_op.f("uq_photometry_source_id_product_id_params_hash"), type_="unique"
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_photometry_source_id_product_id_params_id"),
            ["source_id", "product_id", "params_id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_photometry_params_id_photometry_params"),
            "photometry_params",
            ["params_id"],
            ["id"],
        )
        batch_op.drop_column("params_hash")


def downgrade() -> None:
    with op.batch_alter_table("photometry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("params_hash", sa.VARCHAR(length=16), nullable=False))
        batch_op.drop_constraint(
            batch_op.f("fk_photometry_params_id_photometry_params"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("uq_photometry_source_id_product_id_params_id"), type_="unique"
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_photometry_source_id_product_id_params_hash"),
            ["source_id", "product_id", "params_hash"],
        )
        batch_op.drop_column("params_id")

    op.drop_table("photometry_params")
