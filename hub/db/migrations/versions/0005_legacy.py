"""legacy: import runs, the dedupe index, duplicate candidates, bridge cursors

Revision ID: 0005_legacy
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

import hub.db.models

revision = "0005_legacy"
down_revision = "0001_core"
branch_labels = ("legacy",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "legacy_import_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("line", sa.String(length=8), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("last_row", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("started_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", hub.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("legacy_import_runs", schema=None) as batch_op:
        batch_op.create_index("uq_legacy_run_file", ["line", "file_sha256"], unique=True)
    op.create_table(
        "legacy_records",
        sa.Column("line", sa.String(length=8), nullable=False),
        sa.Column("original_id", sa.String(length=128), nullable=False),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("case_number", sa.String(length=40), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("row", sa.Integer(), nullable=True),
        sa.Column("phone_key", sa.String(length=32), nullable=True),
        sa.Column("received_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("compared", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("line", "original_id"),
    )
    with op.batch_alter_table("legacy_records", schema=None) as batch_op:
        batch_op.create_index("ix_legacy_records_phone", ["phone_key", "received_at"], unique=False)
        batch_op.create_index("ix_legacy_records_compared", ["compared"], unique=False)
        batch_op.create_index(batch_op.f("ix_legacy_records_case_id"), ["case_id"], unique=False)
    op.create_table(
        "legacy_duplicate_candidates",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("case_a", sa.String(length=40), nullable=False),
        sa.Column("case_b", sa.String(length=40), nullable=False),
        sa.Column("line_a", sa.String(length=8), nullable=False),
        sa.Column("line_b", sa.String(length=8), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("text_similarity", sa.Float(), nullable=False),
        sa.Column("hours_apart", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", hub.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("legacy_duplicate_candidates", schema=None) as batch_op:
        batch_op.create_index("uq_legacy_candidate_pair", ["case_a", "case_b"], unique=True)
        batch_op.create_index(batch_op.f("ix_legacy_duplicate_candidates_status"), ["status"], unique=False)
    op.create_table(
        "legacy_bridge_cursors",
        sa.Column("line", sa.String(length=8), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("updated_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("line"),
    )


def downgrade() -> None:
    op.drop_table("legacy_bridge_cursors")
    with op.batch_alter_table("legacy_duplicate_candidates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legacy_duplicate_candidates_status"))
        batch_op.drop_index("uq_legacy_candidate_pair")
    op.drop_table("legacy_duplicate_candidates")
    with op.batch_alter_table("legacy_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legacy_records_case_id"))
        batch_op.drop_index("ix_legacy_records_compared")
        batch_op.drop_index("ix_legacy_records_phone")
    op.drop_table("legacy_records")
    with op.batch_alter_table("legacy_import_runs", schema=None) as batch_op:
        batch_op.drop_index("uq_legacy_run_file")
    op.drop_table("legacy_import_runs")
