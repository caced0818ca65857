"""Group-committed intake killed under load (hub/db/group_commit.py): every case the hub
answered 201 for is in the database after `serve` dies by SIGKILL, since an answer is only
given once the commit holding the case has returned."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from hub.db.database import Database
from hub.db.repository import CaseRepository
from hub.domain.errors import CaseNotFound
from hub.settings import REPO_ROOT
from tests.support.factories import draft
from tests.support.live import agent_key, free_port

pytestmark = pytest.mark.e2e


def test_every_answered_case_survives_a_sigkill_during_group_committed_intake(tmp_path: Path) -> None:
    db_file = tmp_path / "hub.db"
    env = {
        **os.environ,
        "HUB_DATA_DIR": str(tmp_path),
        "HUB_DATABASE_URL": f"sqlite:///{db_file}",
        "HUB_PHONE_INDEX_KEY": "11" * 32,
        "HUB_PERSON_SEAL_KEY": "22" * 32,
        "HUB_LOG_LEVEL": "WARNING",
    }
    key = agent_key(env)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub", "serve", "--port", str(port)], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "serve did not start"
            time.sleep(0.1)

        answered: list[str] = []
        guard = threading.Lock()
        stop = threading.Event()

        def client() -> None:
            with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30) as c:
                while not stop.is_set():
                    try:
                        r = c.post("/api/v1/cases", json=draft())
                    except httpx.HTTPError:
                        return  # the server died under us: this request was never answered
                    if r.status_code == 201:
                        with guard:
                            answered.append(r.json()["number"])

        threads = [threading.Thread(target=client) for _ in range(16)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while len(answered) < 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)  # mid-load: batches in flight, some committed, some not
        proc.wait(30)
        stop.set()
        for t in threads:
            t.join(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

    assert len(answered) >= 100, "too few cases answered before the kill to tell anything"
    db = Database(f"sqlite:///{db_file}", phone_index_key=bytes.fromhex("11" * 32), person_seal_key=("22" * 32).encode(), group_commit=False)
    try:
        missing = []
        with db.read() as s:
            repo = CaseRepository(s)
            for number in answered:
                try:
                    repo.get(number, with_history=False)
                except CaseNotFound:
                    missing.append(number)
        assert missing == []
    finally:
        db.dispose()
