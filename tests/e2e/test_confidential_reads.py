"""Reads of a confidential (保密) case through the API are recorded: who, when, which route;
reads of other cases are not. Real server on loopback, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC

import pytest

from hub.cli import main
from hub.read_audit import list_reads
from tests.conftest import START
from tests.support.factories import draft

pytestmark = pytest.mark.e2e


def _create(client, **changes) -> str:
    resp = client.post("/api/v1/cases", json=draft(**changes))
    assert resp.status_code == 201, resp.text
    return resp.json()["number"]


def test_each_read_of_a_confidential_case_is_recorded(api, hub) -> None:
    secret = _create(api["agent"], person={"name": "王五", "phone": "13700137000", "confidential": True})
    plain = _create(api["agent"])
    assert api["agent"].post(f"/api/v1/cases/{secret}/actions", json={"action": "accept"}).status_code == 200
    assert api["agent"].post(f"/api/v1/cases/{secret}/actions", json={"action": "dispatch", "lead_unit": "ZY-SCJGJ"}).status_code == 200
    assert api["supervisor"].get(f"/api/v1/cases/{secret}").status_code == 200
    unit_view = api["unit"].get(f"/api/v1/cases/{secret}")
    assert unit_view.status_code == 200 and unit_view.json()["person"]["phone"] == "137****7000"  # masked, still a read
    assert api["unit"].get(f"/api/v1/cases/{secret}/history").status_code == 200
    assert api["other_unit"].get(f"/api/v1/cases/{secret}").status_code == 403  # refused: nothing was read
    assert api["supervisor"].get(f"/api/v1/cases/{plain}").status_code == 200  # not confidential: not recorded

    reads = list_reads(hub.db, secret)
    assert [(r.party, r.role, r.route) for r in reads] == [
        ("centre-agent", "agent", "POST /api/v1/cases/{number}/actions"),
        ("centre-agent", "agent", "POST /api/v1/cases/{number}/actions"),
        ("centre-supervisor", "supervisor", "GET /api/v1/cases/{number}"),
        ("ZY-SCJGJ", "unit", "GET /api/v1/cases/{number}"),
        ("ZY-SCJGJ", "unit", "GET /api/v1/cases/{number}/history"),
    ]
    assert {r.at for r in reads} == {START.astimezone(UTC)}  # the hub's (manual) clock
    assert list_reads(hub.db, plain) == []
    assert [r.route for r in list_reads(hub.db, party="ZY-SCJGJ")] == ["GET /api/v1/cases/{number}", "GET /api/v1/cases/{number}/history"]


def test_the_reads_command(api, hub, monkeypatch, capsys) -> None:
    secret = _create(api["agent"], person={"name": "王五", "phone": "13700137000", "confidential": True})
    assert api["supervisor"].get(f"/api/v1/cases/{secret}").status_code == 200
    monkeypatch.setenv("HUB_DATABASE_URL", hub.settings.database_url)
    capsys.readouterr()
    assert main(["privacy", "reads", "--case", secret]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [f"{START.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}  {secret}  centre-supervisor    supervisor GET /api/v1/cases/{{number}}"]
    assert main(["privacy", "reads", "--party", "nobody", "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"


def test_the_direct_answer_route_is_recorded_too(api, hub) -> None:
    from tests.e2e.test_knowledge_api import _published

    aid = _published(api)["id"]
    secret = _create(api["agent"], request_type="enquiry", category_code="0201", person={"name": "王五", "phone": "13700137000", "confidential": True})
    assert api["agent"].post(f"/api/v1/cases/{secret}/actions", json={"action": "accept"}).status_code == 200
    answered = api["agent"].post(f"/api/v1/cases/{secret}/answer", json={"answer": "您可以拨打12315投诉。", "articles": [f"{aid}@1"]})
    assert answered.status_code == 200, answered.text
    assert [r.route for r in list_reads(hub.db, secret)] == ["POST /api/v1/cases/{number}/actions", "POST /api/v1/cases/{number}/answer"]
