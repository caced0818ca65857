"""outbox: messages, per-key sequences, destination state

Revision ID: 0002_outbox
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hub.db.models

revision = "0002_outbox"
down_revision = "0001_core"
branch_labels = ("outbox",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column("ordering_key", sa.String(length=128), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("case_number", sa.String(length=40), nullable=True),
        sa.Column("body", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_until", hub.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("leased_by", sa.String(length=128), nullable=True),
        sa.Column("created_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", hub.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_due", ["status", "available_at"], unique=False)
        batch_op.create_index("uq_outbox_order", ["destination", "ordering_key", "sequence"], unique=True)

    op.create_table(
        "outbox_sequences",
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column("ordering_key", sa.String(length=128), nullable=False),
        sa.Column("last", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("destination", "ordering_key"),
    )
    op.create_table(
        "outbox_destinations",
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column("paused_until", hub.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("paused_by_operator", sa.Boolean(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("updated_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("destination"),
    )


def downgrade() -> None:
    op.drop_table("outbox_destinations")
    op.drop_table("outbox_sequences")
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index("uq_outbox_order")
        batch_op.drop_index("ix_outbox_due")
    op.drop_table("outbox_messages")
