"""改单 (issue #20) through the API on a real SQLite file and a real PostgreSQL: the corrected
fields are what reads and lists see, the deadline is recounted from the original dispatch,
the history keeps old and new values, case.corrected is stored with the case, and bad
corrections are refused naming the field. Dates: from Fri 2025-09-26 10:00 (the clock's
start) an enquiry's 3rd working day is Tue Sep 30, a complaint's 15th is Thu Oct 23
(National Day Oct 1-8 off, Sun Sep 28 worked)."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.integration.test_supervision_scheduler import event_types
from tests.support.factories import draft

ACTIONS = "/api/v1/cases/{}/actions"


def _dispatched(api) -> str:
    created = api["agent"].post("/api/v1/cases", json=draft())
    assert created.status_code == 201, created.text
    number = created.json()["number"]
    for body in ({"action": "accept"}, {"action": "dispatch", "lead_unit": "ZY-SCJGJ"}):
        done = api["agent"].post(ACTIONS.format(number), json=body)
        assert done.status_code == 200, done.text
    return number


def test_a_supervisor_corrects_a_dispatched_case(api, hub, clock) -> None:
    number = _dispatched(api)
    assert api["agent"].get(f"/api/v1/cases/{number}").json()["handling"]["due_at"].startswith("2025-10-23")
    clock.advance(timedelta(days=3))  # Monday
    done = api["supervisor"].post(
        ACTIONS.format(number),
        json={"action": "correct", "request_type": "enquiry", "category_code": "0102", "title": "咨询道路施工时间", "reason": "话务员登记时把咨询记成了投诉"},
    )
    assert done.status_code == 200, done.text
    case = done.json()
    assert (case["state"], case["request_type"], case["category_code"], case["title"]) == ("awaiting_sign_off", "enquiry", "0102", "咨询道路施工时间")
    # 23:59:59 local on Tue Sep 30 is 15:59:59 UTC.
    assert datetime.fromisoformat(case["handling"]["due_at"]) == datetime.fromisoformat("2025-09-30T15:59:59+00:00")

    # The stored row follows: the list finds it under its new type, not its old one.
    by_new = api["agent"].get("/api/v1/cases", params={"type": "enquiry"}).json()["items"]
    by_old = api["agent"].get("/api/v1/cases", params={"type": "complaint"}).json()["items"]
    assert [i["number"] for i in by_new] == [number] and by_old == []

    history = api["agent"].get(f"/api/v1/cases/{number}/history").json()
    last = history[-1]
    assert (last["action"], last["actor"], last["from_state"], last["to_state"]) == ("correct", "centre-supervisor", "awaiting_sign_off", "awaiting_sign_off")
    assert last["data"]["changes"] == {
        "request_type": {"from": "complaint", "to": "enquiry"},
        "category_code": {"from": "0101", "to": "0102"},
        "title": {"from": "小区噪音扰民", "to": "咨询道路施工时间"},
    }
    assert last["data"]["reason"] == "话务员登记时把咨询记成了投诉"
    assert event_types(hub, number)[-1] == "case.corrected"


def test_an_agent_corrects_before_dispatch_but_not_after(api) -> None:
    created = api["agent"].post("/api/v1/cases", json=draft())
    number = created.json()["number"]
    free = api["agent"].post(ACTIONS.format(number), json={"action": "correct", "urgency": "urgent"})
    assert free.status_code == 200, free.text
    assert free.json()["urgency"] == "urgent"
    api["agent"].post(ACTIONS.format(number), json={"action": "accept"})
    api["agent"].post(ACTIONS.format(number), json={"action": "dispatch", "lead_unit": "ZY-SCJGJ"})
    late = api["agent"].post(ACTIONS.format(number), json={"action": "correct", "urgency": "normal", "reason": "误选"})
    assert late.status_code == 409 and late.json()["type"].endswith("action-not-allowed")
    unit = api["unit"].post(ACTIONS.format(number), json={"action": "correct", "urgency": "normal", "reason": "误选"})
    assert unit.status_code == 409


def test_bad_corrections_are_refused_naming_the_field(api) -> None:
    number = _dispatched(api)
    sup = api["supervisor"]
    no_reason = sup.post(ACTIONS.format(number), json={"action": "correct", "request_type": "enquiry"})
    assert no_reason.status_code == 409 and no_reason.json()["detail"].startswith("reason: ")
    unknown = sup.post(ACTIONS.format(number), json={"action": "correct", "category_code": "ZZZZ", "reason": "改"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == [{"field": "category_code", "reason": "unknown code 'ZZZZ'"}]
    place = sup.post(ACTIONS.format(number), json={"action": "correct", "reason": "改", "place": {"division_code": "519999"}})
    assert place.status_code == 422 and place.json()["errors"][0]["field"] == "place.division_code"
    empty = sup.post(ACTIONS.format(number), json={"action": "correct", "reason": "改"})
    assert empty.status_code == 422 and "at least one of" in empty.text
    same = sup.post(ACTIONS.format(number), json={"action": "correct", "request_type": "complaint", "reason": "改"})
    assert same.status_code == 409 and "nothing to correct" in same.json()["detail"]
    # Nothing of these reached the case.
    case = sup.get(f"/api/v1/cases/{number}").json()
    assert (case["version"], case["category_code"]) == (3, "0101")
