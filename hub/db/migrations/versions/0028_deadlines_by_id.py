"""the cases' deadlines in id order, on SQLite: `due_before` pages without every finished case

Revision ID: 0028_deadlines_by_id
Revises: 0027_running_deadlines

`due_before` (a deadline before a time) lists cases newest first. Every finished case keeps
its old deadline, so "before now + 2 days" holds nearly every case: SQLite read the deadline
index's range and sorted every id in it (14.8 s at a million cases, bench/RESULTS.md). The list
now walks the newest ids in growing windows and takes that range only while it is the smaller
read (hub/db/case_pages.py); `(id + 0, due_at)` makes the walk a read of this index alone,
about a hundred cases to a page, where the table holds about one case (its document) to a page.
On `id + 0`, not `id`: SQLite takes an index led by the rowid for lookups by id and for other
lists' id order, where the table's own b-tree is the better read; only the walk names `id + 0`.
PostgreSQL plans `due_before` from its histogram of deadlines (a walk of the primary key when
they are dense): nothing there. Like 0025's township index, an expression index: a later batch
operation on `cases` (which copies the table on SQLite) must make it again.
"""

from alembic import op

revision = "0028_deadlines_by_id"
down_revision = "0027_running_deadlines"
branch_labels = None
depends_on = None

# As hub.db.models.id_by_deadline(): the walk names exactly this expression.
_INDEX = "ix_cases_id_due"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"CREATE INDEX {_INDEX} ON cases (id + 0, due_at)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP INDEX {_INDEX}")
