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
    province = httpx.Client(base_url=f"http://127.0.0.1:{port + 2}", timeout=5)  # the sandbox province
    try:
        deadline = time.monotonic() + 60
        closed: list[dict] = []
        went_up: dict = {}  # province id -> WorkOrder of a city case the relay reported
        came_down: dict = {}  # province id -> hub case number the poller acknowledged
        while time.monotonic() < deadline and not (closed and went_up and came_down):
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                closed = agent.get("/api/v1/cases", params={"state": "closed"}).json().get("items", [])
                state = province.get("/sandbox/state").json()
                went_up, came_down = state["reported"], state["acks"]
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.5)
        assert closed, "no demo case went all the way to closed"
        history = agent.get(f"/api/v1/cases/{closed[0]['number']}/history").json()
        assert [h["action"] for h in history][:3] == ["register", "accept", "dispatch"]
        assert (tmp_path / "hub.db").exists()

        # UP: city cases created by the demo agent reached the province through the relay.
        assert went_up, "the sandbox province received no city case"
        up_id, order = next(iter(went_up.items()))
        assert agent.get(f"/api/v1/cases/{order['CityCaseNo']}").json()["intake"]["channel"] == "phone"
        # DOWN: a case the province assigned was pulled into the hub (once) and acknowledged.
        assert came_down, "the hub pulled no case from the sandbox province"
        down_id, down_number = next(iter(came_down.items()))
        pulled = agent.get(f"/api/v1/cases/{down_number}").json()
        assert pulled["intake"]["channel"] == "province"
        assert {"system": "province", "external_id": down_id} in [
            {k: r[k] for k in ("system", "external_id")} for r in pulled["external_refs"]]
        assert len(set(came_down.values())) == len(came_down)  # one hub case per assigned case
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "12345 hub sandbox" in out
    assert f"city case {order['CityCaseNo']} reported to the sandbox province (its id {up_id})" in out, out[-3000:]
    assert f"case {down_id} assigned by the province, pulled once and acknowledged as hub case {down_number}" in out, out[-3000:]
    assert re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", out) is None, "a phone number reached the log unmasked"
