"""one name per quantity: ``mjd_mid`` and ``peak_norm_jyb``

The observation mid-time is ``mjd_mid`` everywhere, as in ``product`` (``mjd_start``,
``mjd_mid``, ``mjd_end``): ``photometry.mjd_obs`` and ``spectral_index.mjd_obs`` are renamed.
The normalized peak flux density is named like the raw peak it normalizes (``peak_jyb``,
``peak_err_jyb``): ``photometry.flux_norm_jyb`` and ``flux_norm_err_jyb`` become
``peak_norm_jyb`` and ``peak_norm_err_jyb``. Renames keep every value.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 19:00:00
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

#: (table, name before, name after) of every renamed column.
RENAMES = (
    ("photometry", "mjd_obs", "mjd_mid"),
    ("photometry", "flux_norm_jyb", "peak_norm_jyb"),
    ("photometry", "flux_norm_err_jyb", "peak_norm_err_jyb"),
    ("spectral_index", "mjd_obs", "mjd_mid"),
)


def _rename(*, reverse: bool) -> None:
    for table in dict.fromkeys(t for t, _, _ in RENAMES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name_table, before, after in RENAMES:
                if name_table == table:
                    old, new = (after, before) if reverse else (before, after)
                    batch_op.alter_column(old, new_column_name=new)


def upgrade() -> None:
    _rename(reverse=False)


def downgrade() -> None:
    _rename(reverse=True)
