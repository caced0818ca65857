"""channels: the WeChat guided dialogues, per openid, shared by every hub process

Revision ID: 0022_wechat_dialogues
Revises: 0001_core (it names no other table: it follows the core, as 0013 and 0021 do, so it
merges with any feature's branch)
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hub.db.models

revision = "0022_wechat_dialogues"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wechat_dialogues",
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("state", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True),
        sa.Column("last_msg_id", sa.BigInteger(), nullable=True),
        sa.Column("last_reply", sa.Text(), nullable=True),
        sa.Column("expires_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("openid"),
    )
    op.create_index("ix_wechat_dialogues_expires_at", "wechat_dialogues", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_wechat_dialogues_expires_at", table_name="wechat_dialogues")
    op.drop_table("wechat_dialogues")
