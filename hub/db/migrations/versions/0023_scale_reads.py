"""cases at scale, second step: the assessment's history index, the overdue flag's partial index,
channel and category in id order

Revision ID: 0023_scale_reads
Revises: 0019_person_sealed (the core tables' chain: 0013 → 0014 → 0018 → 0019)

Reads that still went through every case, or every line of seven months (issue 21, bench/scale.py):
- a month's assessment read every assessed line of every case with history in the look-back
  (180 days): it now reads the cases with an assessed line in the period or a deadline line
  in the look-back (supervision.queries.assessed_cases), both through `(action, at)`, which
  replaces the index on `action` alone (its prefix answers what that one did);
- `overdue=true` (the stored flag, or a running case past its deadline): with few matches
  it walked every case newest first. `ix_cases_overdue_flag` holds only the flagged cases
  (partial, so its statistics count them, where the index on `overdue` saw one value): the
  OR is answered by it and the state index (SQLite: MULTI-INDEX OR), then sorted. It
  replaces the index on the whole column (one value for nearly every case: no read used it
  but a scan, and the planner took that scan over the partial index). On PostgreSQL the
  running side goes through `ix_cases_running_due`, an expression index (the running cases'
  deadlines, NULL for the others) whose statistics tell the planner how few are past due;
- `q=` on PostgreSQL (`LIKE '%text%'`) read every case for a phrase found in none:
  `ix_cases_search_trgm` (GIN, pg_trgm, where the extension can be created) answers it;
- `channel=` and `category=` walked the cases newest first to their last page: with
  `(channel, id)` and `(category_code, id)` each page is a range of its own index.
"""

import sqlalchemy as sa
from alembic import op

revision = "0023_scale_reads"
down_revision = "0019_person_sealed"
branch_labels = None
depends_on = None

# As hub.db.models.OVERDUE_FLAG_SQL: the queries name exactly this condition.
_FLAGGED = sa.text("overdue = true")
# The running states as 0018 wrote them (hub.db.models.RUNNING_STATE_VALUES).
_RUNNING_SQL = "state IN ('awaiting_sign_off', 'in_progress', 'return_requested')"


def upgrade() -> None:
    op.create_index("ix_case_history_action_at", "case_history", ["action", "at"], unique=False)
    op.drop_index("ix_case_history_action", table_name="case_history")
    op.create_index("ix_cases_overdue_flag", "cases", ["overdue"], unique=False, sqlite_where=_FLAGGED, postgresql_where=_FLAGGED)
    op.drop_index("ix_cases_overdue", table_name="cases")
    op.create_index("ix_cases_channel_id", "cases", ["channel", "id"], unique=False)
    op.create_index("ix_cases_category_id", "cases", ["category_code", "id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX ix_cases_running_due ON cases ((CASE WHEN {_RUNNING_SQL} THEN due_at END))")
        _text_index(op.get_bind())


def _text_index(bind: sa.Connection) -> None:
    """PostgreSQL: a trigram index of the case text where pg_trgm can be had; without it
    `q=` stays a scan (docs/operations.md), nothing else changes."""
    if not bind.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'").scalar():
        return
    try:
        with bind.begin_nested():  # a refused CREATE EXTENSION must not end the migration's transaction
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError:
        return
    bind.exec_driver_sql("CREATE INDEX ix_cases_search_trgm ON cases USING gin (search_text gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_cases_search_trgm")
        op.execute("DROP INDEX ix_cases_running_due")
    op.drop_index("ix_cases_category_id", table_name="cases")
    op.drop_index("ix_cases_channel_id", table_name="cases")
    op.create_index("ix_cases_overdue", "cases", ["overdue"], unique=False)
    op.drop_index("ix_cases_overdue_flag", table_name="cases")
    op.create_index("ix_case_history_action", "case_history", ["action"], unique=False)
    op.drop_index("ix_case_history_action_at", table_name="case_history")
