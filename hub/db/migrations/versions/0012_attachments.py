"""attachments: the photos and documents of a case (the files are in the attachments directory)

Revision ID: 0012_attachments
Revises: 0001_core (a core table: it follows the core branch, not a feature's)
"""

import sqlalchemy as sa
from alembic import op

import hub.db.models

revision = "0012_attachments"
down_revision = "0001_core"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "case_attachments",
        sa.Column("seq", _ID, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("case_number", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("uploader_role", sa.String(length=16), nullable=False),
        sa.Column("uploaded_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("case_attachments", schema=None) as batch_op:
        batch_op.create_index("ix_case_attachments_case", ["case_number", "seq"], unique=False)
        batch_op.create_index("ix_case_attachments_sha256", ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("case_attachments", schema=None) as batch_op:
        batch_op.drop_index("ix_case_attachments_sha256")
        batch_op.drop_index("ix_case_attachments_case")
    op.drop_table("case_attachments")
