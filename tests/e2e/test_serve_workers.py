"""`serve --workers 2` as a process tree: two API processes under the one `serve`, both taking
requests on the one port, every answered case stored once with its own number, /metrics
counting the requests of both whichever process a scrape reaches; SIGTERM to
`serve` stops both (their worker leases given back) and ends `serve` as a SIGTERM does; and
an API process never outlives a `serve` killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, func, select

from hub.db.models import CaseRow, LeaseRow
from hub.settings import REPO_ROOT
from tests.support.factories import draft
from tests.support.live import agent_key, free_port

pytestmark = pytest.mark.e2e


def _children(pid: int) -> set[int]:
    """The processes whose parent is `pid` (read from /proc)."""
    out = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state, ppid, ...
        if int(fields[1]) == pid and fields[0] != "Z":
            out.add(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"


def _wait(predicate, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HUB_DATA_DIR": str(tmp_path),
        "HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}",
        "HUB_PHONE_INDEX_KEY": "11" * 32,
        "HUB_PERSON_SEAL_KEY": "22" * 32,
        "HUB_LOG_LEVEL": "INFO",
    }


def _start(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "serve", "--port", str(port), "--workers", "2"], cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert proc.poll() is None, log.read_text(errors="replace")
        try:
            return httpx.get(f"{url}/api/v1/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    _wait(ready, 120, "serve to be ready")
    _wait(lambda: len(_children(proc.pid)) == 2, 60, "two API processes")
    return proc, url


def test_two_api_processes_share_the_port_and_stop_together_giving_their_leases_back(tmp_path: Path) -> None:
    env = _env(tmp_path)
    key = agent_key(env)
    log = tmp_path / "serve.log"
    proc, url = _start(env, log)
    children = _children(proc.pid)
    try:

        def register(_: int) -> tuple[int, str]:
            # A connection of its own per case: the kernel hands new connections to either process.
            r = httpx.post(f"{url}/api/v1/cases", json=draft(), headers={"X-API-Key": key}, timeout=60)
            return r.status_code, r.json().get("number", "")

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(register, range(40)))
        assert {status for status, _ in answers} == {201}
        numbers = [number for _, number in answers]
        assert len(set(numbers)) == 40  # one number each, whichever process numbered it
        # Whichever process a scrape reaches, the counters are summed over both.
        wanted = ("hub_http_requests_total", (("method", "POST"), ("route", "/api/v1/cases"), ("status", "201")))
        for _ in range(6):
            assert _samples(httpx.get(f"{url}/metrics", timeout=30).text).get(wanted) == 40
        _wait(lambda: "scheduler" in _lease_names(env), 60, "the scheduler to take its lease")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    output = log.read_text(errors="replace")
    assert proc.returncode == -signal.SIGTERM, output
    assert not any(_alive(pid) for pid in children), output
    engine = create_engine(env["HUB_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(CaseRow).where(CaseRow.number.in_(numbers))).scalar_one()
            held = conn.execute(select(LeaseRow.name, LeaseRow.expires_at)).all()
    finally:
        engine.dispose()
    assert stored == 40
    now = datetime.now(UTC)
    assert [name for name, expires in held if expires > now] == []  # every lease given back (lapsed at once)
    assert output.count("leases released") == 2, output  # each API process stopped its workers


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in text_string_to_metric_families(text) for s in family.samples}


def _lease_names(env: dict[str, str]) -> set[str]:
    engine = create_engine(env["HUB_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return set(conn.execute(select(LeaseRow.name)).scalars())
    finally:
        engine.dispose()


def test_the_api_processes_end_when_serve_is_killed_outright(tmp_path: Path) -> None:
    env = _env(tmp_path)
    proc, _ = _start(env, tmp_path / "serve.log")
    children = _children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    try:
        _wait(lambda: not any(_alive(pid) for pid in children), 120, "the API processes to end after serve was killed")
    finally:
        for pid in children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
