"""County batch push over HTTP: tickets/s through the hub beside a same-run baseline.

    .venv/bin/python -m bench.county_push [--county gaoxin] [--clients 4] [--batches 20] [--batch 50] [--rounds 3]

Besides the rates it prints each server's CPU per ticket (user + system time of its process over
the round, median of the rounds): what bounds a server once its fsync is cheap.

The hub (bench.intake_servers:hub_app, all features installed) and the baseline each run in
their own process on loopback with a fresh SQLite file (WAL, synchronous=FULL). The same
concurrent clients post the same batches (JSON arrays of tickets in the county's own shape,
each ticket a new ticket id) to each. The hub maps each ticket, checks codes and the key's
divisions, registers it (case, external ref, history, event) and answers per item: the batch's
tickets are registered as one unit of work in a shared commit (group commit); if one fails,
that unit is rolled back and each ticket registered as its own unit, so one bad ticket never
undoes the others. The baseline is a
bare FastAPI endpoint inserting equivalent rows per ticket (case row with its JSON document,
external ref, history row, event row) with the raw sqlite3 driver, one transaction per
ticket, same durability; no mapping, no validation, no auth. With a signing county
(--county yanjiang) the hub also checks the HMAC signature; the baseline does not.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import sqlite3
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fastapi import FastAPI, Request

from bench._common import alternate_rounds, free_port, median, start_server, stop

SECRET = "bench-county-secret"

# CPU seconds per ticket of each round's server process (user + system, from /proc): the cost
# that bounds a server once its fsync is cheap (a quiet machine), less swayed than the rates
# by what else runs on a shared box.
CPU_PER_TICKET: dict[str, list[float]] = {"hub": [], "baseline": []}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _tickets(county: str, start: int, n: int) -> list[dict]:
    from adapters.county.config import load_counties
    from adapters.county.mapping import format_date, set_path
    from hub.settings import REPO_ROOT

    cfg = load_counties(REPO_ROOT / "mappings")[county]
    f = cfg.ticket
    now = datetime.now(UTC)
    out = []
    for i in range(start, start + n):
        t: dict = {}
        for path, value in [
            (f.ticket_id, f"BENCH-{i:08d}"),
            (f.received_at, format_date(cfg, now)),
            (f.request_type, cfg.reverse("request_type")["complaint"]),
            (f.category, cfg.reverse("category")["0101"]),
            (f.title, "夜间施工噪音扰民"),
            (f.content, "小区旁工地夜间施工，噪音很大，影响休息。"),
            (f.division, cfg.divisions[0] + "001"),
            (f.address, "某路12号"),
            (f.person_name, "张三"),
            (f.person_phone, "13800138000"),
        ]:
            if path:
                set_path(t, path, value)
        out.append(t)
    return out


def _load(url: str, path: str, headers: dict[str, str], county: str, clients: int, batches: int, size: int, sign: bool, server: int, side: str) -> float:
    from adapters.county.signing import signed_headers

    per_client = batches // clients
    bodies = [[json.dumps(_tickets(county, (c * per_client + b) * size, size), ensure_ascii=False).encode() for b in range(per_client)] for c in range(clients)]

    def worker(c: int) -> int:
        ok = 0
        with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
            for body in bodies[c]:
                extra = signed_headers(SECRET, int(time.time()), body) if sign else {}
                r = client.post(path, content=body, headers={"Content-Type": "application/json", **extra})
                r.raise_for_status()
                results = r.json()["results"]
                assert all(x["status"] == "created" for x in results), results[:2]
                ok += len(results)
        return ok

    cpu = _cpu_seconds(server)
    start = time.perf_counter()
    with cf.ThreadPoolExecutor(clients) as pool:
        done = sum(pool.map(worker, range(clients)))
    rate = done / (time.perf_counter() - start)
    CPU_PER_TICKET[side].append((_cpu_seconds(server) - cpu) / done)
    return rate


def _hub_round(tmp: Path, args: argparse.Namespace) -> float:
    from adapters.county.config import load_counties
    from hub.settings import REPO_ROOT

    cfg = load_counties(REPO_ROOT / "mappings")[args.county]
    port = free_port()
    db = tmp / f"hub-{port}.db"
    key = "hub_benchcounty_" + "k" * 32
    env = {"HUB_DATABASE_URL": f"sqlite:///{db}", "HUB_SQLITE_SYNCHRONOUS": "FULL"}
    if cfg.security.hmac_secret_env:
        env[cfg.security.hmac_secret_env] = SECRET
    proc = start_server("bench.intake_servers:hub_app", port, env, "/api/v1/health")
    try:
        _county_key(db, key, cfg.key_party, list(cfg.divisions))
        return _load(
            f"http://127.0.0.1:{port}",
            f"/api/v1/counties/{args.county}/tickets",
            {"X-API-Key": key},
            args.county,
            args.clients,
            args.batches,
            args.batch,
            bool(cfg.security.hmac_secret_env),
            proc.pid,
            "hub",
        )
    finally:
        stop(proc)


def _county_key(db: Path, key: str, party: str, divisions: list[str]) -> None:
    from hub.db.database import Database
    from hub.domain.clock import SystemClock
    from hub.domain.model import Role
    from hub.keys import KeyStore

    database = Database(f"sqlite:///{db}")
    try:
        KeyStore(database).create(party, Role.COUNTY, SystemClock().now(), divisions=divisions, key=key)
    finally:
        database.dispose()


def _baseline_round(tmp: Path, args: argparse.Namespace) -> float:
    port = free_port()
    proc = start_server("bench.county_push:baseline_app", port, {"BASELINE_DB": str(tmp / f"base-{port}.db")}, "/health")
    try:
        return _load(f"http://127.0.0.1:{port}", "/tickets", {}, args.county, args.clients, args.batches, args.batch, False, proc.pid, "baseline")
    finally:
        stop(proc)


def baseline_app() -> FastAPI:
    """uvicorn factory: per ticket, a case row, an external ref, a history row and an event row."""
    from starlette.concurrency import run_in_threadpool

    path = os.environ["BASELINE_DB"]
    local = threading.local()

    def conn() -> sqlite3.Connection:
        if not hasattr(local, "c"):
            c = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=FULL")
            c.execute("PRAGMA busy_timeout=30000")
            local.c = c
        return local.c

    conn().executescript("""
        CREATE TABLE IF NOT EXISTS cases (id INTEGER PRIMARY KEY, number TEXT UNIQUE, state TEXT, doc TEXT, created_at TEXT);
        CREATE TABLE IF NOT EXISTS refs (system TEXT, external_id TEXT, case_id INTEGER, PRIMARY KEY (system, external_id));
        CREATE TABLE IF NOT EXISTS case_history (case_id INTEGER, seq INTEGER, action TEXT, at TEXT, PRIMARY KEY (case_id, seq));
        CREATE TABLE IF NOT EXISTS case_events (id INTEGER PRIMARY KEY, case_id INTEGER, type TEXT, payload TEXT);
    """)
    counter = {"n": 0}
    lock = threading.Lock()
    app = FastAPI()

    @app.get("/health")
    def health() -> dict:
        return {"ok": True}

    @app.post("/tickets")
    async def push(request: Request) -> dict:
        tickets = json.loads(await request.body())

        def write() -> list[dict]:
            c = conn()
            results = []
            for i, ticket in enumerate(tickets):
                with lock:
                    counter["n"] += 1
                    number = f"512000{counter['n']:012d}"
                now = datetime.now(UTC).isoformat()
                ticket_id = json.dumps(ticket, ensure_ascii=False)[:64]
                c.execute("BEGIN IMMEDIATE")
                cur = c.execute(
                    "INSERT INTO cases (number, state, doc, created_at) VALUES (?, 'registered', ?, ?)", (number, json.dumps(ticket, ensure_ascii=False), now)
                )
                c.execute("INSERT OR IGNORE INTO refs VALUES ('county', ?, ?)", (ticket_id + number, cur.lastrowid))
                c.execute("INSERT INTO case_history VALUES (?, 1, 'register', ?)", (cur.lastrowid, now))
                c.execute("INSERT INTO case_events (case_id, type, payload) VALUES (?, 'case.registered', ?)", (cur.lastrowid, json.dumps({"number": number})))
                c.execute("COMMIT")
                results.append({"index": i, "status": "created", "case_number": number})
            return results

        return {"results": await run_in_threadpool(write)}

    return app


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--county", default="gaoxin")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--batches", type=int, default=20, help="batches per round, split over the clients")
    p.add_argument("--batch", type=int, default=50, help="tickets per batch")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        h, b = alternate_rounds(args.rounds, lambda: _hub_round(Path(tmp), args), lambda: _baseline_round(Path(tmp), args), "tickets/s")
    print(
        f"median hub {h:.1f} tickets/s, baseline {b:.1f} tickets/s, ratio {h / b:.2f} "
        f"(county {args.county}, {args.clients} clients, {args.batches} batches x {args.batch} tickets/round, "
        f"{args.rounds} rounds, SQLite WAL synchronous=FULL)"
    )
    hub_cpu, base_cpu = median(CPU_PER_TICKET["hub"]), median(CPU_PER_TICKET["baseline"])
    print(f"server CPU per ticket (median): hub {hub_cpu * 1000:.3f} ms, baseline {base_cpu * 1000:.3f} ms, baseline/hub {base_cpu / hub_cpu:.2f}")


if __name__ == "__main__":
    main()
