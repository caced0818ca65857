"""Legacy import benchmark: N generated 12315 rows (GBK CSV) through `LegacyImporter`,
beside a same-run baseline that parses the same file with the csv module and inserts the
same rows (case, external ref, history) with the raw sqlite3 driver, in the same batch
size, on the same schema, with the same durability (WAL, synchronous=FULL).

Each side runs in its own process so its peak memory (ru_maxrss) is its own. With
--repeat N the sides alternate N times on a fresh copy of the schema each; the ratio
reported is the median of the per-run ratios (each hub run over the baseline run just
before it), which a shared, noisy machine disturbs least.

With --dedupe the hub's child also times the duplicate search that `legacy import` runs
after the load by default (its own step, with no baseline: the raw driver has nothing like
it). The generated file has repeat callers: 1 row in 50 comes from the phone of a row up
to a day before it, with the same complaint, so the search finds pairs to score.

    .venv/bin/python -m bench.legacy_import --rows 1000000 [--repeat 3] [--dedupe]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from statistics import median

from adapters.legacy_hotlines.handle import Legacy

ROOT = Path(__file__).resolve().parent.parent
HEADER = "工单编号,登记时间,投诉人,联系电话,诉求类型,问题类别,标题,诉求内容,地址,所属区域,办理状态,承办单位,处理结果,办结时间".split(",")
AREAS = [("雁江区", "雁江分局"), ("安岳县", "安岳县局"), ("乐至县", "乐至县局"), ("市本级", "市局")]
TEXTS = [
    "购买的电暖器使用三天后无法加热，商家拒绝退换",
    "某餐馆后厨卫生条件差，老鼠出没",
    "网购商品退款迟迟未到账",
    "健身房关门后充值卡无法退费",
    "小区电梯频繁故障困人",
    "超市销售过期食品",
    "春节期间猪肉价格明显上涨",
]


def generate(path: Path, rows: int) -> None:
    """Sorted by time like a real export (about 400 cases a day); 1 row in 200 is bad."""
    rnd = random.Random(12315)
    start = datetime(2015, 1, 1, 8, 0)
    recent: list[tuple[str, str]] = [("13000000000", TEXTS[0])] * 400
    with path.open("w", encoding="gb18030", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for i in range(rows):
            at = start + timedelta(seconds=i * 216)
            area, unit = AREAS[i % 4]
            text = TEXTS[rnd.randrange(len(TEXTS))]
            when = at.strftime("%Y年%m月%d日 %H:%M") if i % 2 else at.strftime("%Y/%m/%d %H:%M")
            if i % 200 == 199:
                when = "2018年13月01日"  # refused: no such month
            phone = f"13{rnd.randrange(10**9):09d}"
            if i % 50 == 49:  # a repeat caller: the phone and complaint of a row up to a day (400 rows) before
                phone, text = recent[rnd.randrange(len(recent))]
            recent[i % 400] = (phone, text)
            w.writerow(
                [
                    f"SC{i:09d}",
                    when,
                    "张三",
                    phone,
                    "投诉",
                    f"0{1 + i % 5}",
                    text[:12],
                    text,
                    f"{area}某街道{i % 300}号",
                    area,
                    "已办结" if i % 3 else "已归档",
                    unit,
                    "已调解，商家同意退货",
                    (at + timedelta(days=3)).strftime("%Y年%m月%d日"),
                ]
            )


def fresh_db(template: Path, target: Path) -> None:
    shutil.copyfile(template, target)


def migrate(path: Path) -> None:
    from hub.db.engine import make_engine
    from hub.db.migrate import upgrade
    from hub.features import load_features
    from hub.runtime import build_hub  # noqa: F401  (features register their tables)

    load_features()
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()


# -- the two sides, each in a child process ------------------------------------------------------
def run_hub(db: Path, csv_path: Path, batch: int, dedupe: bool = False) -> dict:
    from adapters.legacy_hotlines.importing.importer import LegacyImporter
    from hub.runtime import build_hub
    from hub.settings import Settings

    hub = build_hub(Settings(database_url=f"sqlite:///{db}", sqlite_synchronous="FULL"))
    try:
        started = time.perf_counter()
        summary = LegacyImporter(hub, hub.handles.get(Legacy).config, batch_size=batch, progress=None).run("12315", csv_path, dedupe=False)
        seconds = time.perf_counter() - started
        out = {"accepted": summary.accepted, "rejected": summary.rejected, "seconds": seconds}
        if dedupe:
            started = time.perf_counter()
            found = LegacyImporter(hub, hub.handles.get(Legacy).config, progress=None).dedupe()
            out.update(dedupe_seconds=time.perf_counter() - started, compared=found.compared, candidates=len(found.candidates))
    finally:
        hub.close()
    return out


def run_baseline(db: Path, csv_path: Path, batch: int) -> dict:
    """csv + the raw driver: no validation and no mapping beyond what the rows need to exist."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    started = time.perf_counter()
    accepted = rejected = 0
    seq: dict[str, int] = {}
    with csv_path.open(encoding="gb18030", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        chunk: list[list[str]] = []

        def flush(rows: list[list[str]]) -> int:
            now = datetime.utcnow().isoformat(sep=" ")
            cases, keep = [], []
            for r in rows:
                try:
                    at = datetime.strptime(r[1], "%Y年%m月%d日 %H:%M" if "年" in r[1] else "%Y/%m/%d %H:%M")
                except ValueError:
                    continue
                day = at.strftime("%Y%m%d")
                seq[day] = seq.get(day, 0) + 1
                number = f"512000{day}{seq[day]:06d}"
                doc = json.dumps(
                    {
                        "number": number,
                        "title": r[6],
                        "content": r[7],
                        "person": {"name": r[2], "phone": r[3]},
                        "place": {"address": r[8]},
                        "received_at": at.isoformat(),
                    },
                    ensure_ascii=False,
                )
                cases.append(
                    (
                        number,
                        1,
                        "closed",
                        "complaint",
                        "0201",
                        "512000",
                        "512000",
                        "normal",
                        "legacy",
                        None,
                        None,
                        None,
                        0,
                        at.isoformat(sep=" "),
                        now,
                        f"{r[6]}\n{r[7]}",
                        doc,
                    )
                )
                keep.append((number, r[0]))
            conn.execute("BEGIN")
            last = conn.execute("SELECT coalesce(max(id), 0) FROM cases").fetchone()[0]
            conn.executemany(
                "INSERT INTO cases (number, version, state, request_type, category_code, division_code, county_code, "
                "urgency, channel, lead_unit, sign_off_due, due_at, overdue, created_at, updated_at, search_text, doc) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                cases,
            )
            ids = [row[0] for row in conn.execute("SELECT id FROM cases WHERE id > ? ORDER BY id", (last,))]
            conn.executemany(
                "INSERT INTO case_external_refs (system, external_id, case_id) VALUES ('legacy.12315', ?, ?)", [(k[1], i) for k, i in zip(keep, ids)]
            )
            conn.executemany(
                "INSERT INTO case_history (case_id, seq, at, actor, role, action, from_state, to_state, note, data) "
                "VALUES (?, 1, ?, 'legacy-import', 'system', 'import', NULL, 'closed', NULL, '{}')",
                [(i, now) for i in ids],
            )
            conn.execute("COMMIT")
            return len(ids)

        for row in reader:
            chunk.append(row)
            if len(chunk) >= batch:
                n = flush(chunk)
                accepted += n
                rejected += len(chunk) - n
                chunk = []
        if chunk:
            n = flush(chunk)
            accepted += n
            rejected += len(chunk) - n
    seconds = time.perf_counter() - started
    conn.close()
    return {"accepted": accepted, "rejected": rejected, "seconds": seconds}


def child(args: argparse.Namespace) -> None:
    if args.side == "hub":
        result = run_hub(Path(args.db), Path(args.csv), args.batch, dedupe=args.dedupe)
    else:
        result = run_baseline(Path(args.db), Path(args.csv), args.batch)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # The hub's import reads a large file ahead in a process of its own (importing/ahead.py):
    # its CPU counts, and both at their peak at once bounds the memory (shared pages twice).
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["peak_rss_mb"] = (usage.ru_maxrss + kids.ru_maxrss) / 1024
    result["reader_peak_rss_mb"] = kids.ru_maxrss / 1024
    result["cpu_s"] = usage.ru_utime + usage.ru_stime + kids.ru_utime + kids.ru_stime  # the whole side, start-up included
    print(json.dumps(result))


def side(name: str, db: Path, csv_path: Path, batch: int, dedupe: bool = False) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.legacy_import",
            "--child",
            name,
            "--db",
            str(db),
            "--csv",
            str(csv_path),
            "--batch",
            str(batch),
            *(["--dedupe"] if dedupe else []),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ},
    )
    if out.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=1, help="runs of each side, alternating; medians are reported")
    p.add_argument("--child", choices=["hub", "baseline"], dest="side")
    p.add_argument("--db")
    p.add_argument("--csv")
    p.add_argument("--dedupe", action="store_true", help="also time the hub's duplicate search after its import")
    args = p.parse_args()
    if args.side:
        child(args)
        return
    work = Path(tempfile.mkdtemp(prefix="legacy-bench-"))
    try:
        csv_path = work / "12315.csv"
        t = time.perf_counter()
        generate(csv_path, args.rows)
        print(f"generated {args.rows:,} rows ({csv_path.stat().st_size / 1e6:.0f} MB, GB18030) in {time.perf_counter() - t:.1f}s")
        template = work / "template.db"
        migrate(template)
        results: dict[str, list[dict]] = {"baseline": [], "hub": []}
        ratios = []
        for _ in range(args.repeat):
            for name in ("baseline", "hub"):
                db = work / f"{name}.db"
                fresh_db(template, db)
                r = side(name, db, csv_path, args.batch, dedupe=args.dedupe and name == "hub")
                for leftover in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
                    leftover.unlink(missing_ok=True)  # a 1M-row hub database is ~3 GB
                r["rate"] = (r["accepted"] + r["rejected"]) / r["seconds"]
                results[name].append(r)
                print(
                    f"{name:<9} {r['accepted']:>9,} accepted {r['rejected']:>7,} refused  {r['seconds']:7.1f} s  "
                    f"{r['rate']:>8,.0f} rows/s  peak {r['peak_rss_mb']:.0f} MB"
                    + (f" (reader {r['reader_peak_rss_mb']:.0f})" if r.get("reader_peak_rss_mb") else "")
                    + f"  cpu {r['cpu_s']:.0f} s",
                    flush=True,
                )
                if "dedupe_seconds" in r:
                    print(
                        f"{'':9} duplicate search {r['dedupe_seconds']:7.1f} s  {r['compared'] / r['dedupe_seconds']:>8,.0f} "
                        f"records/s  {r['candidates']:,} candidates",
                        flush=True,
                    )
            ratios.append(results["hub"][-1]["rate"] / results["baseline"][-1]["rate"])
        hub_peak = max(r["peak_rss_mb"] for r in results["hub"])
        if args.repeat > 1:
            for name, runs in results.items():
                print(f"median {name:<9} {median([r['seconds'] for r in runs]):7.1f} s  {median([r['rate'] for r in runs]):>8,.0f} rows/s")
            print(f"ratios per run: {', '.join(f'{x:.2f}' for x in ratios)}")
        print(f"ratio hub/baseline {median(ratios):.2f} (aim >= 0.5, issue #21); hub peak {hub_peak:.0f} MB (aim < 300)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
