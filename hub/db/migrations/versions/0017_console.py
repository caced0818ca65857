"""console: operator accounts, their sessions, the sign-in audit log

Revision ID: 0017_console
Revises: 0001_core (its own branch: the console feature's tables)
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hub.db.models

revision = "0017_console"
down_revision = "0001_core"
branch_labels = ("console",)
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=32), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=True),
        sa.Column("divisions", _JSON, nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("created_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", hub.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_signins", sa.Integer(), nullable=False),
        sa.Column("locked_until", hub.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "operator_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", hub.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"]),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("operator_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_operator_sessions_operator", ["operator_id"], unique=False)
    op.create_table(
        "operator_signins",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("remote", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("operator_signins", schema=None) as batch_op:
        batch_op.create_index("ix_operator_signins_username", ["username", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("operator_signins", schema=None) as batch_op:
        batch_op.drop_index("ix_operator_signins_username")
    op.drop_table("operator_signins")
    with op.batch_alter_table("operator_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_operator_sessions_operator")
    op.drop_table("operator_sessions")
    op.drop_table("operators")
