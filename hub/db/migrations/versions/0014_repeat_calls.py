"""cases: repeat calls (重复来电) linked to an earlier open case of the same phone and category

Revision ID: 0014_repeat_calls
Revises: 0013_phone_index (it finds the earlier case through the phone index)
"""

import sqlalchemy as sa
from alembic import op

import hub.db.models

revision = "0014_repeat_calls"
down_revision = "0013_phone_index"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "repeat_calls",
        sa.Column("case_id", _ID, autoincrement=False, nullable=False),
        sa.Column("earlier_case_id", _ID, nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("found_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", hub.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["earlier_case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id"),
    )
    with op.batch_alter_table("repeat_calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_repeat_calls_earlier_case_id"), ["earlier_case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("repeat_calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repeat_calls_earlier_case_id"))
    op.drop_table("repeat_calls")
