"""channels: the channel of a channel key, retrieval codes (hashed) and lookup failures

Revision ID: 0015_channels
Revises: 0001_core (api_keys is a core table; the channels feature's own branch)
"""

import sqlalchemy as sa
from alembic import op

import hub.db.models

revision = "0015_channels"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=16), nullable=True))
    op.create_table(
        "retrieval_codes",
        sa.Column("case_number", sa.String(length=40), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_number"),
    )
    op.create_table(
        "lookup_failures",
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", hub.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("subject"),
    )


def downgrade() -> None:
    op.drop_table("lookup_failures")
    op.drop_table("retrieval_codes")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("channel")
