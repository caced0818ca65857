"""Knowledge search latency with 100,000 published articles on the embedded SQLite default.

The articles are generated from the fixture corpus (tests/fixtures/knowledge/corpus.json)
with variations: each copy names a county, a year and a variant sentence, so the index
holds realistic text of realistic size. Rows are bulk-loaded in the shape the store
writes (segmented by the same segmenter); loading is not what is measured.

Measured: `KnowledgeStore.search` as the API calls it (query segmentation, synonyms, FTS5
MATCH with bm25 ranking joined to the search rows with a validity filter, snippets), for
each labelled query in tests/fixtures/knowledge/queries.yaml, several rounds.
Baseline, same run and data: a raw FTS5 MATCH of the same terms ordered by rank, LIMIT 10,
on the raw sqlite3 driver (no segmentation, no join, no filter, no snippets).

Usage: .venv/bin/python -m bench.knowledge_search --articles 100000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import yaml

from knowledge.handle import Knowledge

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "knowledge"
COUNTIES = ["雁江区", "安岳县", "乐至县", "高新区", "临空经济区", "资阳市"]
VARIANTS = [
    "本指南适用于{county}，具体以窗口告知为准。",
    "{county}政务服务中心设有专门窗口，工作日上午9时至下午5时办理。",
    "{year}年起，{county}推行网上办理和邮寄送达。",
    "如对办理结果有异议，可拨打12345反映，{county}相关部门将在规定时限内答复。",
    "{county}已将该事项纳入“一件事一次办”，材料齐全的当场办结。",
    "特殊群体可申请{county}上门服务或帮办代办。",
]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def load(db_path: Path, n: int) -> None:
    from knowledge.segment import segmenter_for

    seg = segmenter_for(ROOT / "mappings" / "knowledge")
    corpus = json.loads((FIXTURES / "corpus.json").read_text(encoding="utf-8"))["articles"]
    base = [(a, seg.index_text(a["title"]), seg.index_text(" ".join(a["tags"])), seg.index_text(a["body"])) for a in corpus]
    variants = {}
    for county in COUNTIES:
        for year in range(2019, 2026):
            for i, v in enumerate(VARIANTS):
                text = v.format(county=county, year=year)
                variants[(county, year, i)] = (text, seg.index_text(text))
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    articles, versions, search = [], [], []
    for pk in range(1, n + 1):
        a, s_title, s_tags, s_body = base[(pk - 1) % len(base)]
        county, year, vi = COUNTIES[pk % len(COUNTIES)], 2019 + pk % 7, pk % len(VARIANTS)
        vtext, vseg = variants[(county, year, vi)]
        title = f"{a['title']}（{county}）"
        body = f"{a['body']}{vtext}"
        aid = f"B{pk:07d}"
        articles.append((pk, aid, a["owner_unit"], 1, "published", 1, now, now))
        versions.append(
            (
                pk,
                1,
                "published",
                a["kind"],
                title,
                body,
                a.get("valid_from"),
                a.get("valid_to"),
                json.dumps(a["categories"]),
                json.dumps(a["tags"], ensure_ascii=False),
                now,
                "bench",
                None,
            )
        )
        search.append(
            (
                pk,
                aid,
                1,
                a["kind"],
                a["owner_unit"],
                a.get("valid_from"),
                a.get("valid_to"),
                " ".join(a["categories"]),
                title,
                body,
                f"{s_title} {seg.index_text(county)}",
                s_tags,
                f"{s_body} {vseg}",
            )
        )
    with conn:
        conn.executemany("INSERT INTO kb_articles VALUES (?,?,?,?,?,?,?,?)", articles)
        conn.executemany("INSERT INTO kb_versions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", versions)
        conn.executemany("INSERT INTO kb_search VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", search)
        conn.execute("INSERT INTO kb_fts(kb_fts) VALUES ('rebuild')")
        conn.execute("INSERT INTO kb_fts(kb_fts) VALUES ('optimize')")
    conn.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from hub.db.migrate import upgrade
    from hub.runtime import build_hub
    from hub.settings import Settings
    from knowledge.search import SearchQuery, fts5_match

    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "kb.db"
        settings = Settings(database_url=f"sqlite:///{db_path}", sqlite_synchronous="NORMAL")
        hub = build_hub(settings)
        upgrade(hub.db.writer)
        started = time.perf_counter()
        load(db_path, args.articles)
        loaded = time.perf_counter() - started
        store = hub.handles.get(Knowledge).store
        queries = [q["q"] for q in yaml.safe_load((FIXTURES / "queries.yaml").read_text(encoding="utf-8"))]
        on = date(2025, 9, 26)
        raw = sqlite3.connect(db_path)
        matches = [fts5_match(store.segmenter.query_terms(q)) for q in queries]
        for q in queries[:5]:  # warm both paths (page cache, jieba)
            store.search(SearchQuery(text=q, valid_on=on, limit=10))
        hub_ms, base_ms = [], []
        for _ in range(args.rounds):
            for q, m in zip(queries, matches):
                t = time.perf_counter()
                store.search(SearchQuery(text=q, valid_on=on, limit=10))
                hub_ms.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                raw.execute("SELECT rowid FROM kb_fts WHERE kb_fts MATCH ? ORDER BY rank LIMIT 10", (m,)).fetchall()
                base_ms.append((time.perf_counter() - t) * 1000)
        raw.close()
        size_mb = db_path.stat().st_size / 1e6
        hub.close()
    print(f"articles {args.articles}, loaded in {loaded:.1f} s, database {size_mb:.0f} MB, {len(queries)} queries x {args.rounds} rounds")
    print(f"hub search    p50 {statistics.median(hub_ms):7.2f} ms   p95 {percentile(hub_ms, 95):7.2f} ms")
    print(f"raw FTS5 MATCH p50 {statistics.median(base_ms):7.2f} ms   p95 {percentile(base_ms, 95):7.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
