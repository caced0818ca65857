"""The best-first reading of a search stage (knowledge/search.py, `best_first`) on a real
SQLite file and a real PostgreSQL database: six articles whose weights for two made-up
terms are set by hand, so every expected order below is worked out by hand from them.

Weights (term 甲 with idf 1, term 乙 with idf 2; a score is the sum of weight x idf):

    article  甲    乙    score   holds both
    P1       2.0   -     2.0     no
    P2       -     1.6   3.2     no
    P3       1.0   1.0   3.0     yes
    P4       1.8   0.2   2.2     yes
    P5       0.3   1.4   3.1     yes   (a policy; the others are FAQs)
    P6       0.5   0.5   1.5     yes

甲's list, best first: P1 2.0, P4 1.8, P3 1.0, P6 0.5, P5 0.3.
乙's list, best first: P2 1.6, P5 1.4, P3 1.0, P6 0.5, P4 0.2.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from hub.domain.access import Actor
from hub.domain.model import Role
from knowledge import search
from knowledge.handle import Knowledge
from knowledge.model import ArticleInput, ArticleKind
from knowledge.review import ReviewAction
from knowledge.search import SearchQuery, Stage
from knowledge.tables import KbArticleRow, KbTermWeightRow

CGJ = Actor("ZY-CGJ", Role.UNIT, unit_code="ZY-CGJ")
SUPERVISOR = Actor("centre-supervisor", Role.SUPERVISOR)
IDF = {"甲": 1.0, "乙": 2.0}
WEIGHTS = {
    "P1": {"甲": 2.0},
    "P2": {"乙": 1.6},
    "P3": {"甲": 1.0, "乙": 1.0},
    "P4": {"甲": 1.8, "乙": 0.2},
    "P5": {"甲": 0.3, "乙": 1.4},
    "P6": {"甲": 0.5, "乙": 0.5},
}
BOTH = Stage((("甲",), ("乙",)))  # every word: 甲 and 乙
EITHER = Stage((("甲", "乙"),))  # any word


def published(hub, weights: dict[str, dict[str, float]], policy: frozenset[str] = frozenset()):
    """One published article per name (POLICY for those in `policy`, else FAQ), its search
    weights set by hand instead of computed from its text."""
    store = hub.handles.get(Knowledge).store
    for name in weights:
        kind = ArticleKind.POLICY if name in policy else ArticleKind.FAQ
        store.create(ArticleInput(id=name, owner_unit="ZY-CGJ", kind=kind, title=f"测试条目{name}", body="用于检验排序的条目。"), CGJ)
        store.act(name, ReviewAction.REVIEW, SUPERVISOR)
        store.act(name, ReviewAction.PUBLISH, SUPERVISOR)
    with store.db.write() as s:
        pks = {aid: pk for aid, pk in s.execute(select(KbArticleRow.article_id, KbArticleRow.pk))}
        rows = [{"pk": pks[name], "term": t, "w": w} for name, terms in weights.items() for t, w in terms.items()]
        s.execute(text("INSERT INTO kb_term_weights (article_pk, term, weight) VALUES (:pk, :term, :w)"), rows)
    return store


@pytest.fixture
def store(hub):
    return published(hub, WEIGHTS, policy=frozenset({"P5"}))


@pytest.fixture
def depths(monkeypatch):
    """The depths each list was read to, round by round."""
    read: list[int] = []
    original = search._round

    def spy(session, dialect, stage, terms, weight, q, depth, limit):
        read.append(depth)
        return original(session, dialect, stage, terms, weight, q, depth, limit)

    monkeypatch.setattr(search, "_round", spy)
    return read


def _best(store, stage: Stage, limit: int, words=None, **filters) -> list[tuple[str, float]] | None:
    with store.db.read() as s:
        rows = search.best_first(s, store.dialect, stage, SearchQuery(text="甲乙", limit=limit, **filters), limit, IDF, words)
    return None if rows is None else [(r[0], round(r[-1], 6)) for r in rows]


def test_every_word_read_whole_ranks_by_summed_weight(store, depths) -> None:
    # The lists (5 entries) end within the first read (64 deep): every article read, exact.
    assert _best(store, BOTH, 10) == [("P5", 3.1), ("P3", 3.0), ("P4", 2.2), ("P6", 1.5)]
    assert depths == [64]


def test_any_word_ranks_articles_with_one_of_them_too(store) -> None:
    assert _best(store, EITHER, 10) == [("P2", 3.2), ("P5", 3.1), ("P3", 3.0), ("P4", 2.2), ("P1", 2.0), ("P6", 1.5)]


def test_synonyms_of_one_word_score_once(store) -> None:
    # 甲 and 乙 as one word (a word and its synonym): the better of the two (weight x idf)
    # and half the other. P5: 0.3 and 2.8 -> 2.8 + 0.15 = 2.95; P3: 1.0 and 2.0 -> 2.5,
    # below P5 now (summed, 3.0 against 3.1, it was close); P2: 乙 alone, 3.2.
    assert _best(store, EITHER, 3, words=[["甲", "乙"]]) == [("P2", 3.2), ("P5", 2.95), ("P3", 2.5)]


def test_a_shallow_first_read_reads_deeper_until_the_best_are_certain(store, depths, monkeypatch) -> None:
    monkeypatch.setattr(search, "FIRST_DEPTH", 1)
    monkeypatch.setattr(search, "SETTLE_DEPTH", 1_000)
    # Two deep (limit 2), the heads hold P1, P4 (甲) and P2, P5 (乙): P5 3.1 and P4 2.2 hold
    # both; an article in neither head could still score 1.0 + 2 x 1.0 = 3.0 (the first
    # unread weights, P3's in both lists), so the lists are read on (x4: 8 deep, to their
    # end), which finds P3 (3.0), middling in both.
    assert _best(store, BOTH, 2) == [("P5", 3.1), ("P3", 3.0)]
    assert depths == [2, 8]


def test_reading_stops_once_nothing_unread_can_beat_the_best(store, depths, monkeypatch) -> None:
    monkeypatch.setattr(search, "FIRST_DEPTH", 1)
    monkeypatch.setattr(search, "SETTLE_DEPTH", 1_000)
    # One deep: P1 (2.0) and P2 (3.2) read; unread could score 1.8 + 2 x 1.4 = 4.6 (the first
    # unread weights, P4's and P5's). Four deep: the first unread weights are 0.3 (P5) and
    # 0.2 (P4), so an unread article scores at most 0.3 + 2 x 0.2 = 0.7 < 3.2: P2 is the
    # best, and the lists' last entries are never read.
    assert _best(store, EITHER, 1) == [("P2", 3.2)]
    assert depths == [1, 4]


def test_settled_reading_keeps_the_best_of_the_heads(store, depths, monkeypatch) -> None:
    # From SETTLE_DEPTH on, enough found is enough: two deep, the heads' best two that hold
    # both words are P5 and P4 (P3, in neither head, is not read). What near-duplicate
    # articles need at 100,000 articles, shown here on six.
    monkeypatch.setattr(search, "FIRST_DEPTH", 1)
    monkeypatch.setattr(search, "SETTLE_DEPTH", 2)
    assert _best(store, BOTH, 2) == [("P5", 3.1), ("P4", 2.2)]
    assert depths == [2]


def test_filters_leave_out_articles_as_they_are_read(store, monkeypatch) -> None:
    monkeypatch.setattr(search, "FIRST_DEPTH", 1)
    monkeypatch.setattr(search, "SETTLE_DEPTH", 1_000)
    assert _best(store, BOTH, 2, kinds=(ArticleKind.FAQ,)) == [("P3", 3.0), ("P4", 2.2)]  # P5 is a policy
    assert _best(store, BOTH, 10, kinds=(ArticleKind.POLICY,)) == [("P5", 3.1)]
    assert _best(store, BOTH, 10, unit="ZY-GJJ") == []


def test_too_few_in_the_heads_leaves_the_stage_to_the_full_text(store, monkeypatch) -> None:
    monkeypatch.setattr(search, "FIRST_DEPTH", 1)
    monkeypatch.setattr(search, "LAST_DEPTH", 1)
    # One deep: P1 (甲 only) and P2 (乙 only); none holds both, and no deeper reading allowed.
    assert _best(store, BOTH, 1) is None
    # The store's search then ranks every stage by the full-text index: its own words still
    # find the six articles.
    monkeypatch.setattr(search, "best_first", lambda *args: None)
    assert {h.article_id for h in store.search(SearchQuery(text="测试条目", limit=10))} == set(WEIGHTS)


def test_weights_follow_publish_and_retire(store) -> None:
    def weights(name: str) -> dict[str, float]:
        with store.db.read() as s:
            pk = s.execute(select(KbArticleRow.pk).where(KbArticleRow.article_id == name)).scalar_one()
            return {t: w for t, w in s.execute(select(KbTermWeightRow.term, KbTermWeightRow.weight).where(KbTermWeightRow.article_pk == pk))}

    held = weights("P1")
    title = set(store.segmenter.index_tokens("测试条目P1"))
    body = set(store.segmenter.index_tokens("用于检验排序的条目。")) - title
    assert set(held) == title | body | {"甲"} and held["甲"] == 2.0
    # Every word of the title (weighed 10 a time) above every word only in the body (1 a time).
    assert min(held[t] for t in title) > max(held[t] for t in body)
    store.act("P1", ReviewAction.RETIRE, CGJ, note="测试")
    assert weights("P1") == {}
    assert "P1" not in {h.article_id for h in store.search(SearchQuery(text="测试条目", limit=10))}


# A crowd at the heads, for the settled reading at the shipped depths (64): three made-up
# terms, each with idf 1, weights set by hand.
#
#     articles        甲    乙    丙    score (any word)
#     H01-H40         2.0   -     -     2.0
#     Q               0.4   1.0   1.0   2.4
#     F01-F70         -     0.9   0.9   1.8
#
# 甲's list: the forty H (2.0), then Q: 41 entries, read to its end 64 deep. 乙's and 丙's:
# Q (1.0), then the seventy F (0.9): 64 deep, each list's first unread weight is an F's 0.9.
CROWD_IDF = {"甲": 1.0, "乙": 1.0, "丙": 1.0}
CROWD = (
    {f"H{i:02d}": {"甲": 2.0} for i in range(1, 41)} | {"Q": {"甲": 0.4, "乙": 1.0, "丙": 1.0}} | {f"F{i:02d}": {"乙": 0.9, "丙": 0.9} for i in range(1, 71)}
)
ANY_OF_THREE = Stage((("甲", "乙", "丙"),))


@pytest.fixture
def crowd(hub):
    return published(hub, CROWD)


def test_settled_heads_are_ranked_whole_not_the_first_found(crowd, depths) -> None:
    # 64 deep the heads hold the forty H, Q and 63 F. Q is the best of them: 0.4 + 1.0 + 1.0
    # = 2.4 against the H's 2.0. The former settled reading resolved the heads best bound
    # first, 32 at a time, and stopped once it had found `limit`: every H's bound is
    # 2.0 + 0.9 + 0.9 = 3.8 (its 乙 and 丙 unread), above Q's 2.4, so the first 32 resolved
    # were H, and it returned H01 (2.0). Every article of the heads is scored now. And Q is
    # certain, not only the best of the heads: an article in no head scores at most 0 (甲's
    # list ended) + 0.9 + 0.9 = 1.8 < 2.4, so one round is enough.
    with crowd.db.read() as s:
        rows = search.best_first(s, crowd.dialect, ANY_OF_THREE, SearchQuery(text="甲乙丙", limit=1), 1, CROWD_IDF)
    assert rows is not None and [(r[0], round(r[-1], 6)) for r in rows] == [("Q", 2.4)]
    assert depths == [64]
