"""The hub on a database of millions of cases (issue 21, target 6): what each read costs as
the database grows, and how the figures grow with it.

Run on a database filled by bench/scale_generate.py (same --now, same phone index key). Each
run appends one JSON line per size to --results; --curve prints, per metric, the figure at
every size recorded there (the growth curve) and the ratio of the largest size to the smallest.

Measured, in this process, through the hub's own services (the database and the case model,
not HTTP: the request and response work does not grow with the database; intake over HTTP is
bench/intake.py's):
- intake: cases registered one after another (`hub.cases.register`, synchronous=FULL on
  SQLite), per second; the same-run baseline is the same intake on an empty database of the
  same kind, and the ratio is size / empty;
- `GET /cases` (`hub.cases.list`, the centre's view, first page of 50, and the next page
  through the cursor) with each filter, and the phone search: p50 / p95 over --rounds;
- a case read (`hub.cases.get`, with history) of random cases: p50 / p95;
- one scheduler pass (`Scheduler.sweep` at the generator's "now"), twice: the first may warn
  or mark some cases, the second is the steady state; with the count of running cases;
- a month's assessment (`Supervision.assess` of the month before "now", the whole city);
- free-text search of cases (`GET /cases?q=`, a frequent and a rare phrase): p50 / p95;
- database size per case (SQLite: the file; PostgreSQL: pg_database_size).

With --explain the plan of every list query is printed (EXPLAIN QUERY PLAN / EXPLAIN).

    .venv/bin/python -m bench.scale --url sqlite:////tmp/scale-1m.db --label 1M --results bench/scale-results.jsonl
    .venv/bin/python -m bench.scale --curve bench/scale-results.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select, text

from bench.scale_generate import NOW, PHONE_KEY, SEAL_KEY, migrate
from hub.db.models import CaseRow
from hub.db.person_seal import open_doc
from hub.db.repository import CaseQuery
from hub.domain.access import Actor
from hub.domain.clock import ManualClock
from hub.domain.model import CaseDraft, Role
from hub.runtime import build_hub
from hub.settings import Settings
from supervision.assessment import Period
from supervision.scheduler import Scheduler
from supervision.service import Supervision

AGENT = Actor("centre-agent", Role.AGENT)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


BUDGET_S = 8.0  # a read that walks every case gets fewer rounds, not a longer run


def timed(fn: Callable[[], Any], rounds: int) -> tuple[float, float]:
    """(p50, p95) in milliseconds; one untimed call first (plans and caches warm). Stops early
    (at least 3 rounds) once the rounds took BUDGET_S."""
    fn()
    times: list[float] = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
        if len(times) >= 3 and sum(times) > BUDGET_S * 1000:
            break
    return statistics.median(times), pct(times, 95)


def open_hub(url: str, tmp: str, clock: ManualClock):  # noqa: ANN201
    settings = Settings(database_url=url, phone_index_key=PHONE_KEY, person_seal_key=SEAL_KEY, data_dir=Path(tmp), sqlite_synchronous="FULL")
    return build_hub(settings, clock)


def draft(i: int) -> CaseDraft:
    return CaseDraft.model_validate(
        {
            "intake": {"channel": "phone", "received_at": NOW.isoformat(), "agent": "A017"},
            "person": {"name": "张三", "phone": f"139{i:08d}", "kind": "person"},
            "request_type": "complaint",
            "category_code": "0101",
            "title": "小区夜间施工噪音扰民",
            "content": "某小区旁工地夜间施工，噪音持续到凌晨，严重影响休息，请求处理。",
            "place": {"address": "建设路12号", "division_code": "512002001"},
            "urgency": "normal",
        }
    )


def intake_rate(hub: Any, n: int, offset: int) -> float:
    t = time.perf_counter()
    for i in range(n):
        hub.cases.register(draft(offset + i), AGENT)
    return n / (time.perf_counter() - t)


@contextmanager
def captured_sql(hub: Any):  # noqa: ANN201
    """The SELECTs on the cases table the hub sends while the block runs (for --explain)."""
    seen: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")) and "FROM cases" in statement:
            seen.append((statement, parameters))

    engine = hub.db.reader if hasattr(hub.db, "reader") else hub.db.writer
    event.listen(engine, "before_cursor_execute", grab)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", grab)


def explain(hub: Any, statement: str, parameters: Any) -> str:
    with hub.db.read() as s:
        conn = s.connection()
        if hub.db.is_sqlite:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            return "; ".join(r[-1] for r in rows)
        rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        return " | ".join(r[0].strip() for r in rows)


def list_queries(sample: dict[str, Any]) -> dict[str, CaseQuery]:
    month_from = NOW - timedelta(days=400)
    return {
        "none": CaseQuery(),
        "state=in_progress": CaseQuery(state=["in_progress"]),
        "state=archived": CaseQuery(state=["archived"]),
        "state=replied,awaiting_follow_up": CaseQuery(state=["replied", "awaiting_follow_up"]),
        "unit": CaseQuery(unit=sample["unit"]),
        "division=county": CaseQuery(division=sample["division"][:6]),
        "division=township": CaseQuery(division=sample["division"]),
        "type=suggestion": CaseQuery(request_type="suggestion"),
        "overdue=true": CaseQuery(overdue=True),
        "warning=true": CaseQuery(warning=True),
        "due_before": CaseQuery(due_before=NOW + timedelta(days=2)),
        # Deadlines two years back: a few of the cases match, the old ones (a dense match above).
        "due_before 2 years ago": CaseQuery(due_before=NOW - timedelta(days=730)),
        # Two states no case of the fill is in: every case would be read to find none.
        "state=redo_required,returned": CaseQuery(state=["redo_required", "returned"]),
        "division=city (4 digits)": CaseQuery(division=sample["division"][:4]),
        "division=44 (2 digits, none)": CaseQuery(division="44"),
        "channel=weibo": CaseQuery(channel="weibo"),
        "category": CaseQuery(category=sample["category"]),
        "received month": CaseQuery(received_from=month_from, received_to=month_from + timedelta(days=31)),
        "unit+state": CaseQuery(unit=sample["unit"], state=["in_progress"]),
        "phone": CaseQuery(phone=sample["phone"]),
    }


def text_queries() -> dict[str, CaseQuery]:
    return {
        "q frequent (噪音)": CaseQuery(text="噪音"),
        "q rare (不在库中的词)": CaseQuery(text="不在库中的词"),
        # Two characters, in no case: shorter than the trigram index serves (0025).
        "q rare, 2 characters (不在)": CaseQuery(text="不在"),
    }


def db_bytes(hub: Any, url: str) -> int:
    with hub.db.read() as s:
        if hub.db.is_sqlite:
            pages = s.execute(text("PRAGMA page_count")).scalar_one()
            size = s.execute(text("PRAGMA page_size")).scalar_one()
            return int(pages * size)
        return int(s.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def measure(url: str, label: str, rounds: int, intake: int, do_explain: bool, empty_url: str | None, quick: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"label": label, "url": url.split("@")[-1], "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    clock = ManualClock(NOW)
    with tempfile.TemporaryDirectory() as tmp:
        hub = open_hub(url, tmp, clock)
        try:
            with hub.db.read() as s:
                n = s.execute(select(func.count()).select_from(CaseRow)).scalar_one()
                top = s.execute(select(func.max(CaseRow.id))).scalar_one()
                rnd = random.Random(7)
                ids = [rnd.randrange(1, top + 1) for _ in range(rounds)]
                numbers = list(s.execute(select(CaseRow.number).where(CaseRow.id.in_(ids))).scalars())
                row = s.execute(select(CaseRow).where(CaseRow.id == ids[0])).scalar_one()
                # The caller's phone is sealed in the stored document: read it as the hub does.
                phone = open_doc(s, row.doc)["person"]["phone"]
                if not phone:
                    raise SystemExit(f"case {row.number} has no phone: the fill predates sealed callers, fill it again (bench/scale_generate.py)")
                sample = {"unit": "ZY-CGJ", "division": row.division_code, "category": row.category_code, "phone": phone}
            out["cases"] = n
            out["bytes_per_case"] = round(db_bytes(hub, url) / max(n, 1))
            print(f"[{label}] {n:,} cases, {out['bytes_per_case']:,} bytes per case", flush=True)

            k = iter(range(10**9))
            out["read"] = timed(lambda: hub.cases.get(numbers[next(k) % len(numbers)], AGENT), rounds)
            print(f"[{label}] case read p50/p95 {out['read'][0]:.2f} / {out['read'][1]:.2f} ms", flush=True)

            for name, q in {**list_queries(sample), **text_queries()}.items():
                first = timed(lambda q=q: hub.cases.list(q, AGENT), rounds)
                _, cursor = hub.cases.list(q, AGENT) if not quick else (None, None)
                nxt = timed(lambda q=q, cursor=cursor: hub.cases.list(CaseQuery(**{**q.__dict__, "cursor": cursor}), AGENT), rounds) if cursor else None
                out[f"list {name}"] = first
                if nxt:
                    out[f"list {name} page 2"] = nxt
                plan = ""
                if do_explain:
                    with captured_sql(hub) as seen:
                        hub.cases.list(q, AGENT)
                    # Every statement on cases the list sent, in order (a page found in steps,
                    # hub/db/case_pages.py, sends several).
                    plan = "  plan: " + " || ".join(explain(hub, *one) for one in seen)
                page2 = f", page 2 {nxt[0]:.1f} / {nxt[1]:.1f}" if nxt else ""
                print(f"[{label}] list {name:<34} p50/p95 {first[0]:7.1f} / {first[1]:7.1f} ms{page2}{plan}", flush=True)

            sched = Scheduler(hub, holder="scale-bench")
            for i in (1, 2):
                t = time.perf_counter()
                result = sched.sweep()
                out[f"scheduler pass {i}"] = (time.perf_counter() - t) * 1000
                print(f"[{label}] scheduler pass {i}: {out[f'scheduler pass {i}']:.0f} ms ({result.changes} changes)", flush=True)
            with hub.db.read() as s:
                out["running"] = s.execute(
                    select(func.count()).select_from(CaseRow).where(CaseRow.state.in_(("awaiting_sign_off", "in_progress", "return_requested")))
                ).scalar_one()

            month = (NOW.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
            t = time.perf_counter()
            Supervision(hub).assess(Period.parse(month))
            out["assessment month"] = (time.perf_counter() - t) * 1000
            print(f"[{label}] assessment of {month}: {out['assessment month']:.0f} ms (running cases: {out['running']:,})", flush=True)

            done = hub.cases.list(CaseQuery(limit=1), AGENT)[0]
            offset = int(done[0].number[-6:]) if done else 0
            out["intake per s"] = intake_rate(hub, intake, 500_000 + offset)
        finally:
            hub.close()
        if empty_url:
            migrate(empty_url)
            with tempfile.TemporaryDirectory() as tmp2:
                bare = open_hub(empty_url, tmp2, ManualClock(NOW))
                try:
                    out["intake per s, empty db"] = intake_rate(bare, intake, 0)
                finally:
                    bare.close()
            ratio = out["intake per s"] / out["intake per s, empty db"]
            print(f"[{label}] intake {out['intake per s']:.0f}/s, empty database {out['intake per s, empty db']:.0f}/s, ratio {ratio:.2f}", flush=True)
        else:
            print(f"[{label}] intake {out['intake per s']:.0f}/s", flush=True)
    return out


def curve(path: Path) -> None:
    runs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for kind in sorted({r["url"].split(":")[0] for r in runs}):
        mine = sorted((r for r in runs if r["url"].split(":")[0] == kind), key=lambda r: r["cases"])
        sizes = ", ".join(f"{r['label']} ({r['cases']:,})" for r in mine)
        print(f"\n== {kind}: {sizes}")
        metrics = [k for k in mine[-1] if k not in ("label", "url", "date", "cases")]
        for m in metrics:
            vals = [r.get(m) for r in mine]
            shown = [("-" if v is None else f"{v[1]:.1f}" if isinstance(v, list) else f"{v:,.0f}" if v >= 100 else f"{v:.2f}") for v in vals]
            grow = ""
            a, b = vals[0], vals[-1]
            if a is not None and b is not None and len(mine) > 1:
                a, b = (a[1], b[1]) if isinstance(a, list) else (a, b)
                grow = f"   x{b / a:.2f}" if a else ""
            suffix = " (p95 ms)" if isinstance(vals[-1], list) else ""
            print(f"  {m + suffix:<52} " + "  ->  ".join(shown) + grow)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="the filled database (bench/scale_generate.py)")
    p.add_argument("--label", default="")
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--intake", type=int, default=200, help="cases registered for the intake rate")
    p.add_argument("--empty-url", help="an empty database of the same kind for the intake baseline (SQLite: a new file)")
    p.add_argument("--explain", action="store_true")
    p.add_argument("--quick", action="store_true", help="first pages only (no page 2)")
    p.add_argument("--results", type=Path, help="append this run's figures here (JSON lines)")
    p.add_argument("--curve", type=Path, help="print the growth curve from a results file and stop")
    args = p.parse_args(argv)
    if args.curve:
        curve(args.curve)
        return
    if not args.url:
        p.error("--url is required")
    if args.empty_url and args.empty_url.startswith("sqlite:///") and os.path.exists(args.empty_url.removeprefix("sqlite:///")):
        os.remove(args.empty_url.removeprefix("sqlite:///"))
    out = measure(args.url, args.label or args.url, args.rounds, args.intake, args.explain, args.empty_url, args.quick)
    if args.results:
        with args.results.open("a", encoding="utf-8") as f:
            f.write(json.dumps(out, ensure_ascii=False, default=str) + "\n")


if __name__ == "__main__":
    main()
