"""legacy: cases a 双号并行 line offered that the hub could not take (kept to retry or dismiss)

Revision ID: 0007_legacy_refusals
Revises: 0005_legacy
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hub.db.models

revision = "0007_legacy_refusals"
down_revision = "0005_legacy"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "legacy_bridge_refusals",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("line", sa.String(length=8), nullable=False),
        sa.Column("line_case_id", sa.String(length=128), nullable=True),
        sa.Column("stage", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("item", _JSON, nullable=False),
        sa.Column("case_number", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("legacy_bridge_refusals", schema=None) as batch_op:
        batch_op.create_index("ix_legacy_bridge_refusals_item", ["line", "line_case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_legacy_bridge_refusals_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("legacy_bridge_refusals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legacy_bridge_refusals_status"))
        batch_op.drop_index("ix_legacy_bridge_refusals_item")
    op.drop_table("legacy_bridge_refusals")
