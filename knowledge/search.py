"""Ranked search over the published articles, the same plan and scores on both databases.

Each stage of the plan (all words first, fewer words only while results are missing, any
word last; see `plan`) is read best first from kb_term_weights: every term's articles by
their bm25 weight for it, kept at write time, so a stage reads the heads of a few lists
instead of scoring every matching row (`best_first`). A stage whose rarest word few
articles hold, or whose heads do not hold enough articles, is ranked by the full-text index: on SQLite FTS5 MATCH over the segmented
columns ranked by bm25 (title weighted above tags and body), on PostgreSQL the stored
weighted tsvector ('simple' config, GIN-indexed) matched with a tsquery of the same tokens,
ranked by ts_rank. Snippets are cut from the original text around the matched words,
identically on both.

Over 400 lines on purpose: the plan, the best-first reading and its full-text fallback
share their stages, filters and scores; split, each half would import the other's.
"""

from __future__ import annotations

import html
import math
from collections import Counter
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
# ORing every term of a question over 100,000 articles matches tens of thousands of rows to
# keep ten. The plan asks for fewer: first the articles holding every word of the query (a
# word: a term or any of its synonyms), then, only while fewer than `limit` are found, the
# query with its commonest word left out, and so on, and any word last. Earlier stages rank
# before later ones. Each stage is read best first (`best_first`): every term's articles by
# their bm25 weight for it, kept at write time, so a stage reads the heads of a few lists
# instead of scoring every matching row; the full-text index (bm25 on FTS5, ts_rank on
# PostgreSQL) ranks a stage of few articles (SMALL_STAGE), or one whose heads do not hold
# `limit` of its articles.

OVERFETCH = 4  # SQLite full text: the best limit x this, ranked unfiltered, then filtered
COMMON_SHARE = 0.4  # a word in more than this share of the articles says little: any-word stage only
ARTICLES = ""  # kb_terms' row for the number of published articles (no term is empty)


@dataclass(frozen=True)
class Stage:
    groups: tuple[tuple[str, ...], ...]  # every group must match; any term of a group does


def plan(groups: list[list[str]], df: dict[str, int]) -> list[Stage]:
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
    stages: list[Stage] = []
    # Fewer key words while two are left: one word alone (the rarest) is not what a question
    # of several words is about; the any-word stage ranks every word instead.
    for dropped in range(max(1, len(key) - 1)):
        keep = sorted(commonest_first[dropped:])
        stages.append(Stage(tuple(key[i] for i in keep)))
    if len(words) > 1:
        stages.append(Stage((tuple(t for w in words for t in w),)))  # any term
    return stages


def fts5_stage(stage: Stage) -> str:
    """The full-text match of a stage: every group, any term of each."""
    return " AND ".join("(" + " OR ".join(_fts5_term(t) for t in w) + ")" for w in stage.groups)


def pg_stage(stage: Stage) -> str:
    return " & ".join("(" + " | ".join(_pg_term(t) for t in w) + ")" for w in stage.groups)


# -- every term's articles, ranked ahead of time ------------------------------------------
# kb_term_weights holds each term of each published article with the article's bm25 weight
# for it (term_weights: the term-frequency part, title 10, tags 5, body 1, as the FTS5
# ranking). An article's score for a stage is the sum, over the query's words, of weight x
# the term's idf (bm25's sum over the query's terms), a word with synonyms counted once
# (`word_score`); it needs every group.
K1, B = 1.2, 0.75  # bm25's constants, as FTS5 uses them
TYPICAL_LENGTH = 200  # tokens of a typical article: stands in for the corpus average
FIRST_DEPTH = 64  # entries of each term's list read first (at least `limit`); x4 a round
SETTLE_DEPTH = 64  # from this deep, `limit` found is enough even if an unread article might beat them
LAST_DEPTH = 64  # from this deep, a stage with fewer than `limit` found goes to the full text
SMALL_STAGE = 500  # a stage whose rarest word fewer articles hold is ranked by the full text: few rows to score


