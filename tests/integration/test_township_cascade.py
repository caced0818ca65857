"""二次派单 (issue #20) through the API on a real SQLite file and a real PostgreSQL: a case in
松涛镇 dispatched to 雁江区人民政府, dispatched on by the Yanjiang county key to 松涛镇, which
finds it with its own key, signs off and replies up; the centre sees the cascade and the holder.
The same through Anyue's own update codes, extension included, and the township's figures."""

from __future__ import annotations

from datetime import datetime

from fastapi.testclient import TestClient

from adapters.county.intake import CountyIntake
from hub.domain.access import Actor
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
    body = draft(intake={"channel": "phone", "received_at": "2025-11-03T09:50:00+08:00"}, place={"address": "雁江区松涛镇某村", "division_code": "512002105"})
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
    far = county.post(f"/api/v1/cases/{number}/actions", json={"action": "forward", "unit": "YJ-STZ", "due_at": "2025-11-25T23:59:59+08:00"})
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
    assert event_types(hub, number)[-5:] == ["case.signed_off", "case.forwarded", "case.forward_signed_off", "case.forward_replied", "case.replied"]


def test_anyue_reports_its_township_steps_in_its_own_codes_and_the_township_is_assessed(hub, clock, keys) -> None:
    """Anyue's system (flat snake_case, ISO times, its own words) registers a ticket, the centre
    dispatches it to 安岳县人民政府, and the county reports every step of its 二次派单 to 岳阳镇
    (its code AYX-YYZ) as ticket updates: dispatch on, the township's sign-off, its extension
    request and the county's grant, the township's reply up, the county's reply. 岳阳镇's
    figures for November then hold the step: signed in time, replied inside the granted days."""
    clock.set(local(2025, 11, 3, 10))
    intake = hub.handles.get(CountyIntake)
    cfg = intake.county("anyue")
    county = Actor(party="anyue", role=Role.COUNTY, divisions=("512021",))
    ticket = {
        "gd_id": "AY-T-1",
        "created_at": "2025-11-03T09:50:00+08:00",
        "sq_type": "投诉",
        "sx_code": next(iter(cfg.codes.category)),
        "subject": "村道破损",
        "body": "岳阳镇某村村道破损严重，请修复。",
        "region_code": "512021",
        "address": "安岳县岳阳镇某村",
        "contact_name": "王五",
        "contact_phone": "13900000001",
    }
    number = intake.push(cfg, county, ticket)["case_number"]
    agent = _client(hub, keys["agent"])
    assert agent.post(f"/api/v1/cases/{number}/actions", json={"action": "accept"}).status_code == 200
    assert agent.post(f"/api/v1/cases/{number}/actions", json={"action": "dispatch", "lead_unit": "AY-GOV"}).status_code == 200

    def update(at, action: str, **fields) -> str:
        clock.set(at)
        answer = intake.update(cfg, county, "AY-T-1", {"action": action, "action_time": at.isoformat(), **fields})
        assert answer["status"] == "applied", answer
        return answer["action"]

    steps = [
        update(local(2025, 11, 3, 11), "signed"),
        update(local(2025, 11, 3, 12), "town_dispatch", town_unit="AYX-YYZ", town_deadline="2025-11-14T18:00:00+08:00"),
        update(local(2025, 11, 3, 15), "town_signed"),
        update(local(2025, 11, 12, 9), "town_delay", remark="需等待路面材料", extend_days=2),
        update(local(2025, 11, 12, 10), "town_delay_agreed"),
        update(local(2025, 11, 17, 16), "town_answer", remark="村道已修复"),
        update(local(2025, 11, 17, 17), "answer", remark="经岳阳镇修复，村道已恢复通行"),
    ]
    assert steps == ["sign_off", "forward", "sign_off_forward", "request_forward_extension", "decide_forward_extension", "reply_forward", "reply"]
    case = agent.get(f"/api/v1/cases/{number}").json()
    (step,) = case["handling"]["cascade"]
    assert (case["state"], case["handling"]["holder"], step["unit_code"], step["state"]) == ("replied", "AY-GOV", "AY-YYZ", "replied")
    # 14 Nov (Fri) + 2 working days = the end of 18 Nov (Tue), Beijing time (an extension runs to
    # the end of its last working day, as the case's own do).
    assert datetime.fromisoformat(step["due_at"]) == local(2025, 11, 18, 23, 59, 59)
    assert [(e["working_days"], e["approved"]) for e in step["extensions"]] == [(2, True)]

    clock.set(local(2025, 12, 1, 9))
    supervisor = _client(hub, keys["supervisor"])
    figures = {f["key"]: f for f in supervisor.get("/api/v1/assessment", params={"period": "2025-11", "unit": "AY-YYZ"}).json()["figures"]}
    assert [(i["case"], i["counted"], i["township"]) for i in figures["sign_off_rate"]["items"]] == [(number, True, True)]
    assert [(i["case"], i["counted"]) for i in figures["on_time_rate"]["items"]] == [(number, True)]
    assert datetime.fromisoformat(figures["on_time_rate"]["items"][0]["at"]) == local(2025, 11, 18, 23, 59, 59)
