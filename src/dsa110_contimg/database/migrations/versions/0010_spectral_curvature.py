"""spectral curvature: β of a curved power law where the S/N allows

``spectral_index.curvature`` and ``curvature_err``: β of ``S = S₀ (ν/ν₀)^(α + β ln(ν/ν₀))``
fitted to a source's bins when its S/N constrains β (NULL otherwise).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 06:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("spectral_index", schema=None) as batch_op:
        batch_op.add_column(sa.Column("curvature", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("curvature_err", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("spectral_index", schema=None) as batch_op:
        batch_op.drop_column("curvature_err")
        batch_op.drop_column("curvature")