def term_weights(seg_title: str, seg_tags: str, seg_body: str) -> dict[str, float]:
    """bm25's term-frequency part (title 10, tags 5, body 1, as the FTS5 ranking) of each
    term of one article."""
    title, tags, body = Counter(seg_title.split()), Counter(seg_tags.split()), Counter(seg_body.split())
    length = title.total() + tags.total() + body.total()
    norm = K1 * (1 - B + B * length / TYPICAL_LENGTH)
    out = {}
    for term in title.keys() | tags.keys() | body.keys():
        f = 10.0 * title[term] + 5.0 * tags[term] + body[term]
        out[term] = f * (K1 + 1) / (f + norm)
    return out


def best_first(
    session: Session, dialect: str, stage: Stage, q: SearchQuery, limit: int, idf: dict[str, float], words: list[list[str]] | None = None
) -> list[tuple[Any, ...]] | None:
    """The best `limit` articles of a stage that pass the filters, by summed weight x idf,
    read from the heads of the terms' lists (a threshold-style top-k, Fagin's TA). Each
    round is one statement (`_round`): every term's list read `depth` deep (x4 a round),
    every article read in any head scored whole by key (its weights for every term of the
    stage) and filtered, the best `limit` of them kept, and each list's first unread weight
    (what an article not in its head can weigh for the term at most). Stops, exact, when the
    `limit`-th score is at least what an article in no head could score (the sum of those
    weights x idf), or when a group's lists were read to their end (every article of the
    stage was read). From `SETTLE_DEPTH` on, the best of the heads is kept even if an unread
    article might beat it: near-duplicates (thousands of articles weighing nearly the same
    for a word) would otherwise make the lists read to their end; the heads' articles are
    still ranked whole, not the first `limit` found. None when `LAST_DEPTH` is read and
    fewer were found: the caller asks the full text.

    `words`: the query's words, each its terms (a word and its synonyms); a word scores
    once, by the best of its terms an article holds, its other terms there adding half
    theirs (`word_score`). Without them each term is a word."""
    terms = list(dict.fromkeys(t for g in stage.groups for t in g))
    scoring = _scoring_words(terms, words)
    weight = {t: idf.get(t, 1.0) for t in terms}
    depth = max(FIRST_DEPTH, limit)
    while True:
        rows, unread = _round(session, dialect, stage, scoring, weight, q, depth, limit)
        if any(all(unread[t] is None for t in g) for g in stage.groups):
            return rows  # a group's lists ended: every article of the stage was read
        if len(rows) >= limit:
            # The most an article in no head scores: each word's best first unread weight.
            bound = sum(word_score([weight[t] * (unread[t] or 0.0) for t in w]) for w in scoring)
            if float(rows[limit - 1][-1]) >= bound or depth >= SETTLE_DEPTH:
                return rows
        elif depth >= LAST_DEPTH:
            return None
        depth *= 4


def word_score(scores: list[float]) -> float:
    """A word's score from its terms' (weight x idf): the best, and half of the others. An
    article naming 户口 and its synonym 户籍 speaks of one thing, not two: summed, a body
    saying both outranked a title saying one (户口: the elderly allowance's body above the
    residence-transfer guide's title at 100,000 articles); the best alone ranked an article
    naming both below one naming one (社保 in the fixture corpus). `_round` computes the
    same in SQL."""
    return (sum(scores) + max(scores)) / 2


def _scoring_words(terms: list[str], words: list[list[str]] | None) -> list[list[str]]:
    """The stage's terms by the query word they belong to (a term in no word is its own)."""
    out = [[t for t in w if t in terms] for w in words or []]
    out = [w for w in out if w]
    placed = {t for w in out for t in w}
    return out + [[t] for t in terms if t not in placed]


