"""Ranked full-text search over the published articles, one backend per dialect.

SQLite: FTS5 MATCH over the segmented columns, ranked by bm25 with the title weighted
above tags and body. PostgreSQL: the weighted tsvector ('simple' config, GIN-indexed)
matched with a tsquery of the same tokens, ranked by ts_rank. Both OR the query terms, so
a long question still finds the article that shares its key words, ranked by how much it
shares. Snippets are cut from the original text around the matched words, identically
on both.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Date, bindparam, text
from sqlalchemy.orm import Session

from knowledge.model import ArticleKind
from knowledge.tables import PG_VECTOR

MARK_OPEN, MARK_CLOSE = "<mark>", "</mark>"


@dataclass(frozen=True)
class SearchQuery:
    text: str
    kinds: tuple[ArticleKind, ...] = ()
    unit: str | None = None
    category: str | None = None  # a category code or a prefix of one ("03" finds "0302")
    valid_on: date | None = None  # only articles valid on this day; None: any validity
    limit: int = 10


@dataclass(frozen=True)
class Hit:
    article_id: str
    version: int
    kind: str
    owner_unit: str
    title: str
    title_highlight: str
    snippet: str
    score: float
    valid_from: date | None
    valid_to: date | None
    categories: list[str] = field(default_factory=list)

    @property
    def citation(self) -> str:
        return f"{self.article_id}@{self.version}"


_COLUMNS = "s.article_id, s.version, s.kind, s.owner_unit, s.title, s.body, s.valid_from, s.valid_to, s.categories"


def _filters(q: SearchQuery, params: dict[str, Any]) -> str:
    sql = []
    if q.kinds:
        names = []
        for i, kind in enumerate(q.kinds):
            params[f"kind{i}"] = kind.value
            names.append(f":kind{i}")
        sql.append(f"s.kind IN ({', '.join(names)})")
    if q.unit:
        params["unit"] = q.unit
        sql.append("s.owner_unit = :unit")
    if q.category:
        # Codes are space-joined with a leading space: ' 0302 1001', so a prefix is ' 03%'.
        params["category"] = f"% {q.category}%"
        sql.append("(' ' || s.categories) LIKE :category")
    if q.valid_on is not None:
        params["on"] = q.valid_on
        sql.append("(s.valid_from IS NULL OR s.valid_from <= :on) AND (s.valid_to IS NULL OR s.valid_to >= :on)")
    return "".join(f" AND {f}" for f in sql)


def fts5_match(terms: list[str]) -> str:
    """An FTS5 query ORing the terms, each a quoted string (quotes doubled)."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


def pg_tsquery(terms: list[str]) -> str:
    """A to_tsquery('simple', ...) text ORing the terms, each a quoted lexeme."""
    return " | ".join("'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in terms)


def run(session: Session, dialect: str, terms: list[str], q: SearchQuery) -> list[tuple[Any, ...]]:
    """Rows (columns of _COLUMNS, score: higher is better), best first."""
    if not terms:
        return []
    params: dict[str, Any] = {"limit": q.limit}
    where = _filters(q, params)
    if dialect == "sqlite":
        params["match"] = fts5_match(terms)
        # bm25() is lower-is-better; weights: title 10, tags 5, body 1.
        sql = (
            f"SELECT {_COLUMNS}, -bm25(kb_fts, 10.0, 5.0, 1.0) AS score FROM kb_fts "
            f"JOIN kb_search s ON s.article_pk = kb_fts.rowid WHERE kb_fts MATCH :match{where} "
            f"ORDER BY bm25(kb_fts, 10.0, 5.0, 1.0) LIMIT :limit"
        )
    else:
        params["tsq"] = pg_tsquery(terms)
        # Weights {D, C, B, A}: body 0.1, tags 0.4, title 1.0; normalisation 1 damps long bodies.
        sql = (
            f"SELECT {_COLUMNS}, ts_rank('{{0.1, 0.2, 0.4, 1.0}}', {PG_VECTOR}, tsq, 1) AS score "
            f"FROM kb_search s, to_tsquery('simple', :tsq) AS tsq WHERE {PG_VECTOR} @@ tsq{where} "
            f"ORDER BY score DESC, s.article_id LIMIT :limit"
        )
    statement = text(sql)
    if "on" in params:
        statement = statement.bindparams(bindparam("on", type_=Date))
    return [tuple(r) for r in session.execute(statement, params)]


def to_hits(rows: list[tuple[Any, ...]], terms: list[str], width: int = 120) -> list[Hit]:
    hits = []
    for article_id, version, kind, unit, title, body, valid_from, valid_to, categories, score in rows:
        hits.append(
            Hit(
                article_id=article_id,
                version=version,
                kind=kind,
                owner_unit=unit,
                title=title,
                title_highlight=highlight(title, terms, len(title)),
                snippet=highlight(body, terms, width),
                score=float(score),
                valid_from=_day(valid_from),
                valid_to=_day(valid_to),
                categories=categories.split(),
            )
        )
    return hits


def _day(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def highlight(source: str, terms: list[str], width: int) -> str:
    """The `width` characters of `source` holding the most matched terms, HTML-escaped, with
    each match wrapped in <mark>; '…' where the text was cut."""
    lowered = source.lower()
    spans: list[tuple[int, int]] = []
    taken = [False] * len(source)
    for term in sorted({t for t in terms if t}, key=len, reverse=True):  # longest wins an overlap
        start = lowered.find(term)
        while start != -1:
            end = start + len(term)
            if not any(taken[start:end]):
                spans.append((start, end))
                for i in range(start, end):
                    taken[i] = True
            start = lowered.find(term, end)
    spans.sort()
    begin = 0
    if len(source) > width and spans:
        lead = width // 5
        best = max(range(len(spans)), key=lambda i: sum(1 for s in spans if spans[i][0] <= s[0] and s[1] <= spans[i][0] - lead + width))
        begin = max(0, min(spans[best][0] - lead, len(source) - width))
    end = min(len(source), begin + width)
    out, pos = [], begin
    for s, e in spans:
        if s < begin or e > end:
            continue
        out.append(html.escape(source[pos:s]))
        out.append(MARK_OPEN + html.escape(source[s:e]) + MARK_CLOSE)
        pos = e
    out.append(html.escape(source[pos:end]))
    return ("…" if begin > 0 else "") + "".join(out) + ("…" if end < len(source) else "")
