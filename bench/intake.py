"""Case intake over HTTP: the hub beside a bare FastAPI + raw-driver baseline.

    .venv/bin/python -m bench.intake [--clients 8] [--cases 600] [--rounds 3]

Both servers run in their own process on loopback with a fresh SQLite file (WAL,
synchronous=FULL: every acknowledged case survives power loss). The same concurrent clients
post the same bodies to each. Prints cases/s per round, the medians and the ratio.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import tempfile
import time
from pathlib import Path

import httpx

from bench._common import alternate_rounds, free_port, start_server, stop
from tests.support.factories import draft


def _load(url: str, path: str, headers: dict[str, str], clients: int, cases: int) -> float:
    body = draft()
    per_client = cases // clients

    def worker(_: int) -> int:
        ok = 0
        with httpx.Client(base_url=url, headers=headers, timeout=60) as c:
            for _ in range(per_client):
                r = c.post(path, json=body)
                r.raise_for_status()
                ok += 1
        return ok

    start = time.perf_counter()
    with cf.ThreadPoolExecutor(clients) as pool:
        done = sum(pool.map(worker, range(clients)))
    return done / (time.perf_counter() - start)


def _hub_round(tmp: Path, clients: int, cases: int) -> float:
    port = free_port()
    db = tmp / f"hub-{port}.db"
    key = "hub_bench_" + "k" * 32
    env = {"HUB_DATABASE_URL": f"sqlite:///{db}", "HUB_SQLITE_SYNCHRONOUS": "FULL"}
    proc = start_server("bench.intake_servers:hub_app", port, env, "/api/v1/health")
    try:
        _bootstrap_key(db, key)
        return _load(f"http://127.0.0.1:{port}", "/api/v1/cases", {"X-API-Key": key}, clients, cases)
    finally:
        stop(proc)


def _bootstrap_key(db: Path, key: str) -> None:
    from hub.db.database import Database
    from hub.domain.clock import SystemClock
    from hub.domain.model import Role
    from hub.keys import KeyStore

    database = Database(f"sqlite:///{db}")
    try:
        KeyStore(database).create("bench", Role.AGENT, SystemClock().now(), key=key)
    finally:
        database.dispose()


def _baseline_round(tmp: Path, clients: int, cases: int) -> float:
    port = free_port()
    proc = start_server("bench.intake_servers:baseline_app", port, {"BASELINE_DB": str(tmp / f"base-{port}.db")}, "/health")
    try:
        return _load(f"http://127.0.0.1:{port}", "/cases", {}, clients, cases)
    finally:
        stop(proc)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--cases", type=int, default=600)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        h, b = alternate_rounds(
            args.rounds, lambda: _hub_round(Path(tmp), args.clients, args.cases), lambda: _baseline_round(Path(tmp), args.clients, args.cases), "cases/s"
        )
    print(
        f"median hub {h:.1f} cases/s, baseline {b:.1f} cases/s, ratio {h / b:.2f} "
        f"({args.clients} clients, {args.cases} cases/round, {args.rounds} rounds, SQLite WAL synchronous=FULL)"
    )


if __name__ == "__main__":
    main()
