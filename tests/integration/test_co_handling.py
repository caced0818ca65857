"""协办 (issue #20) through the API on a real SQLite file and a real PostgreSQL: a complaint
dispatched Mon 2025-11-03 10:00 to ZY-SCJGJ with ZY-RSJ co-handling. Hand counts on an
ordinary November: the part is due to sign Tue Nov 4 and to reply Thu Nov 20 (13 working
days); the case is due Mon Nov 24 (15). ZY-RSJ signs on Nov 4 and replies on Fri Nov 21, a
day late: November's 签收率 for ZY-RSJ is 1/1, its 按时办结率 0/1 with one 超期."""

from __future__ import annotations

from fastapi.testclient import TestClient

from hub.domain.model import Role
from supervision.assessment import Period
from supervision.service import Supervision
from tests.integration.test_supervision_scheduler import event_types, local
from tests.support.factories import draft


def _client(hub, key: str) -> TestClient:
    from hub.api.app import create_app

    client = TestClient(create_app(hub))
    client.headers["X-API-Key"] = key
    return client


def test_a_co_unit_replies_its_part_before_the_lead_replies_the_case(hub, clock, keys) -> None:
    agent, lead, co, supervisor = (_client(hub, keys[k]) for k in ("agent", "unit", "other_unit", "supervisor"))
    clock.set(local(2025, 11, 3, 10))
    number = agent.post("/api/v1/cases", json=draft(intake={"channel": "phone", "received_at": "2025-11-03T09:50:00+08:00"})).json()["number"]
    agent.post(f"/api/v1/cases/{number}/actions", json={"action": "accept"}).raise_for_status()
    agent.post(f"/api/v1/cases/{number}/actions", json={"action": "dispatch", "lead_unit": "ZY-SCJGJ", "co_units": ["ZY-RSJ"]}).raise_for_status()

    parts = agent.get(f"/api/v1/cases/{number}/parts").json()
    assert [(p["unit_code"], p["state"], p["sign_off_due"], p["due_at"]) for p in parts] == [
        ("ZY-RSJ", "awaiting_sign_off", "2025-11-04T15:59:59Z", "2025-11-20T15:59:59Z")
    ]

    clock.set(local(2025, 11, 4, 9))
    lead.post(f"/api/v1/cases/{number}/actions", json={"action": "sign_off"}).raise_for_status()
    # The lead may not sign the co-unit's part, nor the co-unit the case.
    refused = lead.post(f"/api/v1/cases/{number}/actions", json={"action": "sign_off_part", "unit": "ZY-RSJ"})
    assert refused.status_code == 403 and "only its own part" in refused.text
    assert co.post(f"/api/v1/cases/{number}/actions", json={"action": "reply", "text": "x"}).status_code == 403
    co.post(f"/api/v1/cases/{number}/actions", json={"action": "sign_off_part"}).raise_for_status()

    clock.set(local(2025, 11, 21, 10))
    early = lead.post(f"/api/v1/cases/{number}/actions", json={"action": "reply", "text": "已责令停工"})
    assert early.status_code == 409 and "ZY-RSJ" in early.json()["detail"]
    co.post(f"/api/v1/cases/{number}/actions", json={"action": "reply_part", "text": "已核查劳动用工"}).raise_for_status()
    case = lead.post(f"/api/v1/cases/{number}/actions", json={"action": "reply", "text": "已责令停工"}).json()
    assert case["state"] == "replied"
    part = case["handling"]["parts"][0]
    assert (part["state"], part["reply"], part["replied_at"]) == ("replied", "已核查劳动用工", "2025-11-21T02:00:00Z")
    assert event_types(hub, number)[-4:] == ["case.signed_off", "case.part_signed_off", "case.part_replied", "case.replied"]
    # Another unit sees neither the case nor its parts.
    stranger = _client(hub, hub.keys.create("ZY-STHJJ", Role.UNIT, clock.now(), unit_code="ZY-STHJJ"))
    assert stranger.get(f"/api/v1/cases/{number}/parts").status_code == 403

    # The assessment judges the co-unit on its part: signed in time, replied a day late.
    nov = hub.handles.get(Supervision).assess(Period.parse("2025-11"), unit="ZY-RSJ")
    assert [(f.numerator, f.denominator) for f in (nov.figure("sign_off_rate"), nov.figure("on_time_rate"))] == [(1, 1), (0, 1)]
    assert nov.figure("overdue").cases == [number]
    assert all(i.part for i in nov.figure("sign_off_rate").items)
    # The waiver is the supervisor's: nothing is left to waive here.
    gone = supervisor.post(f"/api/v1/cases/{number}/actions", json={"action": "waive_part", "unit": "ZY-RSJ", "reason": "x"})
    assert gone.status_code == 409
