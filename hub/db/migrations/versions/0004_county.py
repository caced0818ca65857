"""county: last update per county ticket, signatures seen (replay guard), poll cursors

Revision ID: 0004_county
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

import hub.db.models

revision = "0004_county"
down_revision = "0001_core"
branch_labels = ("county",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "county_tickets",
        sa.Column("county", sa.String(length=32), nullable=False),
        sa.Column("ticket_id", sa.String(length=128), nullable=False),
        sa.Column("case_number", sa.String(length=40), nullable=False),
        sa.Column("last_update_at", hub.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_update_id", sa.String(length=128), nullable=True),
        sa.Column("updated_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("county", "ticket_id"),
    )
    with op.batch_alter_table("county_tickets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_county_tickets_case_number"), ["case_number"], unique=False)
    op.create_table(
        "county_signatures",
        sa.Column("county", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("seen_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("county", "signature"),
    )
    with op.batch_alter_table("county_signatures", schema=None) as batch_op:
        batch_op.create_index("ix_county_signatures_seen_at", ["seen_at"], unique=False)
    op.create_table(
        "county_poll_cursors",
        sa.Column("county", sa.String(length=32), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("updated_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("county"),
    )


def downgrade() -> None:
    op.drop_table("county_poll_cursors")
    with op.batch_alter_table("county_signatures", schema=None) as batch_op:
        batch_op.drop_index("ix_county_signatures_seen_at")
    op.drop_table("county_signatures")
    with op.batch_alter_table("county_tickets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_county_tickets_case_number"))
    op.drop_table("county_tickets")
