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
# ranking). An article's score for a stage is the sum, over the stage's terms it holds, of
# weight x the term's idf (bm25's sum over the query's terms); it needs every group.
K1, B = 1.2, 0.75  # bm25's constants, as FTS5 uses them
TYPICAL_LENGTH = 200  # tokens of a typical article: stands in for the corpus average
FIRST_DEPTH = 64  # entries of each term's list read first (at least `limit`); x4 a round
SETTLE_DEPTH = 64  # from this deep, `limit` found is enough even if an unread article might beat them
LAST_DEPTH = 64  # from this deep, a stage with fewer than `limit` found goes to the full text
SMALL_STAGE = 500  # a stage whose rarest word fewer articles hold is ranked by the full text: few rows to score
RESOLVE_CHUNK = 32  # candidates whose weights are read by key in one statement


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


def best_first(session: Session, dialect: str, stage: Stage, q: SearchQuery, limit: int, idf: dict[str, float]) -> list[tuple[Any, ...]] | None:
    """The best `limit` articles of a stage that pass the filters, by summed weight x idf,
    read from the heads of the terms' lists (a threshold-style top-k; Fagin's TA with the
    random reads done lazily). Each round reads every term's list `depth` deep (x4 a round);
    an article read in any list is a candidate, its weights for the other terms bounded by
    the last weight read in their lists until read by key, best bound first, as long as its
    bound can still beat the `limit`-th score known. Stops, exact, when the `limit`-th score
    of the candidates holding every group is at least what an article in no head could
    score (the sum of the heads' last weights x idf), or when a group's lists have been read
    to their end (every article of the stage was read). From `SETTLE_DEPTH` on, `limit`
    found is enough: the best of the heads, which near-duplicates (thousands of articles
    weighing the same for a word) would otherwise make read to the end. None when
    `LAST_DEPTH` is read and fewer were found: the caller asks the full text."""
    terms = list(dict.fromkeys(t for g in stage.groups for t in g))
    weight = {t: idf.get(t, 1.0) for t in terms}
    heads = _Heads(terms)
    scored: dict[int, float | None] = {}  # read by key: the score, or None (a group missing, or filtered out)
    params: dict[str, Any] = {}
    where = _filters(q, params)
    depth = max(FIRST_DEPTH, limit)
    while True:
        heads.read(session, depth)
        found = _resolve(session, dialect, stage, heads, weight, scored, limit, where, params)
        if any(all(t in heads.ended for t in g) for g in stage.groups):
            return _rows(session, found[:limit], scored)  # every article of the stage read
        if len(found) >= limit:
            unread = sum(weight[t] * heads.bound(t) for t in terms)  # the most an article in no head scores
            if (scored[found[limit - 1]] or 0.0) >= unread or depth >= SETTLE_DEPTH:
                return _rows(session, found[:limit], scored)
        elif depth >= LAST_DEPTH:
            return None
        depth *= 4


class _Heads:
    """What has been read of each term's list: each article's weights, each list's last."""

    def __init__(self, terms: list[str]) -> None:
        self.terms = terms
        self.seen: dict[int, dict[str, float]] = {}
        self.last: dict[str, float] = {}
        self.ended: set[str] = set()
        self.depth = 0

    def read(self, session: Session, depth: int) -> None:
        """Every open list from its current depth down to `depth`, one statement."""
        open_terms = [t for t in self.terms if t not in self.ended]
        if not open_terms:
            return
        params: dict[str, Any] = {"n": depth - self.depth, "o": self.depth}
        parts = []
        for i, term in enumerate(open_terms):
            params[f"t{i}"] = term
            parts.append(
                f"SELECT * FROM (SELECT term, article_pk, weight FROM kb_term_weights WHERE term = :t{i} "
                f"ORDER BY weight DESC, article_pk DESC LIMIT :n OFFSET :o) AS h{i}"
            )
        got: dict[str, int] = dict.fromkeys(open_terms, 0)
        for term, pk, w in session.execute(text(" UNION ALL ".join(parts)), params):
            self.seen.setdefault(pk, {})[term] = float(w)
            self.last[term] = min(self.last.get(term, math.inf), float(w))
            got[term] += 1
        self.ended.update(t for t in open_terms if got[t] < depth - self.depth)
        self.depth = depth

    def bound(self, term: str) -> float:
        """The most an article not read in `term`'s list can weigh for it."""
        return 0.0 if term in self.ended else self.last.get(term, 0.0)


