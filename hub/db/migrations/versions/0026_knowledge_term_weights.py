"""knowledge: kb_term_weights, every term of every published article with the article's bm25
weight for it (title, tags and body), read best first for every stage of the search
(issue 21, target 4: several words read best first too); it replaces kb_title_terms
(title and tag terms only, which it holds with the same weights). Filled from the search
rows already there.

Revision ID: 0026_knowledge_term_weights
Revises: 0023_scale_reads (the merger re-chains); depends on 0020_knowledge_terms (the
knowledge line, whose kb_title_terms it replaces)
"""

from collections import Counter
from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0026_knowledge_term_weights"
down_revision = "0025_case_text_index"
branch_labels = None
depends_on = "0020_knowledge_terms"

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_BATCH = 10_000  # about 100 rows an article: written in batches, not held all at once


def upgrade() -> None:
    weights = op.create_table(
        "kb_term_weights",
        sa.Column("article_pk", _ID, nullable=False),
        sa.Column("term", sa.Text(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["article_pk"], ["kb_articles.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("article_pk", "term"),
        sqlite_with_rowid=False,  # the key lookup reads the weight in the key's b-tree
    )
    op.create_index("ix_kb_term_weights_rank", "kb_term_weights", ["term", "weight", "article_pk"])
    _fill(weights, _term_weights)
    op.drop_index("ix_kb_title_terms_rank", table_name="kb_title_terms")
    op.drop_table("kb_title_terms")


def downgrade() -> None:
    title_terms = op.create_table(
        "kb_title_terms",
        sa.Column("article_pk", _ID, nullable=False),
        sa.Column("term", sa.Text(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["article_pk"], ["kb_articles.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("article_pk", "term"),
    )
    op.create_index("ix_kb_title_terms_rank", "kb_title_terms", ["term", "weight", "article_pk"])

    def title_and_tags(seg_title: str, seg_tags: str, seg_body: str) -> dict[str, float]:
        named = set(seg_title.split()) | set(seg_tags.split())
        return {t: w for t, w in _term_weights(seg_title, seg_tags, seg_body).items() if t in named}

    _fill(title_terms, title_and_tags)
    op.drop_index("ix_kb_term_weights_rank", table_name="kb_term_weights")
    op.drop_table("kb_term_weights")


def _fill(table: sa.Table, weigh: Callable[[str, str, str], dict[str, float]]) -> None:
    batch: list[dict[str, object]] = []
    for pk, title, tags, body in op.get_bind().execute(sa.text("SELECT article_pk, seg_title, seg_tags, seg_body FROM kb_search")).fetchall():
        batch.extend({"article_pk": pk, "term": t, "weight": w} for t, w in sorted(weigh(title, tags, body).items()))
        if len(batch) >= _BATCH:
            op.bulk_insert(table, batch)
            batch = []
    if batch:
        op.bulk_insert(table, batch)


def _term_weights(seg_title: str, seg_tags: str, seg_body: str) -> dict[str, float]:
    """As knowledge.search.term_weights when written (kept here, not imported)."""
    k1, b, typical = 1.2, 0.75, 200
    title, tags, body = Counter(seg_title.split()), Counter(seg_tags.split()), Counter(seg_body.split())
    norm = k1 * (1 - b + b * (title.total() + tags.total() + body.total()) / typical)
    out = {}
    for term in title.keys() | tags.keys() | body.keys():
        f = 10.0 * title[term] + 5.0 * tags[term] + body[term]
        out[term] = f * (k1 + 1) / (f + norm)
    return out
