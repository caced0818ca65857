"""outbox: relay heartbeats, so a dead relay's claims are taken over in seconds

Revision ID: 0009_outbox_relays
Revises: 0002_outbox
"""

import sqlalchemy as sa
from alembic import op

import hub.db.models

revision = "0009_outbox_relays"
down_revision = "0002_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_relays",
        sa.Column("relay_id", sa.String(length=128), nullable=False),
        sa.Column("beats", sa.BigInteger(), nullable=False),
        sa.Column("started_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("beat_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("relay_id"),
    )


def downgrade() -> None:
    op.drop_table("outbox_relays")
