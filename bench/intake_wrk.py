"""Case intake under an external load generator: `hotline-hub serve` as shipped beside the bare stack.

    .venv/bin/python -m bench.intake_wrk [--connections 16 64] [--seconds 10] [--rounds 3]

Each round starts, in their own processes on loopback with a fresh SQLite file (WAL,
synchronous=FULL), the hub exactly as an operator runs it (`python -m hub serve`: every
installed feature, the relay, scheduler and pollers in-process) and the bare baseline
(bench.intake_servers:baseline_app: FastAPI + raw sqlite3, the case, history and event rows
in one transaction). wrk (/usr/bin/wrk) POSTs the same JSON case with a key header through a
Lua script for `--seconds` at each connection count, after a short warm-up. The client is
C, so the servers set the pace, not the generator (bench/intake.py's Python client did).
Rounds alternate which side goes first. Prints requests/s per round, the medians and the
ratio per connection count; any non-2xx answer or socket error fails the run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench._common import ROOT, free_port, median, start_server, stop
from tests.support.factories import draft

WRK = shutil.which("wrk") or "/usr/bin/wrk"
KEY = "hub_bench_" + "k" * 32
PHONE_INDEX_KEY = "00" * 32

LUA = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
{headers}
"""


def _lua(tmp: Path, name: str, headers: dict[str, str]) -> Path:
    body = json.dumps(draft(), ensure_ascii=False)
    lines = "\n".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
    path = tmp / f"{name}.lua"
    # A Lua long string holds the JSON as it is (no escapes to get wrong).
    path.write_text(LUA.format(body=f"[==[{body}]==]", headers=lines), encoding="utf-8")
    return path


def wrk(url: str, script: Path, connections: int, seconds: float) -> float:
    """Requests/s wrk measured; raises if any answer was not 2xx or a socket failed."""
    out = subprocess.run(
        [WRK, "-t", "2", "-c", str(connections), "-d", f"{max(1, round(seconds))}s", "--timeout", "30s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if bad or (errors and re.search(r"[1-9]", errors.group(1))):
        raise RuntimeError(f"wrk saw failures against {url}:\n{out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rate is None:
        raise RuntimeError(f"no rate in wrk's output:\n{out}")
    return float(rate.group(1))


def start_hub(tmp: Path, extra_env: dict[str, str] | None = None, args: list[str] | None = None) -> tuple[subprocess.Popen, int, Path]:
    """`python -m hub serve` on a fresh SQLite file with an agent key; (process, port, db)."""
    port = free_port()
    data = tmp / f"hub-{port}"
    data.mkdir()
    db = data / "hub.db"
    env = {
        **os.environ,
        "HUB_DATA_DIR": str(data),
        "HUB_DATABASE_URL": f"sqlite:///{db}",
        "HUB_SQLITE_SYNCHRONOUS": "FULL",
        "HUB_PHONE_INDEX_KEY": PHONE_INDEX_KEY,
        "HUB_LOG_LEVEL": "WARNING",
        # serve runs in its data directory: a relative PYTHONPATH (the documented `PYTHONPATH=.`)
        # would not find this tree there, and the editable install would import /work/main's hub.
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        **(extra_env or {}),
    }
    subprocess.run([sys.executable, "-m", "hub", "db", "upgrade"], cwd=data, env=env, check=True, capture_output=True)
    _agent_key(db)
    proc = subprocess.Popen([sys.executable, "-m", "hub", "serve", "--port", str(port), *(args or [])], cwd=data, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200:
                return proc, port, db
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"hotline-hub serve exited with {proc.returncode}")
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("hotline-hub serve did not start")


def _agent_key(db: Path) -> None:
    from hub.db.database import Database
    from hub.domain.clock import SystemClock
    from hub.domain.model import Role
    from hub.keys import KeyStore

    database = Database(f"sqlite:///{db}", phone_index_key=bytes.fromhex(PHONE_INDEX_KEY))
    try:
        KeyStore(database).create("bench", Role.AGENT, SystemClock().now(), key=KEY)
    finally:
        database.dispose()


def hub_round(tmp: Path, connections: list[int], seconds: float, serve_args: list[str]) -> dict[int, float]:
    proc, port, _ = start_hub(tmp, args=serve_args)
    try:
        url = f"http://127.0.0.1:{port}/api/v1/cases"
        script = _lua(tmp, "hub", {"X-API-Key": KEY})
        wrk(url, script, connections[0], 2)  # warm-up: imports, caches, the first pages of the file
        return {c: wrk(url, script, c, seconds) for c in connections}
    finally:
        stop(proc)


def baseline_round(tmp: Path, connections: list[int], seconds: float) -> dict[int, float]:
    port = free_port()
    proc = start_server("bench.intake_servers:baseline_app", port, {"BASELINE_DB": str(tmp / f"base-{port}.db")}, "/health")
    try:
        url = f"http://127.0.0.1:{port}/cases"
        script = _lua(tmp, "base", {})
        wrk(url, script, connections[0], 2)
        return {c: wrk(url, script, c, seconds) for c in connections}
    finally:
        stop(proc)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--serve-arg", action="append", default=[], help="passed to `hotline-hub serve` (e.g. --serve-arg=--workers=2)")
    args = p.parse_args()
    hub: dict[int, list[float]] = {c: [] for c in args.connections}
    base: dict[int, list[float]] = {c: [] for c in args.connections}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for i in range(args.rounds):
            # Alternate the order so drift on a shared machine hits both sides alike.
            sides = ["baseline", "hub"] if i % 2 else ["hub", "baseline"]
            for side in sides:
                rates = hub_round(tmp, args.connections, args.seconds, args.serve_arg) if side == "hub" else baseline_round(tmp, args.connections, args.seconds)
                for c, r in rates.items():
                    (hub if side == "hub" else base)[c].append(r)
                print(f"round {i + 1} {side:<8} " + "  ".join(f"{c} conn {r:7.1f}/s" for c, r in rates.items()), flush=True)
    for c in args.connections:
        h, b = median(hub[c]), median(base[c])
        print(f"{c} connections: median hub {h:.1f} cases/s, baseline {b:.1f} cases/s, ratio {h / b:.2f}")
    print(f"(wrk -t 2, {args.seconds:g} s per figure, {args.rounds} rounds, SQLite WAL synchronous=FULL, serve args {args.serve_arg or 'none'}; cwd {ROOT})")


if __name__ == "__main__":
    main()
