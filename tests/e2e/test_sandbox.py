"""`make run` as a newcomer sees it: the hub, its sandbox peers and demo traffic, as real processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import httpx
import pytest

from hub.sandbox.run import KEYS
from hub.settings import REPO_ROOT
from tests.support.live import free_port

pytestmark = pytest.mark.e2e


def test_sandbox_shows_cases_flowing(tmp_path) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hub", "sandbox", "--port", str(port), "--data-dir", str(tmp_path),
                             "--demo-interval", "0.3"], cwd=REPO_ROOT, env=os.environ.copy(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    agent = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": KEYS["agent"][3]}, timeout=5)
    try:
        deadline = time.monotonic() + 60
        closed: list[dict] = []
        while time.monotonic() < deadline and not closed:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                closed = agent.get("/api/v1/cases", params={"state": "closed"}).json().get("items", [])
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.5)
        assert closed, "no demo case went all the way to closed"
        history = agent.get(f"/api/v1/cases/{closed[0]['number']}/history").json()
        assert [h["action"] for h in history][:3] == ["register", "accept", "dispatch"]
        assert (tmp_path / "hub.db").exists()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "12345 hub sandbox" in out
    assert re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", out) is None, "a phone number reached the log unmasked"
