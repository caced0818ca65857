"""channels: rate counters per subject and 60-second window, shared by every hub process

Revision ID: 0016_rate_counters
Revises: 0015_channels
"""

import sqlalchemy as sa
from alembic import op

import hub.db.models

revision = "0016_rate_counters"
down_revision = "0015_channels"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_counters",
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("window_start", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("subject", "window_start"),
    )


def downgrade() -> None:
    op.drop_table("rate_counters")
