"""province: the poller's cursor and the assigned cases it could not take

Revision ID: 0003_province
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

import hub.db.models

revision = "0003_province"
down_revision = "0001_core"
branch_labels = ("province",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "province_cursors",
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("updated_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("destination"),
    )
    op.create_table(
        "province_pull_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column("province_id", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_province_pull_failures_destination"), "province_pull_failures", ["destination"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_province_pull_failures_destination"), table_name="province_pull_failures")
    op.drop_table("province_pull_failures")
    op.drop_table("province_cursors")
