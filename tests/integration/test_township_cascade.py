"""二次派单 (issue #20) through the API on a real SQLite file and a real PostgreSQL: a case in
松涛镇 dispatched to 雁江区人民政府, dispatched on by the Yanjiang county key to 松涛镇, which
finds it with its own key, signs off and replies up; the centre sees the cascade and the holder."""

from __future__ import annotations

from fastapi.testclient import TestClient

from hub.domain.model import Role
from tests.integration.test_supervision_scheduler import event_types, local
from tests.support.factories import draft


def _client(hub, key: str) -> TestClient:
    from hub.api.app import create_app

    client = TestClient(create_app(hub))
    client.headers["X-API-Key"] = key
    return client


def test_a_township_finds_what_its_county_dispatched_on_and_replies_up(hub, clock, keys) -> None:
    clock.set(local(2025, 11, 3, 10))
    agent, county = _client(hub, keys["agent"]), _client(hub, keys["yanjiang"])
    town = _client(hub, hub.keys.create("YJ-STZ", Role.UNIT, clock.now(), unit_code="YJ-STZ"))
    other_town = _client(hub, hub.keys.create("YJ-BTZ", Role.UNIT, clock.now(), unit_code="YJ-BTZ"))
    body = draft(intake={"channel": "phone", "received_at": "2025-11-03T09:50:00+08:00"},
                 place={"address": "雁江区松涛镇某村", "division_code": "512002105"})
    number = agent.post("/api/v1/cases", json=body).json()["number"]

    def act(client: TestClient, action: dict) -> dict:
        resp = client.post(f"/api/v1/cases/{number}/actions", json=action)
        assert resp.status_code == 200, resp.text
        return resp.json()

    act(agent, {"action": "accept"})
    act(agent, {"action": "dispatch", "lead_unit": "YJ-GOV"})
    # Before it is dispatched on, the township neither lists nor reads it; the county does (its division).
    assert town.get("/api/v1/cases").json()["items"] == []
    assert town.get(f"/api/v1/cases/{number}").status_code == 403
    assert [i["number"] for i in county.get("/api/v1/cases").json()["items"]] == [number]
    act(county, {"action": "sign_off"})
    far = county.post(f"/api/v1/cases/{number}/actions",
                      json={"action": "forward", "unit": "YJ-STZ", "due_at": "2025-11-25T23:59:59+08:00"})
    assert far.status_code == 409 and "due_at" in far.json()["detail"]
    act(county, {"action": "forward", "unit": "YJ-STZ", "due_at": "2025-11-20T23:59:59+08:00"})

    assert [i["number"] for i in town.get("/api/v1/cases").json()["items"]] == [number]
    assert other_town.get(f"/api/v1/cases/{number}").status_code == 403
    clock.set(local(2025, 11, 5, 9))
    act(town, {"action": "sign_off_forward"})
    seen = agent.get(f"/api/v1/cases/{number}").json()["handling"]
    assert (seen["lead_unit"], seen["holder"]) == ("YJ-GOV", "YJ-STZ")
    assert [(f["unit_code"], f["by_unit"], f["state"]) for f in seen["cascade"]] == [("YJ-STZ", "YJ-GOV", "in_progress")]
    act(town, {"action": "reply_forward", "text": "已现场协调解决"})
    case = act(county, {"action": "reply", "text": "经松涛镇现场协调，问题已解决"})
    assert (case["state"], case["handling"]["holder"]) == ("replied", "YJ-GOV")
    assert event_types(hub, number)[-5:] == ["case.signed_off", "case.forwarded", "case.forward_signed_off",
                                             "case.forward_replied", "case.replied"]
