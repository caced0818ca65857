"""cases: the phone index (a keyed hash of the caller's phone) and the receipt time, backfilled

Revision ID: 0013_phone_index
Revises: 0001_core (a core table: it follows the core branch, not a feature's)

The backfill hashes each case's phone with the key of the hub that runs the migration
(hub.db.phone_index.engine_key; the key file's when none was given).
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import context, op

import hub.db.models
from hub.db.phone_index import engine_key, key_from_file, phone_hash

revision = "0013_phone_index"
down_revision = "0001_core"
branch_labels = None
depends_on = None

_BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("received_at", hub.db.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_cases_phone_hash", ["phone_hash", "received_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_received_at"), ["received_at"], unique=False)
    _backfill()


def _backfill() -> None:
    key = engine_key(context.config.attributes.get("engine")) or key_from_file()
    conn = op.get_bind()
    cases = sa.table(
        "cases",
        sa.column("id", sa.Integer),
        sa.column("doc", hub.db.models.JSONDoc),
        sa.column("phone_hash", sa.String),
        sa.column("received_at", hub.db.models.UTCDateTime(timezone=True)),
    )
    last = 0
    while True:
        rows = conn.execute(sa.select(cases.c.id, cases.c.doc).where(cases.c.id > last).order_by(cases.c.id).limit(_BATCH)).all()
        if not rows:
            break
        for row_id, doc in rows:
            phone = (doc.get("person") or {}).get("phone")
            received = (doc.get("intake") or {}).get("received_at")
            received_at = datetime.fromisoformat(received).astimezone(UTC) if received else None
            conn.execute(sa.update(cases).where(cases.c.id == row_id).values(phone_hash=phone_hash(key, phone) if phone else None, received_at=received_at))
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_received_at"))
        batch_op.drop_index("ix_cases_phone_hash")
        batch_op.drop_column("received_at")
        batch_op.drop_column("phone_hash")
