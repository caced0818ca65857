"""cases.warned (预警, the doc's flag as a column, backfilled) and worker_passes (each leader
worker's last successful and last failed pass), for /metrics

Revision ID: 0021_worker_passes
Revises: 0001_core (core tables: it follows the core branch, not a feature's)

The backfill reads the documents in batches of ids and sets the column only on the cases whose
document says warned; every other row keeps the server default (false).
"""

import sqlalchemy as sa
from alembic import op

import hub.db.models

revision = "0021_worker_passes"
down_revision = "0001_core"
branch_labels = None
depends_on = None

_BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("warned", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "worker_passes",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("last_success_at", hub.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error_at", hub.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    _backfill()


def _backfill() -> None:
    conn = op.get_bind()
    cases = sa.table("cases", sa.column("id", sa.Integer), sa.column("doc", hub.db.models.JSONDoc), sa.column("warned", sa.Boolean))
    last = 0
    while True:
        rows = conn.execute(sa.select(cases.c.id, cases.c.doc).where(cases.c.id > last).order_by(cases.c.id).limit(_BATCH)).all()
        if not rows:
            break
        warned = [row_id for row_id, doc in rows if (doc.get("flags") or {}).get("warned")]
        if warned:
            conn.execute(sa.update(cases).where(cases.c.id.in_(warned)).values(warned=True))
        last = rows[-1][0]


def downgrade() -> None:
    op.drop_table("worker_passes")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("warned")
