"""products, data registry with photometry status, photometry, batch jobs

A database created by the original DSA-110 registry code already holds ``data_registry`` and
``data_relationships`` (without the photometry columns). Those tables are adopted in place:
every column the models define and the table lacks is added, no row is touched.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 13:46:06.324833
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _registry_columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("data_type", sa.Text(), nullable=False),
        sa.Column("data_id", sa.Text(), nullable=False),
        sa.Column("base_path", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("stage_path", sa.Text(), nullable=False),
        sa.Column("published_path", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("staged_at", sa.Float(), nullable=False),
        sa.Column("published_at", sa.Float(), nullable=True),
        sa.Column("publish_mode", sa.Text(), nullable=True),
        sa.Column("metadata_json", sa.Text(), nullable=True),
        sa.Column("qa_status", sa.Text(), nullable=True),
        sa.Column("validation_status", sa.Text(), nullable=True),
        sa.Column("finalization_status", sa.Text(), nullable=True),
        sa.Column("auto_publish_enabled", sa.Integer(), nullable=True),
        sa.Column("photometry_status", sa.String(length=16), nullable=True),
        sa.Column("photometry_job_id", sa.Integer(), nullable=True),
        sa.Column("photometry_error", sa.Text(), nullable=True),
        sa.Column("photometry_n_measured", sa.Integer(), nullable=True),
        sa.Column("photometry_n_failed", sa.Integer(), nullable=True),
        sa.Column("photometry_updated_at", sa.Float(), nullable=True),
    ]


def _relationship_columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("parent_data_id", sa.Text(), nullable=False),
        sa.Column("child_data_id", sa.Text(), nullable=False),
        sa.Column("relationship_type", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    ]


def _create_or_adopt(
    table_name: str,
    columns: list[sa.Column],
    constraints: list,
    indexes: list[tuple[str, list[str]]],
) -> None:
    """Create the table, or add its missing columns (nullable) to an existing one in place."""
    inspector = sa.inspect(op.get_bind())
    if table_name not in inspector.get_table_names():
        op.create_table(table_name, *columns, *constraints)
        existing_indexes: set[str] = set()
    else:
        present = {column["name"] for column in inspector.get_columns(table_name)}
        with op.batch_alter_table(table_name) as batch_op:
            for column in columns:
                if column.name not in present:
                    batch_op.add_column(sa.Column(column.name, column.type, nullable=True))
        existing_indexes = {index["name"] for index in inspector.get_indexes(table_name)}
    for name, index_columns in indexes:
        if name not in existing_indexes:
            op.create_index(name, table_name, index_columns)


def upgrade() -> None:
    op.create_table(
        "batch_job",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("params_hash", sa.String(length=16), nullable=True),
        sa.Column("n_items", sa.Integer(), nullable=False),
        sa.Column("n_completed", sa.Integer(), nullable=False),
        sa.Column("n_failed", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_job")),
    )
    with op.batch_alter_table("batch_job", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batch_job_status"), ["status"], unique=False)

    _create_or_adopt(
        "data_registry",
        _registry_columns(),
        [
            sa.PrimaryKeyConstraint("id", name=op.f("pk_data_registry")),
            sa.UniqueConstraint("data_id", name=op.f("uq_data_registry_data_id")),
            sa.UniqueConstraint(
                "data_type", "data_id", name=op.f("uq_data_registry_data_type_data_id")
            ),
        ],
        [
            ("ix_data_registry_photometry_status", ["photometry_status"]),
            ("ix_data_registry_type_status", ["data_type", "status"]),
        ],
    )

    op.create_table(
        "batch_job_item",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("data_id", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=True),
        sa.Column("params_hash", sa.String(length=16), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("n_measured", sa.Integer(), nullable=True),
        sa.Column("n_failed", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["data_id"],
            ["data_registry.data_id"],
            name=op.f("fk_batch_job_item_data_id_data_registry"),
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["batch_job.id"],
            name=op.f("fk_batch_job_item_job_id_batch_job"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_job_item")),
    )
    with op.batch_alter_table("batch_job_item", schema=None) as batch_op:
        batch_op.create_index(
            "ix_batch_job_item_claim", ["status", "lease_expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_batch_job_item_job_id"), ["job_id"], unique=False)

    _create_or_adopt(
        "data_relationships",
        _relationship_columns(),
        [
            sa.ForeignKeyConstraint(
                ["child_data_id"],
                ["data_registry.data_id"],
                name=op.f("fk_data_relationships_child_data_id_data_registry"),
            ),
            sa.ForeignKeyConstraint(
                ["parent_data_id"],
                ["data_registry.data_id"],
                name=op.f("fk_data_relationships_parent_data_id_data_registry"),
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_data_relationships")),
            sa.UniqueConstraint(
                "parent_data_id",
                "child_data_id",
                "relationship_type",
                name=op.f("uq_data_relationships_parent_data_id_child_data_id_relationship_type"),
            ),
        ],
        [
            ("ix_data_relationships_child_data_id", ["child_data_id"]),
            ("ix_data_relationships_parent_data_id", ["parent_data_id"]),
        ],
    )

    op.create_table(
        "product",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("data_id", sa.Text(), nullable=False),
        sa.Column("data_type", sa.String(length=16), nullable=False),
        sa.Column("mjd_start", sa.Float(precision=53), nullable=True),
        sa.Column("mjd_mid", sa.Float(precision=53), nullable=True),
        sa.Column("mjd_end", sa.Float(precision=53), nullable=True),
        sa.Column("ra_deg", sa.Float(precision=53), nullable=True),
        sa.Column("dec_deg", sa.Float(precision=53), nullable=True),
        sa.Column("radius_deg", sa.Float(), nullable=True),
        sa.Column("beam_major_arcsec", sa.Float(), nullable=True),
        sa.Column("beam_minor_arcsec", sa.Float(), nullable=True),
        sa.Column("beam_pa_deg", sa.Float(), nullable=True),
        sa.Column("freq_hz", sa.Float(), nullable=True),
        sa.Column("noise_jyb", sa.Float(), nullable=True),
        sa.Column("pb_corrected", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["data_id"],
            ["data_registry.data_id"],
            name=op.f("fk_product_data_id_data_registry"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product")),
        sa.UniqueConstraint("data_id", name=op.f("uq_product_data_id")),
    )
    op.create_table(
        "photometry",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "source_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("params_hash", sa.String(length=16), nullable=False),
        sa.Column("mjd_obs", sa.Float(precision=53), nullable=True),
        sa.Column("ra_deg", sa.Float(precision=53), nullable=False),
        sa.Column("dec_deg", sa.Float(precision=53), nullable=False),
        sa.Column("peak_jyb", sa.Float(), nullable=True),
        sa.Column("peak_err_jyb", sa.Float(), nullable=True),
        sa.Column("int_flux_jy", sa.Float(), nullable=True),
        sa.Column("local_rms_jyb", sa.Float(), nullable=True),
        sa.Column("snr", sa.Float(), nullable=True),
        sa.Column("chisq", sa.Float(), nullable=True),
        sa.Column("dof", sa.Float(), nullable=True),
        sa.Column("flags", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.BigInteger(), nullable=True),
        sa.Column("group_size", sa.Integer(), nullable=True),
        sa.Column("pb_response", sa.Float(), nullable=True),
        sa.Column("flux_norm_jyb", sa.Float(), nullable=True),
        sa.Column("flux_norm_err_jyb", sa.Float(), nullable=True),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["product.id"],
            name=op.f("fk_photometry_product_id_product"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["catalog_source.id"],
            name=op.f("fk_photometry_source_id_catalog_source"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photometry")),
        sa.UniqueConstraint(
            "product_id",
            "source_id",
            "params_hash",
            name=op.f("uq_photometry_product_id_source_id_params_hash"),
        ),
    )
    with op.batch_alter_table("photometry", schema=None) as batch_op:
        batch_op.create_index("ix_photometry_source_mjd", ["source_id", "mjd_obs"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("photometry", schema=None) as batch_op:
        batch_op.drop_index("ix_photometry_source_mjd")

    op.drop_table("photometry")
    op.drop_table("product")
    with op.batch_alter_table("data_relationships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_relationships_parent_data_id"))
        batch_op.drop_index(batch_op.f("ix_data_relationships_child_data_id"))

    op.drop_table("data_relationships")
    with op.batch_alter_table("batch_job_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batch_job_item_job_id"))
        batch_op.drop_index("ix_batch_job_item_claim")

    op.drop_table("batch_job_item")
    with op.batch_alter_table("data_registry", schema=None) as batch_op:
        batch_op.drop_index("ix_data_registry_type_status")
        batch_op.drop_index("ix_data_registry_photometry_status")

    op.drop_table("data_registry")
    with op.batch_alter_table("batch_job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batch_job_status"))

    op.drop_table("batch_job")
