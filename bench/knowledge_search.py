"""Knowledge search latency and recall with 100,000 published articles, on SQLite and on
PostgreSQL.

The articles are generated from the fixture corpus (tests/fixtures/knowledge/corpus.json)
with variations: each copy names a county, a year and a variant sentence, so the index
holds realistic text of realistic size. Rows are bulk-loaded in the shape the store
writes (segmented by the same segmenter, with the term counts and term weights the store
keeps); loading is not what is measured.

Measured: `KnowledgeStore.search` as the API calls it (query segmentation, synonyms, the
staged plan of knowledge/search.py joined to the search rows with a validity filter,
snippets), for each labelled query in tests/fixtures/knowledge/queries.yaml, several rounds.
Baseline, same run and data: the plan the hub had before, raw: every term ORed and ranked,
LIMIT 10, on the raw driver (no segmentation, join, filter or snippets). SQLite: FTS5
MATCH ordered by bm25; PostgreSQL: the GIN-indexed tsvector matched with the ORed tsquery,
ordered by ts_rank.

recall@5, against the labels of queries.yaml (stated by hand, independently of any plan): a
generated article answers a query when the fixture article it was copied from is one the
query expects; recall@5 of a query is the share of min(5, answering articles) found in its
top 5 (as tests/integration/test_knowledge_search.py computes it over the fixture corpus).

Usage: .venv/bin/python -m bench.knowledge_search --articles 100000 --rounds 5 [--db sqlite|postgresql|both]
PostgreSQL: HUB_BENCH_PG_URL (default the local server, trust auth); the bench creates its
own database there and drops it after.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from knowledge.handle import Knowledge
from knowledge.tables import TERM_WEIGHTS_RANK

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "knowledge"
PG_ADMIN_URL = os.environ.get("HUB_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
COUNTIES = ["雁江区", "安岳县", "乐至县", "高新区", "临空经济区", "资阳市"]
VARIANTS = [
    "本指南适用于{county}，具体以窗口告知为准。",
    "{county}政务服务中心设有专门窗口，工作日上午9时至下午5时办理。",
    "{year}年起，{county}推行网上办理和邮寄送达。",
    "如对办理结果有异议，可拨打12345反映，{county}相关部门将在规定时限内答复。",
    "{county}已将该事项纳入“一件事一次办”，材料齐全的当场办结。",
    "特殊群体可申请{county}上门服务或帮办代办。",
]
ON = date(2025, 9, 26)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


@dataclass
class Rows:
    articles: list[tuple[Any, ...]]
    versions: list[tuple[Any, ...]]
    search: list[tuple[Any, ...]]
    terms: list[tuple[str, int]]
    source: dict[str, str]  # generated article id -> the fixture article it was copied from


def generate(n: int) -> Rows:
    from knowledge.search import ARTICLES
    from knowledge.segment import segmenter_for
    from knowledge.store import distinct_terms

    seg = segmenter_for(ROOT / "mappings" / "knowledge")
    corpus = json.loads((FIXTURES / "corpus.json").read_text(encoding="utf-8"))["articles"]
    base = [(a, seg.index_text(a["title"]), seg.index_text(" ".join(a["tags"])), seg.index_text(a["body"])) for a in corpus]
    variants = {}
    for county in COUNTIES:
        for year in range(2019, 2026):
            for i, v in enumerate(VARIANTS):
                text = v.format(county=county, year=year)
                variants[(county, year, i)] = (text, seg.index_text(text))
    county_seg = {c: seg.index_text(c) for c in COUNTIES}
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = Rows([], [], [], [], {})
    counts: Counter[str] = Counter()
    for pk in range(1, n + 1):
        a, s_title, s_tags, s_body = base[(pk - 1) % len(base)]
        county, year, vi = COUNTIES[pk % len(COUNTIES)], 2019 + pk % 7, pk % len(VARIANTS)
        vtext, vseg = variants[(county, year, vi)]
        title = f"{a['title']}（{county}）"
        body = f"{a['body']}{vtext}"
        aid = f"B{pk:07d}"
        rows.source[aid] = a["id"]
        valid_from, valid_to = a.get("valid_from"), a.get("valid_to")
        rows.articles.append((pk, aid, a["owner_unit"], 1, "published", 1, now, now))
        rows.versions.append(
            (
                pk,
                1,
                "published",
                a["kind"],
                title,
                body,
                valid_from,
                valid_to,
                json.dumps(a["categories"]),
                json.dumps(a["tags"], ensure_ascii=False),
                now,
                "bench",
                None,
            )
        )
        seg_title, seg_body = f"{s_title} {county_seg[county]}", f"{s_body} {vseg}"
        rows.search.append((pk, aid, 1, a["kind"], a["owner_unit"], valid_from, valid_to, " ".join(a["categories"]), title, body, seg_title, s_tags, seg_body))
        counts.update({ARTICLES} | distinct_terms(seg_title, s_tags, seg_body))
    rows.terms = list(counts.items())
    return rows


def term_weights(rows: Rows) -> Iterator[tuple[int, str, float]]:
    """kb_term_weights' rows (about 100 an article), made while loading, not held."""
    from knowledge.search import term_weights as weigh

    for pk, *_, seg_title, seg_tags, seg_body in rows.search:
        yield from ((pk, t, w) for t, w in weigh(seg_title, seg_tags, seg_body).items())


