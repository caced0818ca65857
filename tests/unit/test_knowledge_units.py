"""The knowledge base's pure parts: the review table, citations, highlighting, import parsing."""

from __future__ import annotations

import pytest

from hub.domain.access import Actor
from hub.domain.errors import AccessDenied, ActionNotAllowed
from hub.domain.model import Role
from knowledge import review
from knowledge.importer import ImportFormatError, parse
from knowledge.model import ArticleStatus as S
from knowledge.model import parse_citation
from knowledge.review import ReviewAction as A
from knowledge.search import Stage, fts5_match, fts5_stage, highlight, pg_stage, pg_tsquery, plan, term_weights, word_score

SUP = Actor("sup", Role.SUPERVISOR)
OWNER = Actor("ZY-RSJ", Role.UNIT, unit_code="ZY-RSJ")
OTHER = Actor("ZY-GJJ", Role.UNIT, unit_code="ZY-GJJ")


def test_review_table_reads_as_the_flow() -> None:
    assert review.step(S.DRAFT, A.REVIEW, SUP, "ZY-RSJ").target is S.REVIEWED
    assert review.step(S.REVIEWED, A.PUBLISH, SUP, "ZY-RSJ").target is S.PUBLISHED
    assert review.step(S.PUBLISHED, A.RETIRE, OWNER, "ZY-RSJ").target is S.RETIRED
    with pytest.raises(ActionNotAllowed) as refused:
        review.step(S.DRAFT, A.PUBLISH, SUP, "ZY-RSJ")
    assert refused.value.allowed == ["review", "send_back"] and refused.value.state == "draft"
    with pytest.raises(ActionNotAllowed):
        review.step(S.PUBLISHED, A.RETIRE, OTHER, "ZY-RSJ")
    with pytest.raises(ActionNotAllowed):
        review.step(S.RETIRED, A.PUBLISH, SUP, "ZY-RSJ")
    # Every status has a defined set of moves; retired and superseded have none.
    assert review.allowed(S.RETIRED) == [] and review.allowed(S.SUPERSEDED) == []


def test_only_the_owning_unit_writes() -> None:
    review.check_may_edit(OWNER, "ZY-RSJ")
    review.check_may_edit(Actor("hub", Role.SYSTEM), "ZY-RSJ")
    for actor in (OTHER, SUP, Actor("a", Role.AGENT), Actor("p", Role.PROVINCE)):
        with pytest.raises(AccessDenied):
            review.check_may_edit(actor, "ZY-RSJ")


def test_citations() -> None:
    assert parse_citation("KB000042@3") == ("KB000042", 3)
    for bad in ("KB1", "KB1@0", "@1", "KB 1@1", "KB1@x"):
        with pytest.raises(ValueError):
            parse_citation(bad)


def test_highlight_escapes_and_marks_longest_terms() -> None:
    out = highlight("社保卡<丢失>后请到社保窗口补办", ["社保", "社保卡", "补办"], 100)
    assert out == "<mark>社保卡</mark>&lt;丢失&gt;后请到<mark>社保</mark>窗口<mark>补办</mark>"
    long = "前言" * 100 + "公积金提取" + "后记" * 100
    cut = highlight(long, ["公积金"], 40)
    assert cut.startswith("…") and cut.endswith("…") and "<mark>公积金</mark>" in cut


def test_queries_are_quoted_for_each_engine() -> None:
    assert fts5_match(["社保", 'a"b']) == '"社保" OR "a""b"'
    assert pg_tsquery(["社保", "o'k"]) == "'社保' | 'o''k'"


def test_import_parsing() -> None:
    rows = parse("id,title,tags\nA-1,标题,甲;乙\n", "csv", "f.csv")
    assert rows == [("f.csv line 2", {"id": "A-1", "title": "标题", "tags": ["甲", "乙"]})]
    md = parse("---\nkind: faq\n---\n# 标题\n\n正文", "markdown", "a.md")
    assert md[0][1] == {"kind": "faq", "title": "标题", "body": "正文"}
    with pytest.raises(ImportFormatError):
        parse("no front matter", "markdown", "b.md")
    with pytest.raises(ImportFormatError):
        parse('{"articles": 3}', "json", "c.json")


def test_segmenter_files_are_validated_with_file_and_line(tmp_path) -> None:
    from hub.mappings import MappingError
    from knowledge.segment import segmenter_for

    (tmp_path / "hotline_dict.txt").write_text("社保 3000 n\n社保卡 12 n extra\n", encoding="utf-8")
    (tmp_path / "lexicon.yaml").write_text("synonyms:\n  - [噪音, 噪声]\n  - [噪音, 吵]\n", encoding="utf-8")
    with pytest.raises(MappingError) as bad:
        segmenter_for(tmp_path)
    text = str(bad.value)
    assert "hotline_dict.txt:2" in text and "lexicon.yaml" in text and "噪音" in text


