"""legacy: an import run that failed says why (status 'failed', failure)

Revision ID: 0008_legacy_run_failure
Revises: 0007_legacy_refusals
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_legacy_run_failure"
down_revision = "0007_legacy_refusals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("legacy_import_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failure", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("legacy_import_runs", schema=None) as batch_op:
        batch_op.drop_column("failure")
