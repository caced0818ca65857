"""API writes beside a legacy import into the same SQLite file: write latency with and without.

    .venv/bin/python -m bench.import_beside_traffic [--rows 200000] [--rate 20] [--clients 2] [--same-phone]

The hub serves on a SQLite file (WAL, synchronous=FULL) in its own process; `clients`
threads each POST /api/v1/cases `rate` times a second (paced, not as fast as possible:
live traffic, not a load test). First for `--quiet-seconds` with nothing else running,
then while `hotline-hub legacy import` (the CLI, its own process, default options: the
duplicate search after the load included) loads a generated 12315 export of `--rows` rows
into the same file. Prints median and p99 of each phase and the ratio of the p99s.
`--same-phone`: every API write is the same caller about the same thing (a test number), so
the duplicate search after the load finds a pair for every two of those cases: the case
that once held the writer for 20-27 s while it stored them.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench._common import ROOT, free_port, start_server, stop
from bench.legacy_import import generate
from tests.support.factories import draft


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


failed: list[int] = []  # statuses of writes that were not 201


def _traffic(url: str, key: str, clients: int, rate: float, running: threading.Event, same_phone: bool = False) -> list[float]:
    """Paced writes until `running` is cleared; each answer's latency in seconds."""

    def client(n: int) -> list[float]:
        rnd = random.Random(n)
        out: list[float] = []
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=120) as c:
            next_at = time.perf_counter()
            while running.is_set():
                started = time.perf_counter()
                phone = "13900001234" if same_phone else f"13{rnd.randrange(10**9):09d}"
                r = c.post("/api/v1/cases", json=draft(**{"person.phone": phone}))
                out.append(time.perf_counter() - started)
                if r.status_code != 201:  # counted with its latency, and said
                    failed.append(r.status_code)
                next_at += 1 / rate
                time.sleep(max(0.0, next_at - time.perf_counter()))
        return out

    with cf.ThreadPoolExecutor(clients) as pool:
        return [x for part in pool.map(client, range(clients)) for x in part]


def _phase(url: str, key: str, clients: int, rate: float, until, same_phone: bool = False) -> list[float]:  # noqa: ANN001
    running = threading.Event()
    running.set()
    with cf.ThreadPoolExecutor(1) as pool:
        future = pool.submit(_traffic, url, key, clients, rate, running, same_phone)
        until()
        running.clear()
        return future.result()


def _summary(name: str, latencies: list[float]) -> tuple[float, float]:
    med, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
    print(f"{name:<14} writes {len(latencies):>6}  median {med * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms  max {max(latencies) * 1000:7.1f} ms", flush=True)
    return med, p99


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--rate", type=float, default=20.0, help="writes a second per client")
    p.add_argument("--clients", type=int, default=2)
    p.add_argument("--quiet-seconds", type=float, default=20.0)
    p.add_argument("--same-phone", action="store_true", help="every API write from one phone, same text")
    p.add_argument("--import-nice", type=int, default=0, help="run the import under `nice -n N` (0: as the server)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        db, export = tmp_path / "hub.db", tmp_path / "12315_export.csv"
        generate(export, args.rows)
        port, key = free_port(), "hub_bench_" + "k" * 32
        env = {"HUB_DATABASE_URL": f"sqlite:///{db}", "HUB_SQLITE_SYNCHRONOUS": "FULL", "HUB_LOG_LEVEL": "WARNING"}
        server = start_server("bench.intake_servers:hub_app", port, env, "/api/v1/health")
        try:
            from bench.intake import _bootstrap_key

            _bootstrap_key(db, key)
            url = f"http://127.0.0.1:{port}"
            quiet = _phase(url, key, args.clients, args.rate, lambda: time.sleep(args.quiet_seconds), args.same_phone)
            command = [sys.executable, "-m", "hub", "legacy", "import", "--line", "12315", str(export), "--quiet"]
            if args.import_nice:
                command = ["nice", "-n", str(args.import_nice), *command]
            timing: dict[str, float] = {}

            def run_import() -> None:
                started = time.perf_counter()
                done = subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True)
                timing["import"] = time.perf_counter() - started
                if done.returncode != 0:
                    raise RuntimeError(f"import failed ({done.returncode}): {done.stderr[-2000:]}")
                timing["summary"] = done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""  # type: ignore[assignment]

            busy = _phase(url, key, args.clients, args.rate, run_import, args.same_phone)
        finally:
            stop(server)
    print(f"{args.clients} clients x {args.rate:g} writes/s; import of {args.rows:,} rows (nice {args.import_nice}) took {timing['import']:.1f} s")
    print(f"  {timing.get('summary', '')}")
    _, quiet_p99 = _summary("without import", quiet)
    _, busy_p99 = _summary("during import", busy)
    print(
        f"p99 during / without: {busy_p99 / quiet_p99:.1f}x (aim: p99 during the import < 250 ms); writes not answered 201: {len(failed)} {sorted(set(failed))}"
    )


if __name__ == "__main__":
    main()
