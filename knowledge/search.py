"""Ranked full-text search over the published articles, one backend per dialect.

SQLite: FTS5 MATCH over the segmented columns, ranked by bm25 with the title weighted
above tags and body. PostgreSQL: the stored weighted tsvector ('simple' config,
GIN-indexed) matched with a tsquery of the same tokens, ranked by ts_rank. Both run the
same staged plan (all words first, fewer words only while results are missing, any word
last; see `plan`), so a long question still finds the article that shares its key words.
Snippets are cut from the original text around the matched words, identically on both.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Date, bindparam, text
from sqlalchemy.orm import Session

from knowledge.model import ArticleKind
from knowledge.tables import FILTER_INDEX, PG_VECTOR

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
    return " OR ".join(_fts5_term(t) for t in terms)


def pg_tsquery(terms: list[str]) -> str:
    """A to_tsquery('simple', ...) text ORing the terms, each a quoted lexeme."""
    return " | ".join(_pg_term(t) for t in terms)


def _fts5_term(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _pg_term(term: str) -> str:
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


# -- the plan ------------------------------------------------------------------------------
# Neither FTS5 nor ts_rank stops early: ranking costs one bm25 / ts_rank per matching row, so
# ORing every term of a question over 100,000 articles scores tens of thousands of rows to keep
# ten. The plan scores few rows instead: first the articles holding every word of the query
# (a word: a term or any of its synonyms), then, only while fewer than `limit` are found, the
# query with its commonest word left out, and so on, and any word last. A one-word stage
# whose rows would be many looks at titles and tags first (weights 10 and 5 against the
# body's 1: what ranks first anyway), best first from kb_title_terms, and at the bodies only
# when that is not enough. Earlier stages rank before later ones; within a stage, bm25
# (ts_rank on PostgreSQL) orders.

OVERFETCH = 4  # SQLite: the best limit x this, ranked unfiltered, then filtered
TIER_ABOVE = 1000  # a stage that may match more rows than this looks at titles and tags first
COMMON_SHARE = 0.4  # a word in more than this share of the articles says little: any-word stage only
ARTICLES = ""  # kb_terms' row for the number of published articles (no term is empty)


@dataclass(frozen=True)
class Stage:
    groups: tuple[tuple[str, ...], ...]  # every group must match; any term of a group does
    titles_only: bool = False  # one word: its best articles by title and tags (kb_title_terms)


def plan(groups: list[list[str]], df: dict[str, int], tier_above: int = TIER_ABOVE) -> list[Stage]:
    """The stages of a search, strictest first. `df`: how many published articles hold each
    term (and `ARTICLES` how many there are). A term no article holds is left out (it would
    only empty the all-words stage); a word left without terms goes too. The all-words
    stages ask only for key words: not a word inside another word of the query (社保 in
    社保卡: the index holds both wherever 社保卡 is; its synonyms go with it), nor a word most articles hold (申请),
    unless nothing else is left; every word counts in the any-word stage."""
    words = [tuple(t for t in g if df.get(t, 0) > 0) for g in groups]
    words = [w for w in words if w]
    if not words:
        return []
    weight = {w: sum(df[t] for t in w) for w in words}  # at most this many articles match the word
    # A word's first term is the query's own word, its synonyms follow.
    inside = {w for w in words if any(w[0] != o[0] and w[0] in o[0] for o in words)}
    key = [w for w in words if w not in inside] or words
    if articles := df.get(ARTICLES, 0):
        key = [w for w in key if max(df[t] for t in w) <= COMMON_SHARE * articles] or key
    commonest_first = sorted(range(len(key)), key=lambda i: (-weight[key[i]], i))
    stages: list[tuple[tuple[str, ...], ...]] = []
    # Fewer key words while two are left: one word alone (the rarest) is not what a question
    # of several words is about; the any-word stage ranks every word instead.
    for dropped in range(max(1, len(key) - 1)):
        keep = sorted(commonest_first[dropped:])
        stages.append(tuple(key[i] for i in keep))
    if len(words) > 1:
        stages.append((tuple(t for w in words for t in w),))  # any term
    out = []
    for stage in stages:
        # One word (or any word): its best title and tag articles read first. Not for several
        # words: FTS5 restricted to columns costs more than it saves (its idf pass is slower).
        if len(stage) == 1 and sum(df[t] for t in stage[0]) > tier_above:
            out.append(Stage(stage, titles_only=True))
        out.append(Stage(stage))
    return out


def fts5_stage(stage: Stage) -> str:
    """The full-text match of a stage: every group, any term of each."""
    return " AND ".join("(" + " OR ".join(_fts5_term(t) for t in w) + ")" for w in stage.groups)


def pg_stage(stage: Stage) -> str:
    return " & ".join("(" + " | ".join(_pg_term(t) for t in w) + ")" for w in stage.groups)


# -- titles and tags, ranked ahead of time -------------------------------------------------
# For a one-word stage that many articles match, the title-and-tags tier comes from
# kb_title_terms: each term of an article's title or tags with the article's bm25 weight for
# it, indexed by (term, weight), so the best articles for a word are read first and the scan
# stops after `limit` that pass the filters, however many articles hold the word.
K1, B = 1.2, 0.75  # bm25's constants, as FTS5 uses them
TYPICAL_LENGTH = 200  # tokens of a typical article: stands in for the corpus average


def title_term_weights(seg_title: str, seg_tags: str, seg_body: str) -> dict[str, float]:
    """bm25's term-frequency part (title 10, tags 5, body 1, as the FTS5 ranking) of each
    term in the title or the tags of one article."""
    title, tags, body = seg_title.split(), seg_tags.split(), seg_body.split()
    length = len(title) + len(tags) + len(body)
    norm = K1 * (1 - B + B * length / TYPICAL_LENGTH)
    out = {}
    for term in set(title) | set(tags):
        f = 10.0 * title.count(term) + 5.0 * tags.count(term) + body.count(term)
        out[term] = f * (K1 + 1) / (f + norm)
    return out


def _title_rows(session: Session, dialect: str, terms: tuple[str, ...], q: SearchQuery, limit: int, idf: dict[str, float]) -> list[tuple[Any, ...]]:
    """The best `limit` articles holding any of `terms` in the title or tags, by the weights
    kb_title_terms keeps times each term's idf, summed over the terms of an article found
    among each term's best `limit` (for one word with synonyms: the term it uses)."""
    best: dict[int, float] = {}
    for term in terms:
        params: dict[str, Any] = {"term": term, "limit": limit}
        where = _filters(q, params)
        hint = f" INDEXED BY {FILTER_INDEX}" if dialect == "sqlite" else ""
        joined = f" JOIN kb_search s{hint} ON s.article_pk = c.article_pk" if where else ""
        statement = text(f"SELECT c.article_pk, c.weight FROM kb_title_terms c{joined} WHERE c.term = :term{where} ORDER BY c.weight DESC LIMIT :limit")
        if "on" in params:
            statement = statement.bindparams(bindparam("on", type_=Date))
        for pk, weight in session.execute(statement, params):
            best[pk] = best.get(pk, 0.0) + float(weight) * idf.get(term, 1.0)
    top = sorted(best, key=lambda pk: (-best[pk], pk))[:limit]
    if not top:
        return []
    statement = text(f"SELECT s.article_pk, {_COLUMNS} FROM kb_search s WHERE s.article_pk IN :pks").bindparams(bindparam("pks", expanding=True))
    rows = {r[0]: tuple(r[1:]) for r in session.execute(statement, {"pks": top})}
    return [(*rows[pk], best[pk]) for pk in top if pk in rows]


