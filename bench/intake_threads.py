"""Concurrent registrations in one process on PostgreSQL: the hub's `cases.register` against a
bare psycopg loop doing the same I/O, at several thread counts.

    PYTHONPATH=. .venv/bin/python -m bench.intake_threads --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_threads

What it shows: whether concurrent registrations queue on a row. Each case is numbered from
the day's counter row; taken inside the registration's transaction, that row stays locked
until the commit and the threads go one whole transaction at a time. The baseline does what
the hub must do per case with no validation, engine or ORM: the day's counter upsert (in a
transaction of its own, as the hub now does on PostgreSQL), then the case row with its JSON
document, one history row and one event row in one durable transaction, on its own pooled
connection per thread, kept. Rounds alternate which side goes first; medians are printed with the
ratio. The rates include the interpreter lock: both sides are Python threads in one process.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from bench._common import alternate_rounds


def _in_threads(threads: int, cases: int, one: Callable[[], None]) -> float:
    per = max(1, cases // threads)

    def work() -> None:
        for _ in range(per):
            one()

    pool = [threading.Thread(target=work) for _ in range(threads)]
    started = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return per * threads / (time.perf_counter() - started)


def _hub_side(url: str) -> tuple[Callable[[], None], Callable[[], None]]:
    from hub.db.migrate import upgrade
    from hub.domain.access import SYSTEM_ACTOR
    from hub.domain.model import CaseDraft
    from hub.runtime import build_hub
    from hub.settings import Settings
    from tests.support.factories import draft

    hub = build_hub(Settings(database_url=url))
    upgrade(hub.db.writer)
    body = draft()
    return (lambda: hub.cases.register(CaseDraft.model_validate(body), SYSTEM_ACTOR)), hub.close


def _bare_side(url: str) -> Callable[[], None]:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("""
            CREATE SCHEMA IF NOT EXISTS bare;
            CREATE TABLE IF NOT EXISTS bare.seq (day text PRIMARY KEY, last integer NOT NULL);
            CREATE TABLE IF NOT EXISTS bare.cases (id bigserial PRIMARY KEY, number text UNIQUE, state text, doc jsonb, created_at timestamptz);
            CREATE TABLE IF NOT EXISTS bare.history (case_id bigint, seq integer, action text, at timestamptz, PRIMARY KEY (case_id, seq));
            CREATE TABLE IF NOT EXISTS bare.events (id bigserial PRIMARY KEY, case_id bigint, type text, payload jsonb);
        """)
    local = threading.local()  # one connection per thread, kept: a pool without the pool's code
    from tests.support.factories import draft

    doc = json.dumps(draft(), ensure_ascii=False)

    def one() -> None:
        now = datetime.now(UTC)
        if not hasattr(local, "c"):
            local.c = psycopg.connect(dsn, autocommit=True)
        c = local.c
        with c.transaction():
            c.execute("SET LOCAL synchronous_commit TO OFF")
            n = c.execute(
                "INSERT INTO bare.seq VALUES (%s, 1) ON CONFLICT (day) DO UPDATE SET last = bare.seq.last + 1 RETURNING last", (now.strftime("%Y%m%d"),)
            ).fetchone()[0]
        with c.transaction():
            number = f"512000{now:%Y%m%d}{n:06d}"
            case_id = c.execute(
                "INSERT INTO bare.cases (number, state, doc, created_at) VALUES (%s, 'registered', %s, %s) RETURNING id", (number, doc, now)
            ).fetchone()[0]
            c.execute("INSERT INTO bare.history VALUES (%s, 1, 'register', %s)", (case_id, now))
            c.execute("INSERT INTO bare.events (case_id, type, payload) VALUES (%s, 'case.registered', %s)", (case_id, json.dumps({"number": number})))

    return one


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", required=True, help="a PostgreSQL database the bench may fill (postgresql+psycopg://...)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--cases", type=int, default=800, help="registrations per round")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    hub_one, close = _hub_side(args.database_url)
    bare_one = _bare_side(args.database_url)
    try:
        for threads in args.threads:
            print(f"-- {threads} threads", flush=True)
            hub, base = alternate_rounds(
                args.rounds, lambda t=threads: _in_threads(t, args.cases, hub_one), lambda t=threads: _in_threads(t, args.cases, bare_one), "cases/s"
            )
            print(f"{threads:>3} threads: hub {hub:.0f} cases/s, bare psycopg {base:.0f} cases/s, ratio {hub / base:.2f}", flush=True)
    finally:
        close()


if __name__ == "__main__":
    main()
