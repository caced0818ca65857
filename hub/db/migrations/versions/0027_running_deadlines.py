"""the running cases' deadlines, a partial index: `overdue=true` on SQLite by what is running

Revision ID: 0027_running_deadlines
Revises: 0026_knowledge_term_weights

`overdue=true` is the stored flag OR a running case past its deadline. On SQLite the running
side of that OR had two indexes to choose from: the state index and the deadline index. With
the statistics of a filled database (bench/scale_generate.py: nearly every case finished, each
with its old deadline) the planner took the deadline index's range, every case past its
deadline, that is nearly all of them: 0.65-2.8 s at 200,000 cases, where the 0023 run had 35 ms
with other statistics. `ix_cases_running_deadline` holds the deadlines of the running cases
only (partial, the same literals as ix_cases_running), so the running side is a range of a
few thousand entries, whichever statistics the database has. PostgreSQL has read that side
through its expression index since 0023; the partial index is made there too, so both
databases have the one schema of the models (it costs what the running cases are, and
PostgreSQL may use either).
"""

import sqlalchemy as sa
from alembic import op

revision = "0027_running_deadlines"
down_revision = "0026_knowledge_term_weights"
branch_labels = None
depends_on = None

# The running states as 0018 wrote them (hub.db.models.RUNNING_STATE_VALUES).
_RUNNING_SQL = "state IN ('awaiting_sign_off', 'in_progress', 'return_requested')"


def upgrade() -> None:
    where = sa.text(_RUNNING_SQL)
    op.create_index("ix_cases_running_deadline", "cases", ["due_at"], unique=False, sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_index("ix_cases_running_deadline", table_name="cases")
