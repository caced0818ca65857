"""knowledge: kb_terms, how many published articles hold each indexed term (the search
plan's document frequencies) and kb_title_terms (each title or tag term with its bm25
weight, read best first), filled from the search rows already there; a narrow index
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

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


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
    title_terms = op.create_table(
        "kb_title_terms",
        sa.Column("article_pk", _ID, nullable=False),
        sa.Column("term", sa.Text(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["article_pk"], ["kb_articles.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("article_pk", "term"),
    )
    op.create_index("ix_kb_title_terms_rank", "kb_title_terms", ["term", "weight", "article_pk"])
    counts: Counter[str] = Counter()
    weights: list[dict[str, object]] = []
    for pk, title, tags, body in op.get_bind().execute(sa.text("SELECT article_pk, seg_title, seg_tags, seg_body FROM kb_search")):
        counts.update({"", *(t for column in (title, tags, body) for t in column.split())})  # "": the article count
        weights.extend({"article_pk": pk, "term": t, "weight": w} for t, w in _title_term_weights(title, tags, body).items())
    if counts:
        op.bulk_insert(terms, [{"term": t, "df": n} for t, n in counts.items()])
    if weights:
        op.bulk_insert(title_terms, weights)


def _title_term_weights(seg_title: str, seg_tags: str, seg_body: str) -> dict[str, float]:
    """As knowledge.search.title_term_weights when written (kept here, not imported)."""
    k1, b, typical = 1.2, 0.75, 200
    title, tags, body = seg_title.split(), seg_tags.split(), seg_body.split()
    norm = k1 * (1 - b + b * (len(title) + len(tags) + len(body)) / typical)
    out = {}
    for term in set(title) | set(tags):
        f = 10.0 * title.count(term) + 5.0 * tags.count(term) + body.count(term)
        out[term] = f * (k1 + 1) / (f + norm)
    return out


def downgrade() -> None:
    op.drop_index("ix_kb_title_terms_rank", table_name="kb_title_terms")
    op.drop_table("kb_title_terms")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_kb_search_tsv")
        op.execute("ALTER TABLE kb_search DROP COLUMN kb_tsv")
        op.execute(f"CREATE INDEX ix_kb_search_tsv ON kb_search USING gin ({_PG_VECTOR})")
    op.drop_index("ix_kb_search_filter", table_name="kb_search")
    op.drop_table("kb_terms")
