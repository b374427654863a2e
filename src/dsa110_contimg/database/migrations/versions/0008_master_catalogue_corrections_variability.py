"""master catalogue, image corrections, variability statistics and candidates

``master_source``: reference-eligibility and source properties per primary-catalogue source;
``image_corrections``: each product's flux correction factor and its references;
``variability_stats``: per-source sufficient statistics of normalized light curves;
``variability_candidate``: flagged sources with a review status.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 09:53:51.772015
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_corrections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column(
            "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("params_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("error", sa.Float(), nullable=False),
        sa.Column("n_references", sa.Integer(), nullable=False),
        sa.Column("reference_source_ids", sa.JSON(), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=True),
        sa.Column("stats_applied", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["params_id"],
            ["photometry_params.id"],
            name=op.f("fk_image_corrections_params_id_photometry_params"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["product.id"],
            name=op.f("fk_image_corrections_product_id_product"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_corrections")),
        sa.UniqueConstraint(
            "product_id", "params_id", name=op.f("uq_image_corrections_product_id_params_id")
        ),
    )
    op.create_table(
        "master_source",
        sa.Column(
            "source_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("catalog_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("ra_deg", sa.Float(precision=53), nullable=False),
        sa.Column("dec_deg", sa.Float(precision=53), nullable=False),
        sa.Column("flux_mjy", sa.Float(), nullable=True),
        sa.Column("flux_err_mjy", sa.Float(), nullable=True),
        sa.Column("snr", sa.Float(), nullable=True),
        sa.Column("compactness", sa.Float(), nullable=True),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("n_neighbours", sa.Integer(), nullable=False),
        sa.Column("confused", sa.Boolean(), nullable=False),
        sa.Column("spectral_index", sa.Float(), nullable=True),
        sa.Column("spectral_index_err", sa.Float(), nullable=True),
        sa.Column("matches", sa.JSON(), nullable=True),
        sa.Column("reference_eligible", sa.Boolean(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["catalog_id"],
            ["catalog.id"],
            name=op.f("fk_master_source_catalog_id_catalog"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["catalog_source.id"],
            name=op.f("fk_master_source_source_id_catalog_source"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_id", name=op.f("pk_master_source")),
    )
    with op.batch_alter_table("master_source", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_master_source_catalog_id"), ["catalog_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_master_source_reference_eligible"), ["reference_eligible"], unique=False
        )

    op.create_table(
        "variability_candidate",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column(
            "source_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("preset", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("n_epochs", sa.Integer(), nullable=False),
        sa.Column("weighted_mean_jy", sa.Float(), nullable=True),
        sa.Column("eta", sa.Float(), nullable=True),
        sa.Column("v", sa.Float(), nullable=True),
        sa.Column("vs_max", sa.Float(), nullable=True),
        sa.Column("m_max", sa.Float(), nullable=True),
        sa.Column("deviation_sigma", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["catalog_source.id"],
            name=op.f("fk_variability_candidate_source_id_catalog_source"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_variability_candidate")),
        sa.UniqueConstraint("source_id", name=op.f("uq_variability_candidate_source_id")),
    )
    with op.batch_alter_table("variability_candidate", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_variability_candidate_status"), ["status"], unique=False
        )

    op.create_table(
        "variability_stats",
        sa.Column(
            "source_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("shift_jy", sa.Float(precision=53), nullable=False),
        sa.Column("sum_w", sa.Float(precision=53), nullable=False),
        sa.Column("sum_ws", sa.Float(precision=53), nullable=False),
        sa.Column("sum_ws2", sa.Float(precision=53), nullable=False),
        sa.Column("sum_s", sa.Float(precision=53), nullable=False),
        sa.Column("sum_s2", sa.Float(precision=53), nullable=False),
        sa.Column("max_flux_jy", sa.Float(precision=53), nullable=True),
        sa.Column("max_flux_err_jy", sa.Float(precision=53), nullable=True),
        sa.Column("min_flux_jy", sa.Float(precision=53), nullable=True),
        sa.Column("min_flux_err_jy", sa.Float(precision=53), nullable=True),
        sa.Column("mjd_first", sa.Float(precision=53), nullable=True),
        sa.Column("mjd_last", sa.Float(precision=53), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["catalog_source.id"],
            name=op.f("fk_variability_stats_source_id_catalog_source"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_id", name=op.f("pk_variability_stats")),
    )


def downgrade() -> None:
    op.drop_table("variability_stats")
    with op.batch_alter_table("variability_candidate", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_variability_candidate_status"))

    op.drop_table("variability_candidate")
    with op.batch_alter_table("master_source", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_master_source_reference_eligible"))
        batch_op.drop_index(batch_op.f("ix_master_source_catalog_id"))

    op.drop_table("master_source")
    op.drop_table("image_corrections")
