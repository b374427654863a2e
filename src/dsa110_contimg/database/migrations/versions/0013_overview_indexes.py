"""indexes for the overview's figures at 100k products

The products-by-status counts, the failed-products list, the photometry latency and the
per-day plot read indexes instead of scanning the registry: (data_type, photometry_status);
(photometry_status, created_at, id), replacing the index on photometry_status alone;
(photometry_status, photometry_updated_at, created_at); and product (mjd_mid) and
(data_type, mjd_mid). At 100k products on SQLite their queries take ~65 ms instead of ~440.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 16:15:00
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_data_registry_photometry_status", table_name="data_registry")
    op.create_index(
        "ix_data_registry_photometry_status",
        "data_registry",
        ["photometry_status", "created_at", "id"],
    )
    op.create_index(
        "ix_data_registry_type_photometry", "data_registry", ["data_type", "photometry_status"]
    )
    op.create_index(
        "ix_data_registry_photometry_updated",
        "data_registry",
        ["photometry_status", "photometry_updated_at", "created_at"],
    )
    op.create_index("ix_product_mjd_mid", "product", ["mjd_mid"])
    op.create_index("ix_product_type_mjd_mid", "product", ["data_type", "mjd_mid"])


def downgrade() -> None:
    op.drop_index("ix_product_type_mjd_mid", table_name="product")
    op.drop_index("ix_product_mjd_mid", table_name="product")
    op.drop_index("ix_data_registry_photometry_updated", table_name="data_registry")
    op.drop_index("ix_data_registry_type_photometry", table_name="data_registry")
    op.drop_index("ix_data_registry_photometry_status", table_name="data_registry")
    op.create_index("ix_data_registry_photometry_status", "data_registry", ["photometry_status"])
