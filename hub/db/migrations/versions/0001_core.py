"""core: cases, history, events, keys, calendar

Revision ID: 0001_core
Revises:
Create Date: 2026-11-24 16:25:52.967208
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hub.db.models

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("party", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=True),
        sa.Column("divisions", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", hub.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_id"),
    )
    op.create_table(
        "calendar_overrides",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("is_workday", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("updated_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "case_number_seq",
        sa.Column("day", sa.String(length=8), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("request_type", sa.String(length=16), nullable=False),
        sa.Column("category_code", sa.String(length=32), nullable=False),
        sa.Column("division_code", sa.String(length=12), nullable=False),
        sa.Column("county_code", sa.String(length=6), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("lead_unit", sa.String(length=32), nullable=True),
        sa.Column("sign_off_due", hub.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("due_at", hub.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("created_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("doc", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cases_county_code"), ["county_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_due_at"), ["due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_lead_unit"), ["lead_unit"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_overdue"), ["overdue"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_request_type"), ["request_type"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_state"), ["state"], unique=False)

    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("case_number", sa.String(length=40), nullable=False),
        sa.Column("created_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key"),
    )
    op.create_table(
        "case_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_number", sa.String(length=40), nullable=False),
        sa.Column("case_version", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=48), nullable=False),
        sa.Column("occurred_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_events_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_events_type"), ["type"], unique=False)

    op.create_table(
        "case_external_refs",
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("system", "external_id"),
    )
    with op.batch_alter_table("case_external_refs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_external_refs_case_id"), ["case_id"], unique=False)
        batch_op.create_index("uq_case_ref_system", ["case_id", "system"], unique=True)

    op.create_table(
        "case_history",
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=32), nullable=True),
        sa.Column("to_state", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id", "seq"),
    )
    with op.batch_alter_table("case_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_history_action"), ["action"], unique=False)

    op.create_table(
        "case_units",
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id", "unit_code"),
    )
    with op.batch_alter_table("case_units", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_units_unit_code"), ["unit_code"], unique=False)


def downgrade() -> None:
    op.drop_table("leases")
    with op.batch_alter_table("case_units", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_units_unit_code"))

    op.drop_table("case_units")
    with op.batch_alter_table("case_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_history_action"))

    op.drop_table("case_history")
    with op.batch_alter_table("case_external_refs", schema=None) as batch_op:
        batch_op.drop_index("uq_case_ref_system")
        batch_op.drop_index(batch_op.f("ix_case_external_refs_case_id"))

    op.drop_table("case_external_refs")
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_events_type"))
        batch_op.drop_index(batch_op.f("ix_case_events_case_id"))

    op.drop_table("case_events")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_state"))
        batch_op.drop_index(batch_op.f("ix_cases_request_type"))
        batch_op.drop_index(batch_op.f("ix_cases_overdue"))
        batch_op.drop_index(batch_op.f("ix_cases_lead_unit"))
        batch_op.drop_index(batch_op.f("ix_cases_due_at"))
        batch_op.drop_index(batch_op.f("ix_cases_county_code"))

    op.drop_table("cases")
    op.drop_table("case_number_seq")
    op.drop_table("calendar_overrides")
    op.drop_table("api_keys")
