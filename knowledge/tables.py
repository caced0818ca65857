"""Knowledge-base tables. Versions are append-only rows; the article row points at the
latest and the published one; `kb_search` holds the published version of each live
article with its segmented text, which the full-text index reads.

Dialect-specific search structures are created by the migration only, outside these
models: on SQLite the FTS5 table `kb_fts` (external content over `kb_search`), on
PostgreSQL the stored weighted tsvector of the segmented columns and its GIN index.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.models import UNMANAGED_NAMES, Base, BigId, JSONDoc, UTCDateTime

FTS_TABLE = "kb_fts"
# FTS5 keeps its index in shadow tables named after the virtual table.
FTS_SHADOW_TABLES = tuple(f"{FTS_TABLE}_{suffix}" for suffix in ("data", "idx", "docsize", "config"))
PG_SEARCH_INDEX = "ix_kb_search_tsv"
# The columns the search filters on, narrow beside the text: checked for every matching row.
FILTER_INDEX = "ix_kb_search_filter"
# The weighted tsvector of the segmented text (title A, tags B, body D), a stored generated
# column on PostgreSQL only (migration 0020): the GIN index is on it, and ts_rank reads it
# instead of building every matching row's vector again.
PG_VECTOR_COLUMN = "kb_tsv"
PG_VECTOR = f"s.{PG_VECTOR_COLUMN}"
# Each term's articles by weight: the best-first reading of knowledge/search.py.
TERM_WEIGHTS_RANK = "ix_kb_term_weights_rank"


class KbArticleRow(Base):
    __tablename__ = "kb_articles"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    article_id: Mapped[str] = mapped_column(String(48), unique=True)
    owner_unit: Mapped[str] = mapped_column(String(32), index=True)
    latest_version: Mapped[int] = mapped_column(Integer)
    latest_status: Mapped[str] = mapped_column(String(16), index=True)
    published_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class KbVersionRow(Base):
    """One version. Content columns are written once; only `status` moves (review.py)."""

    __tablename__ = "kb_versions"

    article_pk: Mapped[int] = mapped_column(ForeignKey("kb_articles.pk", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    categories: Mapped[list[str]] = mapped_column(JSONDoc)
    tags: Mapped[list[str]] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)


class KbHistoryRow(Base):
    """Append-only: every edit and review step, who, when, which version, from and to."""

    __tablename__ = "kb_history"

    article_pk: Mapped[int] = mapped_column(ForeignKey("kb_articles.pk", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)


class KbSearchRow(Base):
    """The published version of each live article, as the search sees it."""

    __tablename__ = "kb_search"

    article_pk: Mapped[int] = mapped_column(ForeignKey("kb_articles.pk", ondelete="CASCADE"), primary_key=True)
    article_id: Mapped[str] = mapped_column(String(48))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    owner_unit: Mapped[str] = mapped_column(String(32))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    categories: Mapped[str] = mapped_column(Text)  # space-joined codes, for prefix filters
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    seg_title: Mapped[str] = mapped_column(Text)
    seg_tags: Mapped[str] = mapped_column(Text)
    seg_body: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        Index("ix_kb_search_kind_unit", "kind", "owner_unit"),
        Index(FILTER_INDEX, "article_pk", "valid_from", "valid_to", "kind", "owner_unit", "categories"),
    )


class KbTermRow(Base):
    """How many published articles hold each indexed term (title, tags or body): the search
    plan leaves out terms no article holds and relaxes the commonest word first. The empty
    term counts the published articles. Kept by the store in the publishing transaction,
    beside the full-text index."""

    __tablename__ = "kb_terms"

    term: Mapped[str] = mapped_column(Text, primary_key=True)
    df: Mapped[int] = mapped_column(Integer)


class KbTermWeightRow(Base):
    """Each term of a published article (title, tags or body) with the article's bm25 weight
    for it (search.term_weights): every term's articles, read best first through
    `ix_kb_term_weights_rank`, and an article's weight for a term read by key. Kept by the
    store in the publishing transaction (migration 0026). Without a rowid on SQLite: the
    key lookup finds the weight in the key's own b-tree, one descent instead of two."""

    __tablename__ = "kb_term_weights"

    article_pk: Mapped[int] = mapped_column(ForeignKey("kb_articles.pk", ondelete="CASCADE"), primary_key=True)
    term: Mapped[str] = mapped_column(Text, primary_key=True)
    weight: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index(TERM_WEIGHTS_RANK, "term", "weight", "article_pk"), {"sqlite_with_rowid": False})


class KbChangeRow(Base):
    """The knowledge base's own change feed (published / retired), kept beside the outbox:
    what the province is sent, and what a peer that pulls reads."""

    __tablename__ = "kb_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    article_id: Mapped[str] = mapped_column(String(48), index=True)
    version: Mapped[int] = mapped_column(Integer)
    event_type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc)

    __table_args__ = (UniqueConstraint("article_id", "version", "event_type", name="uq_kb_changes_once"),)


UNMANAGED_NAMES.update({FTS_TABLE, *FTS_SHADOW_TABLES, PG_SEARCH_INDEX, PG_VECTOR_COLUMN})