def idf(df: dict[str, int]) -> dict[str, float]:
    """bm25's inverse document frequency of each term (FTS5's formula)."""
    n = df.get(ARTICLES, 0)
    return {t: math.log(1 + (n - k + 0.5) / (k + 0.5)) for t, k in df.items() if t != ARTICLES and n >= k}


def document_frequencies(session: Session, terms: list[str]) -> dict[str, int]:
    """How many published articles hold each term (kb_terms, kept by the store)."""
    if not terms:
        return {}
    statement = text("SELECT term, df FROM kb_terms WHERE term IN :terms").bindparams(bindparam("terms", expanding=True))
    return {term: int(n) for term, n in session.execute(statement, {"terms": terms})}


def run(session: Session, dialect: str, groups: list[list[str]], q: SearchQuery) -> list[tuple[Any, ...]]:
    """Rows (columns of _COLUMNS, score: higher is better), best first: the stages of `plan`
    in turn until `q.limit` rows are found. The score's integer part tells the stage (more is
    stricter), its fraction the rank within the stage."""
    terms = [t for g in groups for t in g]
    df = document_frequencies(session, [ARTICLES, *terms]) if terms else {}
    stages, weights = plan(groups, df, TIER_ABOVE), idf(df)
    found: dict[str, tuple[Any, ...]] = {}
    for i, stage in enumerate(stages):
        level = len(stages) - i
        for row in _stage_rows(session, dialect, stage, q, q.limit + len(found), weights):
            if row[0] not in found:
                raw = max(float(row[-1]), 0.0)
                found[row[0]] = (*row[:-1], level + raw / (1.0 + raw))
                if len(found) == q.limit:
                    return list(found.values())
    return list(found.values())


