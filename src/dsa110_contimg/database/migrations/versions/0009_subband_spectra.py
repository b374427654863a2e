"""sub-band spectra: adaptive bins and spectral indices

``spectral_index``: per source, product and parameter set, the power-law fit of its sub-band
spectrum (α, its error, the flux at the reference frequency) and how it was binned;
``spectrum_bin``: the adaptive bins themselves (weighted-mean flux or an upper limit).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 21:37:20.719273
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spectral_index",
        sa.Column(
            "source_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column(
            "product_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("params_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("mjd_obs", sa.Float(precision=53), nullable=True),
        sa.Column("alpha", sa.Float(), nullable=True),
        sa.Column("alpha_err", sa.Float(), nullable=True),
        sa.Column("ref_freq_hz", sa.Float(), nullable=True),
        sa.Column("ref_flux_jy", sa.Float(), nullable=True),
        sa.Column("ref_flux_err_jy", sa.Float(), nullable=True),
        sa.Column("chisq", sa.Float(), nullable=True),
        sa.Column("n_bins", sa.Integer(), nullable=False),
        sa.Column("n_subbands", sa.Integer(), nullable=False),
        sa.Column("target_snr", sa.Float(), nullable=False),
        sa.Column("upper_limit", sa.Boolean(), nullable=False),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["params_id"],
            ["photometry_params.id"],
            name=op.f("fk_spectral_index_params_id_photometry_params"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["product.id"],
            name=op.f("fk_spectral_index_product_id_product"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["catalog_source.id"],
            name=op.f("fk_spectral_index_source_id_catalog_source"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "source_id", "product_id", "params_id", name=op.f("pk_spectral_index")
        ),
    )
    with op.batch_alter_table("spectral_index", schema=None) as batch_op:
        batch_op.create_index("ix_spectral_index_product_id", ["product_id"], unique=False)

    op.create_table(
        "spectrum_bin",
        sa.Column(
            "source_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column(
            "product_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("params_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("bin", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("first_subband", sa.Integer(), nullable=False),
        sa.Column("last_subband", sa.Integer(), nullable=False),
        sa.Column("freq_hz", sa.Float(precision=53), nullable=False),
        sa.Column("flux_jy", sa.Float(), nullable=True),
        sa.Column("flux_err_jy", sa.Float(), nullable=True),
        sa.Column("upper_limit", sa.Boolean(), nullable=False),
        sa.Column("limit_jy", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["params_id"],
            ["photometry_params.id"],
            name=op.f("fk_spectrum_bin_params_id_photometry_params"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["product.id"],
            name=op.f("fk_spectrum_bin_product_id_product"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["catalog_source.id"],
            name=op.f("fk_spectrum_bin_source_id_catalog_source"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "source_id", "product_id", "params_id", "bin", name=op.f("pk_spectrum_bin")
        ),
    )
    with op.batch_alter_table("spectrum_bin", schema=None) as batch_op:
        batch_op.create_index("ix_spectrum_bin_product_id", ["product_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("spectrum_bin", schema=None) as batch_op:
        batch_op.drop_index("ix_spectrum_bin_product_id")

    op.drop_table("spectrum_bin")
    with op.batch_alter_table("spectral_index", schema=None) as batch_op:
        batch_op.drop_index("ix_spectral_index_product_id")

    op.drop_table("spectral_index")
