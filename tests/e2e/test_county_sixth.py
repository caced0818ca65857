"""Adding a sixth county is configuration only: a division and unit in the catalogue and
one county file (the one shown in docs/county.md); the hub then takes its pushes and
dispatches to it, with no code."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import httpx
import pytest
import yaml

from adapters.county.intake import CountyIntake
from adapters.county.sandbox import CountySandboxState, create_app
from hub.api.app import create_app as hub_app
from hub.domain.model import Role
from hub.integration.contract import AdapterContext, OutboundMessage
from hub.integration.registry import build_adapter
from hub.runtime import build_hub
from hub.settings import REPO_ROOT, Settings
from tests.support.live import LiveServer

pytestmark = pytest.mark.e2e

DOC = REPO_ROOT / "docs" / "county.md"
README = REPO_ROOT / "README.md"


def _yaml_block(heading: str) -> str:
    """The YAML block under `heading` in docs/county.md: the test runs what the doc shows."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split(heading, 1)[1]
    return re.search(r"```yaml\n(.*?)```", section, re.S).group(1)


def _readme_section() -> str:
    text = README.read_text(encoding="utf-8")
    return text.split("### Adding a sixth county", 1)[1].split("\n## ", 1)[0]


def _readme_destination() -> dict:
    blocks = re.findall(r"```yaml\n(.*?)```", _readme_section(), re.S)
    return yaml.safe_load(blocks[3])["destinations"]["county-shuiyun"]


def _readme_ticket() -> dict:
    """The ticket the README's curl pushes."""
    return json.loads(re.search(r"-d '(.*?)'", _readme_section(), re.S).group(1))


def test_the_readme_shows_the_same_sixth_county() -> None:
    section = _readme_section()
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    assert blocks[:3] == [_yaml_block("### 1. The division"), _yaml_block("### 2. The unit"), _yaml_block("### 3. The county file")]
    destination = _readme_destination()
    assert (destination["adapter"], destination["settings"]["county"], destination["events"]) == ("county", "shuiyun", ["case.*"])
    assert "hotline-hub county check" in section
    assert "hotline-hub keys create --party shuiyun --role county --division 512073" in section


def test_a_sixth_county_is_one_yaml_file(tmp_path: Path, db_url: str, clock) -> None:
    mappings = tmp_path / "mappings"
    shutil.copytree(REPO_ROOT / "mappings", mappings)
    with open(mappings / "divisions.yaml", "a", encoding="utf-8") as f:
        f.write(_yaml_block("### 1. The division"))
    with open(mappings / "units.yaml", "a", encoding="utf-8") as f:
        f.write(_yaml_block("### 2. The unit"))
    (mappings / "county" / "shuiyun.yaml").write_text(_yaml_block("### 3. The county file"), encoding="utf-8")

    hub = build_hub(Settings(database_url=db_url, sqlite_synchronous="NORMAL", mappings_dir=mappings), clock)
    try:
        cfg = hub.handles.get(CountyIntake).counties["shuiyun"]
        key = hub.keys.create("shuiyun", Role.COUNTY, clock.now(), divisions=["512073"])
        agent = hub.keys.create("centre-agent", Role.AGENT, clock.now())
        with LiveServer(hub_app(hub)) as server:
            county = CountySandboxState(cfg, hub_url=server.url, api_key=key)
            pushed = _readme_ticket()  # what the README's curl sends
            resp = county.push_tickets({**pushed, "phone": "13800138000"})
            assert resp.status_code == 201 and resp.json()["status"] == "created", resp.text
            number = resp.json()["case_number"]
            again = county.push_tickets(pushed)
            assert again.status_code == 200 and again.json() == {**resp.json(), "status": "existing"}
            with httpx.Client(base_url=server.url, headers={"X-API-Key": agent}) as a:
                a.post(f"/api/v1/cases/{number}/actions", json={"action": "accept"}).raise_for_status()
                case = a.post(f"/api/v1/cases/{number}/actions", json={"action": "dispatch", "lead_unit": "SY-GOV"}).json()
            assert case["category_code"] == "0102" and case["handling"]["lead_unit"] == "SY-GOV"

            with LiveServer(create_app(county)) as peer:
                settings = {**_readme_destination()["settings"], "url": f"{peer.url}/tickets"}
                adapter = build_adapter("county-shuiyun", "county", settings, AdapterContext("county-shuiyun", clock, mappings))
                event = {"type": "case.dispatched", "occurred_at": clock.now().isoformat(), "data": {"lead_unit": "SY-GOV"}}
                delivered = adapter.deliver(
                    OutboundMessage(
                        idempotency_key="k", destination="county-shuiyun", case_number=number, sequence=1, event_type="case.dispatched", event=event, case=case
                    )
                )
                adapter.close()
            assert delivered.external_ref.external_id == "SY-1"
            assert county.received["k"] == {"op": "dispatch", "ref": "SY-1", "hub": number, "unit": "SY01", "status": "waiting"}
            update = county.push_update("SY-1", {"kind": "ack", "at": "2025-09-26T10:30:00+08:00"})
            assert update.json()["status"] == "applied" and update.json()["county_status"] == "handling"
    finally:
        hub.close()
