"""cases at scale: the running cases' partial index and the history's time index

Revision ID: 0018_scale_indexes
Revises: 0014_repeat_calls (the core tables' chain)

Two reads went through every case of the database (issue 21, bench/scale.py):
- the scheduler's pass and the 预警 list asked for `state IN (the running states)` in id
  order; SQLite walked the primary key from the first case ever received, filtering, and the
  running cases are the newest few thousand of millions. `ix_cases_running` holds only the
  running cases' ids (a partial index, on SQLite and PostgreSQL alike), so those reads cost
  what is running, not what was ever received, and archived cases stay out of them;
- a month's assessment found the cases with history in the period by scanning every history
  line (`case_history.at` had no index): `ix_case_history_at` makes it the period's lines.
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_scale_indexes"
down_revision = "0014_repeat_calls"
branch_labels = None
depends_on = None

# The running states (hub.domain.lifecycle.RUNNING_STATES) as the index was built: the
# queries that use it name exactly these literals (hub.db.models.RUNNING_STATE_VALUES).
_RUNNING = sa.text("state IN ('awaiting_sign_off', 'in_progress', 'return_requested')")


def upgrade() -> None:
    op.create_index("ix_cases_running", "cases", ["id"], unique=False, sqlite_where=_RUNNING, postgresql_where=_RUNNING)
    op.create_index("ix_case_history_at", "case_history", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_case_history_at", table_name="case_history")
    op.drop_index("ix_cases_running", table_name="cases")