def _resolve(
    session: Session,
    dialect: str,
    stage: Stage,
    heads: _Heads,
    weight: dict[str, float],
    scored: dict[int, float | None],
    limit: int,
    where: str,
    params: dict[str, Any],
) -> list[int]:
    """The candidates read so far that hold every group and pass the filters, best first,
    as far as the best `limit` of them are known: the others are read by key, best bound
    first, while a bound can still beat the `limit`-th score."""
    bounds = []
    for pk, known in heads.seen.items():
        if pk in scored:
            continue
        # A term whose list ended and did not hold the article: the article lacks it.
        if any(all(t not in known and t in heads.ended for t in g) for g in stage.groups):
            scored[pk] = None
            continue
        bound = sum(weight[t] * (known[t] if t in known else heads.bound(t)) for t in heads.terms)
        bounds.append((-bound, pk))
    bounds.sort()

    def best() -> list[int]:
        return sorted((pk for pk, score in scored.items() if score is not None), key=lambda pk: (-(scored[pk] or 0.0), pk))

    found = best()
    settled = heads.depth >= SETTLE_DEPTH  # `limit` found will be enough: no need to know they are the best of the heads
    for start in range(0, len(bounds), RESOLVE_CHUNK):
        chunk = bounds[start : start + RESOLVE_CHUNK]
        if len(found) >= limit and (settled or -chunk[0][0] <= (scored[found[limit - 1]] or 0.0)):
            break
        pks = [pk for _, pk in chunk]
        # An article read in every list (or in every list not yet ended) needs no key read.
        unknown = [pk for pk in pks if any(t not in heads.seen[pk] and t not in heads.ended for t in heads.terms)]
        weights = {pk: heads.seen[pk] for pk in pks} | _weights(session, unknown, heads.terms)
        complete = [pk for pk in pks if all(any(t in weights.get(pk, {}) for t in g) for g in stage.groups)]
        passing = set(_passing(session, dialect, complete, where, params)) if where else set(complete)
        for pk in pks:
            held = weights.get(pk, {})
            scored[pk] = sum(weight[t] * w for t, w in held.items()) if pk in passing else None
        found = best()
    return found


def _weights(session: Session, pks: list[int], terms: list[str]) -> dict[int, dict[str, float]]:
    """Each article's weight for each of `terms` it holds, read by key."""
    if not pks:
        return {}
    statement = text("SELECT article_pk, term, weight FROM kb_term_weights WHERE article_pk IN :pks AND term IN :terms").bindparams(
        bindparam("pks", expanding=True), bindparam("terms", expanding=True)
    )
    out: dict[int, dict[str, float]] = {}
    for pk, term, w in session.execute(statement, {"pks": pks, "terms": terms}):
        out.setdefault(pk, {})[term] = float(w)
    return out


def _passing(session: Session, dialect: str, pks: list[int], where: str, params: dict[str, Any]) -> list[int]:
    if not pks:
        return []
    hint = f" INDEXED BY {FILTER_INDEX}" if dialect == "sqlite" else ""
    statement = text(f"SELECT s.article_pk FROM kb_search s{hint} WHERE s.article_pk IN :pks{where}").bindparams(bindparam("pks", expanding=True))
    if "on" in params:
        statement = statement.bindparams(bindparam("on", type_=Date))
    return [pk for (pk,) in session.execute(statement, {**params, "pks": pks})]


def _rows(session: Session, pks: list[int], scored: dict[int, float | None]) -> list[tuple[Any, ...]]:
    if not pks:
        return []
    statement = text(f"SELECT s.article_pk, {_COLUMNS} FROM kb_search s WHERE s.article_pk IN :pks").bindparams(bindparam("pks", expanding=True))
    rows = {r[0]: tuple(r[1:]) for r in session.execute(statement, {"pks": pks})}
    return [(*rows[pk], scored[pk]) for pk in pks if pk in rows]


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
        rows = best_first(session, dialect, stage, q, limit, weights) if most >= SMALL_STAGE else None
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
