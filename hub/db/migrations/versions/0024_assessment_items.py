"""assessment_items: each case's assessment items over time, so a month's assessment reads the
items dated in it (SQL, by an index on their date) instead of walking every case with a line in
the month (issue 21, target 6)

Revision ID: 0024_assessment_items
Revises: 0023_scale_reads

The rows are derived from each case's history by the supervision feature (supervision.assessment
`facts_of`, written by supervision.items in the transaction of every write); the backfill of the
cases stored before is the feature's (hub.db.migrate.BACKFILLS, batches of case ids). A hub
without the supervision feature has nothing that reads the table: it stays empty.
"""

import sqlalchemy as sa
from alembic import op

from hub.db.migrate import BACKFILLS

revision = "0024_assessment_items"
down_revision = "0023_scale_reads"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_APPEAL = sa.text("figure = 'appeal'")


def upgrade() -> None:
    op.create_table(
        "assessment_items",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("case_id", _ID, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("case_number", sa.String(40), nullable=False),
        sa.Column("county_code", sa.String(6), nullable=False),
        sa.Column("figure", sa.String(16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unit", sa.String(32), nullable=True),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("part", sa.Boolean(), nullable=False),
        sa.Column("township", sa.Boolean(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_assessment_items_case_id", "assessment_items", ["case_id"], unique=False)
    op.create_index("ix_assessment_items_at", "assessment_items", ["at"], unique=False)
    op.create_index("ix_assessment_items_appeals", "assessment_items", ["case_id"], unique=False, sqlite_where=_APPEAL, postgresql_where=_APPEAL)
    backfill = BACKFILLS.get(revision)
    if backfill is not None:
        backfill(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_assessment_items_appeals", table_name="assessment_items")
    op.drop_index("ix_assessment_items_at", table_name="assessment_items")
    op.drop_index("ix_assessment_items_case_id", table_name="assessment_items")
    op.drop_table("assessment_items")
