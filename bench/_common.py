"""Shared bits of the benchmarks: servers in subprocesses, medians, a free port."""

from __future__ import annotations

import asyncio
import cProfile
import io
import os
import pstats
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(module_attr: str, port: int, env: dict[str, str], health: str) -> subprocess.Popen:
    """Run `uvicorn module:attr --factory` in its own process, so the load generator does
    not share the server's interpreter lock."""
    cmd = [sys.executable, "-m", "uvicorn", module_attr, "--factory", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{health}", timeout=1).status_code < 500:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"{module_attr} exited with {proc.returncode}")
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{module_attr} did not start")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def median(values: list[float]) -> float:
    return statistics.median(values)


def alternate_rounds(rounds: int, hub: Callable[[], float], baseline: Callable[[], float], unit: str) -> tuple[float, float]:
    """Run `rounds` rounds of the hub and its baseline, alternating which goes first so drift on
    a shared machine hits both sides alike; print each round's rate and return the two medians."""
    hub_rates: list[float] = []
    base_rates: list[float] = []
    for i in range(rounds):
        pair = [("baseline", baseline), ("hub", hub)] if i % 2 else [("hub", hub), ("baseline", baseline)]
        for name, fn in pair:
            rate = fn()
            (hub_rates if name == "hub" else base_rates).append(rate)
            print(f"round {i + 1} {name:<8} {rate:8.1f} {unit}", flush=True)
    return median(hub_rates), median(base_rates)


async def asgi_post(app: Any, path: str, body: bytes, key: str, extra: dict[str, str] | None = None) -> tuple[int, bytes]:
    """POST straight into an ASGI app, no socket: the profiles (intake_profile, county_profile)
    measure the route's own CPU, not the server's."""
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-api-key", key.encode()),
        *((k.lower().encode(), v.encode()) for k, v in (extra or {}).items()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        return {"type": "http.disconnect"}

    status, answer = 0, b""

    async def send(message: dict) -> None:
        nonlocal status, answer
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            answer += message.get("body", b"")

    await app(scope, receive, send)
    return status, answer


def print_profiles(first: cProfile.Profile, others: list[cProfile.Profile], top: int) -> None:
    """Several threads' profiles merged, the top entries by own time and by cumulative time."""
    out = io.StringIO()
    stats = pstats.Stats(first, stream=out)
    for prof in others:
        if prof.getstats():
            stats.add(prof)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    print(out.getvalue())
