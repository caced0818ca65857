"""knowledge: kb_terms, how many published articles hold each indexed term (the search
plan's document frequencies), filled from the search rows already there; a narrow index
of the search rows' filter columns; on PostgreSQL the weighted tsvector stored (GIN-indexed)

Revision ID: 0020_knowledge_terms
Revises: 0006_knowledge
"""

from collections import Counter

import sqlalchemy as sa
from alembic import op

revision = "0020_knowledge_terms"
down_revision = "0006_knowledge"
branch_labels = None
depends_on = None


# As in 0006: the weighted tsvector of the segmented text.
_PG_VECTOR = (
    "(setweight(to_tsvector('simple'::regconfig, seg_title), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, seg_tags), 'B') || "
    "setweight(to_tsvector('simple'::regconfig, seg_body), 'D'))"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Stored, so ts_rank reads each matching row's vector instead of building it again.
        op.execute("DROP INDEX IF EXISTS ix_kb_search_tsv")
        op.execute(f"ALTER TABLE kb_search ADD COLUMN kb_tsv tsvector GENERATED ALWAYS AS ({_PG_VECTOR}) STORED")
        op.execute("CREATE INDEX ix_kb_search_tsv ON kb_search USING gin (kb_tsv)")
    terms = op.create_table(
        "kb_terms",
        sa.Column("term", sa.Text(), nullable=False),
        sa.Column("df", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("term"),
    )
    # The search's filter columns, narrow beside the text (read for every matching row).
    op.create_index("ix_kb_search_filter", "kb_search", ["article_pk", "valid_from", "valid_to", "kind", "owner_unit", "categories"])
    counts: Counter[str] = Counter()
    for title, tags, body in op.get_bind().execute(sa.text("SELECT seg_title, seg_tags, seg_body FROM kb_search")):
        counts.update({t for column in (title, tags, body) for t in column.split()})
    if counts:
        op.bulk_insert(terms, [{"term": t, "df": n} for t, n in counts.items()])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_kb_search_tsv")
        op.execute("ALTER TABLE kb_search DROP COLUMN kb_tsv")
        op.execute(f"CREATE INDEX ix_kb_search_tsv ON kb_search USING gin ({_PG_VECTOR})")
    op.drop_index("ix_kb_search_filter", table_name="kb_search")
    op.drop_table("kb_terms")
