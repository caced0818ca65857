"""Real HTTP servers on loopback: uvicorn for ASGI apps in a thread, and `hotline-hub serve` as
a process."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from hub.settings import REPO_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(env: dict[str, str], timeout: float) -> tuple[subprocess.Popen, str]:
    """`python -m hub serve` on a free port, with `env` over this process's environment, once
    GET /api/v1/ready answers 200: the process (output and errors together, as text) and its
    URL. The caller ends the process."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub", "serve", "--port", str(port)],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/api/v1/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if time.monotonic() >= deadline or proc.poll() is not None:
            proc.terminate()
            output = proc.communicate(timeout=30)[0]
            raise AssertionError(f"serve did not become ready:\n{output[-2000:]}")
        time.sleep(0.1)


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port_block(span: int) -> int:
    """A base port with base .. base + span all free, for a process that lays out its peers at
    fixed offsets from its own port (`hotline-hub sandbox`). Taken below the kernel's ephemeral
    range, where free_port() and outgoing connections get their ports (a parallel test worker
    could land inside a block taken from there while its process starts), and from a slice of
    its own per pytest-xdist worker (PYTEST_XDIST_WORKER=gw0, gw1, ...), so two workers starting
    a sandbox at the same moment cannot pick overlapping blocks."""
    low, high = 10000, _ephemeral_low() - span - 1
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if worker.isdigit() and workers > 1:
        width = (high - low) // workers
        low = low + int(worker) * width
        high = low + width - span - 1
    pick = random.SystemRandom()  # not the module-level random, which a test may have seeded
    for _ in range(200):
        base = pick.randint(low, high)
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + span + 1):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no block of {span + 1} free ports between {low} and {high + span}")


class LiveServer:
    def __init__(self, app, port: int | None = None) -> None:  # noqa: ANN001
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"server on {self.url} did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def agent_key(env: dict[str, str]) -> str:
    """An agent's API key, made by `hotline-hub keys create` against the hub that `env` configures
    (the e2e tests that start `serve` as a process need one before it runs)."""
    created = subprocess.run(
        [sys.executable, "-m", "hub", "keys", "create", "--party", "centre", "--role", "agent"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()