def test_shipped_dictionary_segments_hotline_words() -> None:
    from pathlib import Path

    from knowledge.segment import segmenter_for

    seg = segmenter_for(Path(__file__).resolve().parents[2] / "mappings" / "knowledge")
    assert {"社保", "社保卡", "补办"} <= set(seg.index_tokens("社保卡补办"))
    assert seg.query_terms("楼下噪音怎么办") == ["楼下", "噪音", "噪声", "吵"]


def test_query_groups_keep_each_word_with_its_synonyms() -> None:
    from pathlib import Path

    from knowledge.segment import segmenter_for

    seg = segmenter_for(Path(__file__).resolve().parents[2] / "mappings" / "knowledge")
    assert seg.query_groups("楼下噪音怎么办") == [["楼下"], ["噪音", "噪声", "吵"]]
    assert seg.query_groups("噪音 噪声") == [["噪音", "噪声", "吵"]]  # a term is in one group only
    assert seg.query_terms("楼下噪音怎么办", limit=2) == ["楼下", "噪音"]


# The search plan: which words must match at each stage, strictest first.
DF = {"社保": 900, "社会保险": 100, "补办": 40, "工本费": 5}


def test_plan_asks_for_every_word_first_and_drops_the_commonest_first() -> None:
    groups = [["社保", "社会保险"], ["补办"], ["工本费"]]
    assert [s.groups for s in plan(groups, DF)] == [
        (("社保", "社会保险"), ("补办",), ("工本费",)),  # all words
        (("补办",), ("工本费",)),  # 社保 (1,000 articles with either term) left out first
        (("社保", "社会保险", "补办", "工本费"),),  # any word, last (never one word of several alone)
    ]


def test_plan_leaves_out_terms_no_article_holds() -> None:
    assert plan([["丢了", "丢失"], ["补办"]], {"丢失": 3, "补办": 40}) == [Stage((("丢失",), ("补办",))), Stage((("丢失", "补办"),))]
    assert plan([["量子"]], DF) == []
    assert plan([], DF) == []


def test_a_single_word_is_one_stage() -> None:
    assert plan([["工本费"]], DF) == [Stage((("工本费",),))]
    assert plan([["社保", "社会保险"]], DF) == [Stage((("社保", "社会保险"),))]  # however many articles hold it


def test_all_words_stages_ask_for_key_words_only() -> None:
    df = {"": 1000, "社保": 300, "社保卡": 200, "申请": 700, "补办": 40}
    # 社保 is inside 社保卡 (the index holds both wherever 社保卡 is); 申请 is in 70% of the articles.
    assert plan([["社保"], ["社保卡"], ["申请"], ["补办"]], df) == [
        Stage((("社保卡",), ("补办",))),
        Stage((("社保", "社保卡", "申请", "补办"),)),
    ]
    # A common word alone is still searched.
    assert plan([["申请"]], df) == [Stage((("申请",),))]
    # The query's word decides, not its synonyms: 社保 (or 社会保险) goes with 社保卡.
    df.update({"社会保险": 100, "社会保障卡": 50})
    assert plan([["社保", "社会保险"], ["社保卡", "社会保障卡"], ["补办"]], df)[0] == Stage((("社保卡", "社会保障卡"), ("补办",)))


def test_stages_are_written_for_each_engine() -> None:
    both = Stage((("社保", 'a"b'), ("补办",)))
    assert fts5_stage(both) == '("社保" OR "a""b") AND ("补办")'
    assert pg_stage(Stage((("社保", "o'k"), ("补办",)))) == "('社保' | 'o''k') & ('补办')"


def test_term_weights_are_bm25_term_frequency_parts_with_the_column_weights() -> None:
    # 20 tokens: norm = 1.2 x (0.25 + 0.75 x 20 / 200) = 0.39. 社保: title once (10) and body
    # once (1): f = 11; 补办: tags once (5); 办理: body twice (2). Each f x 2.2 / (f + 0.39).
    weights = term_weights("社保 卡", "补办", "社保 办理 办理 " + " ".join(f"字{i}" for i in range(14)))
    assert weights["社保"] == pytest.approx(11 * 2.2 / 11.39)
    assert weights["补办"] == pytest.approx(5 * 2.2 / 5.39)
    assert weights["办理"] == pytest.approx(2 * 2.2 / 2.39)
    assert weights["卡"] == pytest.approx(10 * 2.2 / 10.39)
    assert len(weights) == 4 + 14
    # A longer article weighs the same counts less.
    assert term_weights("社保", "", " ".join(["字"] * 400))["社保"] < term_weights("社保", "", "")["社保"]


def test_a_word_scores_its_best_term_and_half_of_its_synonyms() -> None:
    assert word_score([2.0]) == 2.0
    assert word_score([1.0, 3.0]) == 3.5  # 3 + 1/2
    assert word_score([1.0, 1.0, 2.0]) == 3.0  # 2 + (1 + 1)/2
