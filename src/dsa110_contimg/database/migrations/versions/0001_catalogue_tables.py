"""catalogue tables

Revision ID: 0001
Revises:
Create Date: 2026-11-24 13:35:20.937497
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("frequency_hz", sa.Float(), nullable=True),
        sa.Column("source_file", sa.Text(), nullable=True),
        sa.Column("file_sha256", sa.String(length=64), nullable=True),
        sa.Column("n_sources", sa.Integer(), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog")),
        sa.UniqueConstraint("name", name=op.f("uq_catalog_name")),
    )
    op.create_table(
        "catalog_source",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("catalog_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("ra_deg", sa.Float(precision=53), nullable=False),
        sa.Column("dec_deg", sa.Float(precision=53), nullable=False),
        sa.Column("zone", sa.Integer(), nullable=False),
        sa.Column("flux_mjy", sa.Float(), nullable=True),
        sa.Column("flux_err_mjy", sa.Float(), nullable=True),
        sa.Column("peak_flux_mjy", sa.Float(), nullable=True),
        sa.Column("peak_flux_err_mjy", sa.Float(), nullable=True),
        sa.Column("major_arcsec", sa.Float(), nullable=True),
        sa.Column("minor_arcsec", sa.Float(), nullable=True),
        sa.Column("pa_deg", sa.Float(), nullable=True),
        sa.Column("ra_err_arcsec", sa.Float(), nullable=True),
        sa.Column("dec_err_arcsec", sa.Float(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["catalog_id"],
            ["catalog.id"],
            name=op.f("fk_catalog_source_catalog_id_catalog"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_source")),
        sa.UniqueConstraint("catalog_id", "name", name=op.f("uq_catalog_source_catalog_id_name")),
    )
    with op.batch_alter_table("catalog_source", schema=None) as batch_op:
        batch_op.create_index(
            "ix_catalog_source_zone", ["catalog_id", "zone", "ra_deg"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("catalog_source", schema=None) as batch_op:
        batch_op.drop_index("ix_catalog_source_zone")

    op.drop_table("catalog_source")
    op.drop_table("catalog")
