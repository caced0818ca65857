"""knowledge: articles, immutable versions, review history, search rows, change feed;
FTS5 on SQLite, a GIN index on the weighted tsvector on PostgreSQL

Revision ID: 0006_knowledge
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hub.db.models

revision = "0006_knowledge"
down_revision = "0001_core"
branch_labels = ("knowledge",)
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Kept literally here (not imported) so the migration stays what it was when written.
_PG_VECTOR = (
    "(setweight(to_tsvector('simple'::regconfig, seg_title), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, seg_tags), 'B') || "
    "setweight(to_tsvector('simple'::regconfig, seg_body), 'D'))"
)


def upgrade() -> None:
    op.create_table(
        "kb_articles",
        sa.Column("pk", _ID, autoincrement=True, nullable=False),
        sa.Column("article_id", sa.String(length=48), nullable=False),
        sa.Column("owner_unit", sa.String(length=32), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("latest_status", sa.String(length=16), nullable=False),
        sa.Column("published_version", sa.Integer(), nullable=True),
        sa.Column("created_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("article_id"),
    )
    with op.batch_alter_table("kb_articles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_articles_owner_unit"), ["owner_unit"], unique=False)
        batch_op.create_index(batch_op.f("ix_kb_articles_latest_status"), ["latest_status"], unique=False)
    op.create_table(
        "kb_versions",
        sa.Column("article_pk", _ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("categories", _JSON, nullable=False),
        sa.Column("tags", _JSON, nullable=False),
        sa.Column("created_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["article_pk"], ["kb_articles.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("article_pk", "version"),
    )
    op.create_table(
        "kb_history",
        sa.Column("article_pk", _ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["article_pk"], ["kb_articles.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("article_pk", "seq"),
    )
    op.create_table(
        "kb_search",
        sa.Column("article_pk", _ID, nullable=False),
        sa.Column("article_id", sa.String(length=48), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("owner_unit", sa.String(length=32), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("seg_title", sa.Text(), nullable=False),
        sa.Column("seg_tags", sa.Text(), nullable=False),
        sa.Column("seg_body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["article_pk"], ["kb_articles.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("article_pk"),
    )
    with op.batch_alter_table("kb_search", schema=None) as batch_op:
        batch_op.create_index("ix_kb_search_kind_unit", ["kind", "owner_unit"], unique=False)
    op.create_table(
        "kb_changes",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("article_id", sa.String(length=48), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", hub.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("article_id", "version", "event_type", name="uq_kb_changes_once"),
    )
    with op.batch_alter_table("kb_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_changes_article_id"), ["article_id"], unique=False)

    # The full-text index over the segmented text. Segmentation happens in Python, so the
    # store keeps it in step on publish and retire (no triggers on raw text).
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE kb_fts USING fts5(seg_title, seg_tags, seg_body, "
            "content='kb_search', content_rowid='article_pk', tokenize='unicode61 remove_diacritics 0')"
        )
    elif op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX ix_kb_search_tsv ON kb_search USING gin ({_PG_VECTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS kb_fts")
    elif op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_kb_search_tsv")
    with op.batch_alter_table("kb_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kb_changes_article_id"))
    op.drop_table("kb_changes")
    with op.batch_alter_table("kb_search", schema=None) as batch_op:
        batch_op.drop_index("ix_kb_search_kind_unit")
    op.drop_table("kb_search")
    op.drop_table("kb_history")
    op.drop_table("kb_versions")
    with op.batch_alter_table("kb_articles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kb_articles_latest_status"))
        batch_op.drop_index(batch_op.f("ix_kb_articles_owner_unit"))
    op.drop_table("kb_articles")
