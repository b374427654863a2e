"""photometry: natural primary key (source, product, params) instead of a surrogate id, integrated flux error; registry path indexes

Registration looks products up by their staged or published path.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 15:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_KEY = ["source_id", "product_id", "params_id"]


def upgrade() -> None:
    with op.batch_alter_table("photometry", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_photometry_source_id_product_id_params_id"), type_="unique"
        )
        batch_op.drop_constraint(batch_op.f("pk_photometry"), type_="primary")
        batch_op.drop_column("id")
        batch_op.create_primary_key(batch_op.f("pk_photometry"), _KEY)
        batch_op.add_column(sa.Column("int_flux_err_jy", sa.Float(), nullable=True))
    op.create_index("ix_data_registry_stage_path", "data_registry", ["stage_path"])
    op.create_index("ix_data_registry_published_path", "data_registry", ["published_path"])


def downgrade() -> None:
    op.drop_index("ix_data_registry_published_path", table_name="data_registry")
    op.drop_index("ix_data_registry_stage_path", table_name="data_registry")
    # Existing rows get ids: a sequence fills them on PostgreSQL, the rowid on SQLite.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE photometry ADD COLUMN id BIGSERIAL NOT NULL")
    else:
        with op.batch_alter_table("photometry", schema=None) as batch_op:
            batch_op.add_column(sa.Column("id", sa.Integer(), nullable=True))
        op.execute("UPDATE photometry SET id = rowid")
    with op.batch_alter_table("photometry", schema=None) as batch_op:
        batch_op.drop_column("int_flux_err_jy")
        batch_op.drop_constraint(batch_op.f("pk_photometry"), type_="primary")
        batch_op.create_primary_key(batch_op.f("pk_photometry"), ["id"])
        batch_op.create_unique_constraint(
            batch_op.f("uq_photometry_source_id_product_id_params_id"), _KEY
        )
