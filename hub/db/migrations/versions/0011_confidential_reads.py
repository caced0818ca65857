"""records: the audit log of reads of confidential cases

Revision ID: 0011_confidential_reads
Revises: 0001_core (a core table)
"""

import sqlalchemy as sa
from alembic import op

import hub.db.models

revision = "0011_confidential_reads"
down_revision = "0001_core"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "confidential_reads",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("case_number", sa.String(length=40), nullable=False),
        sa.Column("party", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("route", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("confidential_reads", schema=None) as batch_op:
        batch_op.create_index("ix_confidential_reads_case", ["case_number", "id"], unique=False)
        batch_op.create_index("ix_confidential_reads_party", ["party", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("confidential_reads", schema=None) as batch_op:
        batch_op.drop_index("ix_confidential_reads_party")
        batch_op.drop_index("ix_confidential_reads_case")
    op.drop_table("confidential_reads")