def _round(
    session: Session, dialect: str, stage: Stage, words: list[list[str]], weight: dict[str, float], q: SearchQuery, depth: int, limit: int
) -> tuple[list[tuple[Any, ...]], dict[str, float | None]]:
    """One round of `best_first`, one statement: the best `limit` articles of the heads
    (`depth` entries of each term's list) that hold every group and pass the filters, as
    rows (columns of _COLUMNS, score); and each term's first unread weight, None where its
    list ended within the head. The heads' articles are scored in the database: only the
    few best rows come back, and one round trip a round."""
    terms = list(dict.fromkeys(t for w in words for t in w))
    params: dict[str, Any] = {"depth": depth, "limit": limit}
    where = _filters(q, params)
    heads, unread, held = [], [], []
    for i, term in enumerate(terms):
        params[f"t{i}"], params[f"i{i}"] = term, weight[term]
        ranked = f"FROM kb_term_weights WHERE term = :t{i} ORDER BY weight DESC, article_pk DESC"
        heads.append(f"SELECT article_pk AS pk FROM (SELECT article_pk {ranked} LIMIT :depth) AS h{i}")
        unread.append(f"(SELECT weight {ranked} LIMIT 1 OFFSET :depth) AS u{i}")
        # By key, one probe a term: a join grouped by article would let PostgreSQL hash
        # every term's whole list instead.
        held.append(f"(SELECT w.weight FROM kb_term_weights w WHERE w.article_pk = h.pk AND w.term = :t{i}) AS w{i}")
    index = {t: i for i, t in enumerate(terms)}
    greatest = "MAX" if dialect == "sqlite" else "GREATEST"  # of several values, not an aggregate
    score = []
    for w in words:
        parts = [f"COALESCE(w{index[t]}, 0) * :i{index[t]}" for t in w]
        score.append(parts[0] if len(parts) == 1 else f"({' + '.join(parts)} + {greatest}({', '.join(parts)})) / 2")  # word_score
    groups = ["(" + " OR ".join(f"w{index[t]} IS NOT NULL" for t in g) + ")" for g in stage.groups]
    # The filters only where there are some; on SQLite through the narrow filter index.
    filtered = ""
    if where:
        hint = f" INDEXED BY {FILTER_INDEX}" if dialect == "sqlite" else ""
        filtered = f" JOIN kb_search s{hint} ON s.article_pk = h.pk{where}"
    # Materialized: each weight read once, not again in the score and the group test.
    sql = (
        f"WITH weights AS MATERIALIZED (SELECT h.pk, {', '.join(held)} FROM ({' UNION '.join(heads)}) AS h{filtered}), "
        f"top AS (SELECT pk, {' + '.join(score)} AS score FROM weights WHERE {' AND '.join(groups)} ORDER BY score DESC, pk LIMIT :limit) "
        # The unread weights come with every row, and alone (no row) when no article qualified.
        f"SELECT {', '.join(f'u.u{i}' for i in range(len(terms)))}, {_COLUMNS}, top.score "
        f"FROM (SELECT {', '.join(unread)}) AS u LEFT JOIN top ON 1 = 1 "
        f"LEFT JOIN kb_search s ON s.article_pk = top.pk ORDER BY top.score DESC, top.pk"
    )
    statement = text(sql)
    if "on" in params:
        statement = statement.bindparams(bindparam("on", type_=Date))
    result = session.execute(statement, params).all()
    n = len(terms)
    ends = {t: (None if result[0][i] is None else float(result[0][i])) for i, t in enumerate(terms)}
    return [tuple(r[n:]) for r in result if r[-1] is not None], ends


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
    stages, weights = plan(groups, df), idf(df)
    found: dict[str, tuple[Any, ...]] = {}
    for i, stage in enumerate(stages):
        level = len(stages) - i
        limit = q.limit + len(found)
        # A stage of few articles (its rarest word's) is cheap to rank whole.
        most = min(sum(df[t] for t in g) for g in stage.groups)
        rows = best_first(session, dialect, stage, q, limit, weights, groups) if most >= SMALL_STAGE else None
        if rows is None:
            rows = _full_text_rows(session, dialect, stage, q, limit)
        for row in rows:
            if row[0] not in found:
                raw = max(float(row[-1]), 0.0)
                found[row[0]] = (*row[:-1], level + raw / (1.0 + raw))
                if len(found) == q.limit:
                    return list(found.values())
    return list(found.values())


def _full_text_rows(session: Session, dialect: str, stage: Stage, q: SearchQuery, limit: int) -> list[tuple[Any, ...]]:
    """A stage ranked by the full-text index: every matching row scored (bm25 / ts_rank)."""
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