def _stage_rows(session: Session, dialect: str, stage: Stage, q: SearchQuery, limit: int, idf: dict[str, float]) -> list[tuple[Any, ...]]:
    if stage.titles_only:
        return _title_rows(session, dialect, stage.groups[0], q, limit, idf)
    params: dict[str, Any] = {"limit": limit}
    where = _filters(q, params)
    if dialect == "sqlite":
        params["match"] = fts5_stage(stage)
        # bm25() is lower-is-better; weights: title 10, tags 5, body 1. The text is read for
        # the few rows kept. Filters checked on every matching row cost more than the ranking
        # (a lookup each), so the best few are ranked unfiltered and filtered after; only when
        # that leaves too few are the filters checked on every row, on the narrow index.
        bm25 = "-bm25(kb_fts, 10.0, 5.0, 1.0)"
        ranked = f"SELECT kb_fts.rowid AS pk, {bm25} AS score FROM kb_fts {{join}}WHERE kb_fts MATCH :match{{where}} ORDER BY 2 DESC, 1 LIMIT {{n}}"
        top = "({ranked}) AS top JOIN kb_search s ON s.article_pk = top.pk{where}"
        outer = f"SELECT {_COLUMNS}, top.score FROM {top} ORDER BY top.score DESC, top.pk LIMIT :limit"
        if where:
            params["over"] = OVERFETCH * limit
            rows = _execute(session, outer.format(ranked=ranked.format(join="", where="", n=":over"), where=" WHERE 1 = 1" + where), params)
            if len(rows) == limit:
                return rows
        join = f"JOIN kb_search s INDEXED BY {FILTER_INDEX} ON s.article_pk = kb_fts.rowid " if where else ""
        sql = outer.format(ranked=ranked.format(join=join, where=where, n=":limit"), where="")
    else:
        params["tsq"] = pg_stage(stage)
        # Weights {D, C, B, A}: body 0.1, tags 0.4, title 1.0; normalisation 1 damps long bodies.
        sql = (
            f"SELECT {_COLUMNS}, ts_rank('{{0.1, 0.2, 0.4, 1.0}}', {PG_VECTOR}, tsq, 1) AS score "
            f"FROM kb_search s, to_tsquery('simple', :tsq) AS tsq WHERE {PG_VECTOR} @@ tsq{where} "
            f"ORDER BY score DESC, s.article_id LIMIT :limit"
        )
    return _execute(session, sql, params)


def _execute(session: Session, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    statement = text(sql)
    if "on" in params:
        statement = statement.bindparams(bindparam("on", type_=Date))
    return [tuple(r) for r in session.execute(statement, {k: v for k, v in params.items() if f":{k}" in sql})]


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