def load_sqlite(db_path: Path, rows: Rows) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    iso = [(*r[:6], r[6].isoformat(sep=" "), r[7].isoformat(sep=" ")) for r in rows.articles]
    versions = [(*r[:10], r[10].isoformat(sep=" "), *r[11:]) for r in rows.versions]
    with conn:
        conn.executemany("INSERT INTO kb_articles VALUES (?,?,?,?,?,?,?,?)", iso)
        conn.executemany("INSERT INTO kb_versions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", versions)
        conn.executemany("INSERT INTO kb_search VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows.search)
        conn.executemany("INSERT INTO kb_terms VALUES (?,?)", rows.terms)
        # The ranking index built once after the rows (sorted), not row by row in term order.
        conn.execute(f"DROP INDEX {TERM_WEIGHTS_RANK}")
        conn.executemany("INSERT INTO kb_term_weights VALUES (?,?,?)", term_weights(rows))
        conn.execute(f"CREATE INDEX {TERM_WEIGHTS_RANK} ON kb_term_weights (term, weight, article_pk)")
        conn.execute("INSERT INTO kb_fts(kb_fts) VALUES ('rebuild')")
        conn.execute("INSERT INTO kb_fts(kb_fts) VALUES ('optimize')")
    conn.close()


def _copy(cur: Any, table: str, rows: Iterable[tuple[Any, ...]]) -> None:
    from hub.db.models import Base

    columns = ", ".join(c.name for c in Base.metadata.tables[table].columns)  # kb_search's stored tsvector is generated
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for r in rows:
            copy.write_row(r)


def load_postgresql(url: str, rows: Rows) -> None:
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as conn, conn.cursor() as cur:
        _copy(cur, "kb_articles", [(*r[:6], r[6].replace(tzinfo=UTC), r[7].replace(tzinfo=UTC)) for r in rows.articles])
        _copy(cur, "kb_versions", [(*r[:10], r[10].replace(tzinfo=UTC), *r[11:]) for r in rows.versions])
        _copy(cur, "kb_search", rows.search)
        _copy(cur, "kb_terms", rows.terms)
        cur.execute(f"DROP INDEX {TERM_WEIGHTS_RANK}")
        _copy(cur, "kb_term_weights", term_weights(rows))
        cur.execute(f"CREATE INDEX {TERM_WEIGHTS_RANK} ON kb_term_weights (term, weight, article_pk)")
        conn.commit()
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'kb.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"kb_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def baseline_for(kind: str, url: str) -> tuple[Callable[[list[str]], list[str]], Callable[[], None]]:
    """The raw driver running the former plan: every term ORed, ranked, LIMIT 10."""
    from knowledge.search import fts5_match, pg_tsquery
    from knowledge.tables import PG_VECTOR

    if kind == "sqlite":
        raw = sqlite3.connect(url.removeprefix("sqlite:///"))
        ranked = "SELECT rowid FROM kb_fts WHERE kb_fts MATCH ? ORDER BY bm25(kb_fts, 10.0, 5.0, 1.0) LIMIT 10"

        def search(terms: list[str]) -> list[str]:
            pks = [r[0] for r in raw.execute(ranked, (fts5_match(terms),)).fetchall()]
            return [f"B{pk:07d}" for pk in pks]  # the generated ids follow the row numbers

        return search, raw.close

    import psycopg

    pg = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
    sql = (
        f"SELECT s.article_id FROM kb_search s, to_tsquery('simple', %s) AS tsq WHERE {PG_VECTOR} @@ tsq "
        f"ORDER BY ts_rank('{{0.1, 0.2, 0.4, 1.0}}', {PG_VECTOR}, tsq, 1) DESC LIMIT 10"
    )

    def pg_search(terms: list[str]) -> list[str]:
        return [r[0] for r in pg.execute(sql, (pg_tsquery(terms),)).fetchall()]

    return pg_search, pg.close


def recall_at_5(top: list[str], expected: set[str], rows: Rows, copies: Counter[str]) -> float:
    answering = sum(copies[e] for e in expected)
    if answering == 0:
        return 1.0
    found = sum(1 for aid in top[:5] if rows.source[aid] in expected)
    return found / min(5, answering)


def measure(kind: str, rows: Rows, rounds: int, labelled: list[dict[str, Any]]) -> dict[str, Any]:
    from hub.db.migrate import upgrade
    from hub.runtime import build_hub
    from hub.settings import Settings
    from knowledge.search import SearchQuery

    copies = Counter(rows.source.values())
    with tempfile.TemporaryDirectory() as tmp, database(kind, Path(tmp)) as url:
        hub = build_hub(Settings(database_url=url, sqlite_synchronous="NORMAL", attachments={"directory": Path(tmp) / "attachments"}))
        try:
            upgrade(hub.db.writer)
            started = time.perf_counter()
            (load_sqlite(Path(url.removeprefix("sqlite:///")), rows) if kind == "sqlite" else load_postgresql(url, rows))
            loaded = time.perf_counter() - started
            store = hub.handles.get(Knowledge).store
            baseline, close = baseline_for(kind, url)
            queries = [item["q"] for item in labelled]
            terms = [store.segmenter.query_terms(q) for q in queries]
            for q, t in zip(queries[:5], terms[:5]):  # warm both paths (page cache, jieba)
                store.search(SearchQuery(text=q, valid_on=ON, limit=10))
                baseline(t)
            hub_ms, base_ms, per_query = [], [], {q: [] for q in queries}
            hub_recall, base_recall = [], []
            for r in range(rounds):
                for item, q, t in zip(labelled, queries, terms):
                    began = time.perf_counter()
                    hits = store.search(SearchQuery(text=q, valid_on=ON, limit=10))
                    hub_ms.append(elapsed := (time.perf_counter() - began) * 1000)
                    per_query[q].append(elapsed)
                    began = time.perf_counter()
                    base_top = baseline(t)
                    base_ms.append((time.perf_counter() - began) * 1000)
                    if r == 0:
                        hub_recall.append(recall_at_5([h.article_id for h in hits], set(item["expect"]), rows, copies))
                        base_recall.append(recall_at_5(base_top, set(item["expect"]), rows, copies))
            close()
        finally:
            hub.close()
    slowest = sorted(per_query.items(), key=lambda kv: -statistics.median(kv[1]))[:5]
    return {
        "loaded": loaded,
        "hub": hub_ms,
        "base": base_ms,
        "hub_recall": sum(hub_recall) / len(hub_recall),
        "base_recall": sum(base_recall) / len(base_recall),
        "slowest": [(q, statistics.median(v)) for q, v in slowest],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()

    labelled = yaml.safe_load((FIXTURES / "queries.yaml").read_text(encoding="utf-8"))
    rows = generate(args.articles)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    out = io.StringIO()
    for kind in kinds:
        m = measure(kind, rows, args.rounds, labelled)
        hub50, hub95 = statistics.median(m["hub"]), percentile(m["hub"], 95)
        base50, base95 = statistics.median(m["base"]), percentile(m["base"], 95)
        print(f"{kind}: {args.articles} articles, loaded in {m['loaded']:.1f} s, {len(labelled)} queries x {args.rounds} rounds", file=out)
        print(f"  hub search        p50 {hub50:7.2f} ms   p95 {hub95:7.2f} ms   recall@5 {m['hub_recall']:.3f}", file=out)
        print(f"  baseline (OR all) p50 {base50:7.2f} ms   p95 {base95:7.2f} ms   recall@5 {m['base_recall']:.3f}", file=out)
        print(f"  ratio hub/baseline p50 {hub50 / base50:.2f}   p95 {hub95 / base95:.2f}", file=out)
        print("  slowest (median ms): " + ", ".join(f"{q} {ms:.1f}" for q, ms in m["slowest"]), file=out)
        print(out.getvalue(), end="", flush=True)
        out = io.StringIO()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
