"""The REST API through a real server on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from tests.support.factories import draft

pytestmark = pytest.mark.e2e


def _problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["status"] == status and body["type"].startswith("https://") and body["title"]
    return body


def _create(client, **changes) -> dict:
    resp = client.post("/api/v1/cases", json=draft(**changes))
    assert resp.status_code == 201, resp.text
    return resp.json()


def _act(client, number: str, body: dict, status: int = 200) -> dict:
    resp = client.post(f"/api/v1/cases/{number}/actions", json=body)
    assert resp.status_code == status, resp.text
    return resp.json()


def test_full_lifecycle_over_http(api) -> None:
    case = _create(api["agent"])
    number = case["number"]
    assert number.startswith("51200020250926") and len(number) == 20
    assert case["state"] == "registered" and case["version"] == 1
    _act(api["agent"], number, {"action": "accept"})
    dispatched = _act(api["agent"], number, {"action": "dispatch", "lead_unit": "ZY-SCJGJ", "co_units": ["YJ-GOV"]})
    assert dispatched["state"] == "awaiting_sign_off"
    # Complaint: 15 working days from Fri 2025-09-26 across the National Day holiday.
    assert dispatched["handling"]["due_at"] == "2025-10-23T15:59:59Z"
    assert dispatched["handling"]["sign_off_due"] == "2025-09-28T15:59:59Z"  # Sunday 28th is a make-up working day
    _act(api["unit"], number, {"action": "sign_off"})
    # 协办: the co-unit (雁江区政府, through its county) replies its part before the lead replies the case.
    _act(api["yanjiang"], number, {"action": "sign_off_part", "unit": "YJ-GOV"})
    _act(api["yanjiang"], number, {"action": "reply_part", "unit": "YJ-GOV", "text": "已安排街道现场核查"})
    _act(api["unit"], number, {"action": "reply", "text": "已责令施工方停止夜间施工"})
    _act(api["supervisor"], number, {"action": "review_reply", "approved": True})
    closed = _act(api["agent"], number, {"action": "follow_up", "reached": True, "resolved": True, "satisfaction": "satisfied"})
    assert closed["state"] == "closed"
    archived = _act(api["supervisor"], number, {"action": "archive"})
    assert archived["state"] == "archived"
    history = api["agent"].get(f"/api/v1/cases/{number}/history").json()
    assert [h["action"] for h in history] == [
        "register",
        "accept",
        "dispatch",
        "sign_off",
        "sign_off_part",
        "reply_part",
        "reply",
        "review_reply",
        "follow_up",
        "archive",
    ]
    assert [h["seq"] for h in history] == list(range(1, 11))


def test_idempotency_key(api) -> None:
    headers = {"Idempotency-Key": "intake-42"}
    first = api["agent"].post("/api/v1/cases", json=draft(), headers=headers)
    again = api["agent"].post("/api/v1/cases", json=draft(), headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["number"] == again.json()["number"]
    different = api["agent"].post("/api/v1/cases", json=draft(title="另一件事"), headers=headers)
    body = _problem(different, 422)
    assert body["errors"][0]["field"] == "header.Idempotency-Key"
    listed = api["agent"].get("/api/v1/cases").json()["items"]
    assert len(listed) == 1


@pytest.mark.parametrize(
    ("changes", "field", "where"),
    [
        ({"place.division_code": "999999"}, "place.division_code", "divisions"),
        ({"category_code": "XX99"}, "category_code", "categories"),
    ],
)
def test_unknown_codes_name_the_field_and_where_codes_live(api, changes, field, where) -> None:
    body = _problem(api["agent"].post("/api/v1/cases", json=draft(**changes)), 422)
    assert body["errors"][0]["field"] == field
    assert where in body["valid_codes_at"]


def test_unknown_unit_on_dispatch(api) -> None:
    number = _create(api["agent"])["number"]
    _act(api["agent"], number, {"action": "accept"})
    body = _problem(api["agent"].post(f"/api/v1/cases/{number}/actions", json={"action": "dispatch", "lead_unit": "NOPE"}), 422)
    assert body["errors"][0]["field"] == "lead_unit" and "units" in body["valid_codes_at"]


def test_bad_type_and_phone_are_422_with_field(api) -> None:
    body = _problem(api["agent"].post("/api/v1/cases", json=draft(request_type="rumour")), 422)
    assert body["errors"][0]["field"] == "body.request_type"
    body = _problem(api["agent"].post("/api/v1/cases", json=draft(**{"person.phone": "12-34"})), 422)
    assert body["errors"][0]["field"] == "body.person.phone"
    assert "mobile" in body["errors"][0]["reason"]


def test_content_too_large_is_413(api, hub) -> None:
    body = _problem(api["agent"].post("/api/v1/cases", json=draft(content="噪" * (hub.settings.max_content_chars + 1))), 413)
    assert body["errors"][0]["field"] == "body.content"
    huge = b'{"x": "' + b"a" * (hub.settings.max_body_bytes + 10) + b'"}'
    _problem(api["agent"].post("/api/v1/cases", content=huge, headers={"content-type": "application/json"}), 413)
    assert api["agent"].get("/api/v1/cases").json()["items"] == []


def test_illegal_action_is_409_with_allowed_actions(api) -> None:
    number = _create(api["agent"])["number"]
    body = _problem(api["unit"].post(f"/api/v1/cases/{number}/actions", json={"action": "sign_off"}), 403)
    assert "not visible" in body["detail"]
    body = _problem(api["agent"].post(f"/api/v1/cases/{number}/actions", json={"action": "reply", "text": "x"}), 409)
    assert body["state"] == "registered"
    assert body["allowed_actions"] == ["accept", "reject", "transfer_emergency", "merge", "correct"]  # correct: 改单 before dispatch


def test_unknown_case_404_and_auth_401(api) -> None:
    _problem(api["agent"].get("/api/v1/cases/51200020250926999999"), 404)
    _problem(api["anonymous"].get("/api/v1/cases"), 401)
    bad = api["anonymous"].get("/api/v1/cases", headers={"X-API-Key": "hub_deadbeef_" + "x" * 30})
    _problem(bad, 401)
    _problem(api["agent"].put("/api/v1/calendar/overrides/2027-01-01", json={"is_workday": False}), 403)


def test_county_sees_only_its_divisions(api) -> None:
    yanjiang_case = _create(api["agent"])["number"]
    anyue_case = _create(api["agent"], **{"place.division_code": "512021001", "place.address": "安岳县岳阳镇"})["number"]
    assert api["yanjiang"].get(f"/api/v1/cases/{yanjiang_case}").status_code == 200
    _problem(api["yanjiang"].get(f"/api/v1/cases/{anyue_case}"), 403)
    _problem(api["anyue"].get(f"/api/v1/cases/{yanjiang_case}"), 403)
    _problem(api["anyue"].post(f"/api/v1/cases/{yanjiang_case}/actions", json={"action": "accept"}), 403)
    listed = [c["number"] for c in api["anyue"].get("/api/v1/cases").json()["items"]]
    assert listed == [anyue_case]
    # A county may register only in its own divisions.
    _problem(api["anyue"].post("/api/v1/cases", json=draft()), 403)


def test_unit_sees_only_cases_dispatched_to_it(api) -> None:
    number = _create(api["agent"])["number"]
    assert api["unit"].get("/api/v1/cases").json()["items"] == []
    _act(api["agent"], number, {"action": "accept"})
    _act(api["agent"], number, {"action": "dispatch", "lead_unit": "ZY-SCJGJ"})
    assert [c["number"] for c in api["unit"].get("/api/v1/cases").json()["items"]] == [number]
    _problem(api["other_unit"].get(f"/api/v1/cases/{number}"), 403)


def test_confidential_person_is_masked_for_units(api) -> None:
    number = _create(api["agent"], **{"person.confidential": True})["number"]
    _act(api["agent"], number, {"action": "accept"})
    _act(api["agent"], number, {"action": "dispatch", "lead_unit": "ZY-SCJGJ"})
    seen_by_unit = api["unit"].get(f"/api/v1/cases/{number}").json()["person"]
    assert seen_by_unit["name"] == "张*" and seen_by_unit["phone"] == "138****8000"
    assert api["agent"].get(f"/api/v1/cases/{number}").json()["person"]["phone"] == "13800138000"


def test_racing_updates_exactly_one_409(api) -> None:
    number = _create(api["agent"])["number"]
    version = api["agent"].get(f"/api/v1/cases/{number}").headers["ETag"]
    barrier = threading.Barrier(2)
    results: list[int] = []

    def accept(client) -> None:
        barrier.wait()
        r = client.post(f"/api/v1/cases/{number}/actions", json={"action": "accept"}, headers={"If-Match": version})
        results.append(r.status_code)

    threads = [threading.Thread(target=accept, args=(api[name],)) for name in ("agent", "supervisor")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 409]
    case = api["agent"].get(f"/api/v1/cases/{number}").json()
    assert case["version"] == 2 and len(case["history"]) == 2


def test_list_filters_and_cursor_pagination(api, clock) -> None:
    numbers = [_create(api["agent"], title=f"噪音 {i}")["number"] for i in range(5)]
    _create(api["agent"], request_type="enquiry", title="社保 咨询", content="社保卡如何补办")
    page1 = api["agent"].get("/api/v1/cases", params={"q": "噪音", "limit": 2}).json()
    page2 = api["agent"].get("/api/v1/cases", params={"q": "噪音", "limit": 2, "cursor": page1["next_cursor"]}).json()
    page3 = api["agent"].get("/api/v1/cases", params={"q": "噪音", "limit": 2, "cursor": page2["next_cursor"]}).json()
    seen = [c["number"] for c in page1["items"] + page2["items"] + page3["items"]]
    assert seen == list(reversed(numbers)) and page3["next_cursor"] is None
    enquiries = api["agent"].get("/api/v1/cases", params={"type": "enquiry"}).json()["items"]
    assert [c["title"] for c in enquiries] == ["社保 咨询"]
    _act(api["agent"], numbers[0], {"action": "accept"})
    _act(api["agent"], numbers[0], {"action": "dispatch", "lead_unit": "ZY-SCJGJ"})
    by_unit = api["agent"].get("/api/v1/cases", params={"unit": "ZY-SCJGJ"}).json()["items"]
    assert [c["number"] for c in by_unit] == [numbers[0]]
    in_progress = api["agent"].get("/api/v1/cases", params={"state": "awaiting_sign_off"}).json()["items"]
    assert [c["number"] for c in in_progress] == [numbers[0]]
    assert api["agent"].get("/api/v1/cases", params={"overdue": "true"}).json()["items"] == []
    assert [c["number"] for c in api["agent"].get("/api/v1/cases", params={"due_before": "2025-12-01T00:00:00+08:00"}).json()["items"]] == [numbers[0]]
    from datetime import timedelta

    clock.advance(timedelta(days=40))
    assert [c["number"] for c in api["agent"].get("/api/v1/cases", params={"overdue": "true"}).json()["items"]] == [numbers[0]]
    assert len(api["agent"].get("/api/v1/cases", params={"division": "512002"}).json()["items"]) == 6
    body = _problem(api["agent"].get("/api/v1/cases", params={"cursor": "garbage!"}), 422)
    assert body["errors"][0]["field"] == "query.cursor"


def test_return_extension_and_redo_flow(api) -> None:
    number = _create(api["agent"])["number"]
    _act(api["agent"], number, {"action": "accept"})
    _act(api["agent"], number, {"action": "dispatch", "lead_unit": "ZY-SCJGJ"})
    _act(api["unit"], number, {"action": "request_return", "reason": "不属于本单位职责"})
    back = _act(api["supervisor"], number, {"action": "decide_return", "approved": False})
    assert back["state"] == "awaiting_sign_off"  # refused: back where the unit was
    _act(api["unit"], number, {"action": "sign_off"})
    before = _act(api["unit"], number, {"action": "request_extension", "working_days": 5, "reason": "需现场核查"})
    _problem(api["unit"].post(f"/api/v1/cases/{number}/actions", json={"action": "request_extension", "working_days": 2, "reason": "again"}), 409)
    after = _act(api["supervisor"], number, {"action": "decide_extension", "approved": True})
    assert after["handling"]["due_at"] > before["handling"]["due_at"]
    _act(api["unit"], number, {"action": "reply", "text": "已处理"})
    _act(api["agent"], number, {"action": "review_reply", "approved": True})
    redo = _act(api["agent"], number, {"action": "follow_up", "reached": True, "resolved": False, "satisfaction": "unsatisfied"})
    assert redo["state"] == "redo_required"
    again = _act(api["agent"], number, {"action": "redo"})
    assert again["state"] == "accepted" and again["outcome"]["redo_count"] == 1


def test_merge_links_both_cases(api) -> None:
    keep = _create(api["agent"])["number"]
    dup = _create(api["agent"])["number"]
    merged = _act(api["agent"], dup, {"action": "merge", "into": keep})
    assert merged["state"] == "merged" and merged["links"]["merged_into"] == keep
    assert api["agent"].get(f"/api/v1/cases/{keep}").json()["links"]["merged_cases"] == [dup]
    body = _problem(api["agent"].post(f"/api/v1/cases/{keep}/actions", json={"action": "merge", "into": "51200020990101000001"}), 409)
    assert "not found" in body["detail"]


def test_health_ready_and_calendar_overrides(api) -> None:
    assert api["anonymous"].get("/api/v1/health").json() == {"status": "ok"}
    ready = api["anonymous"].get("/api/v1/ready")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "migrations": "ok"}
    put = api["supervisor"].put("/api/v1/calendar/overrides/2027-01-01", json={"is_workday": False, "note": "元旦"})
    assert put.status_code == 200
    assert api["agent"].get("/api/v1/calendar/overrides").json() == [{"day": "2027-01-01", "is_workday": False, "note": "元旦"}]
    assert api["supervisor"].delete("/api/v1/calendar/overrides/2027-01-01").status_code == 204
    _problem(api["supervisor"].delete("/api/v1/calendar/overrides/2027-01-01"), 404)


def test_late_december_work_goes_on_and_the_year_is_imported_over_http(api, clock) -> None:
    from datetime import datetime

    from hub.calendar_import import load_schedule_file
    from hub.domain.clock import LOCAL_TZ
    from hub.settings import REPO_ROOT

    # Sunday 2026-12-20: chinesecalendar knows 2026, not 2027.
    clock.set(datetime(2026, 12, 20, 10, 0, tzinfo=LOCAL_TZ))
    status = api["agent"].get("/api/v1/calendar/status").json()
    assert (status["next_year"], status["next_year_known"]) == (2027, False)
    assert "2027" in status["warning"] and "calendar import" in status["warning"]
    assert api["anonymous"].get("/api/v1/ready").json()["calendar"]["next_year_known"] is False
    assert 'hub_calendar_next_year_known{year="2027"} 0.0' in api["anonymous"].get("/metrics").text

    number = _create(api["agent"], request_type="complaint")["number"]
    _act(api["agent"], number, {"action": "accept"})
    case = _act(api["agent"], number, {"action": "dispatch", "lead_unit": "ZY-SCJGJ"})
    # 15 working days Mon-Fri from Dec 21: Dec 21-25 (5), 28-31 (9), Jan 1 (10), Jan 4-8 (15).
    assert case["handling"]["due_at"] == "2027-01-08T15:59:59Z"
    assert case["handling"]["due_basis"]["provisional"] is True
    assert case["handling"]["sign_off_basis"]["provisional"] is False

    schedule = load_schedule_file(REPO_ROOT / "examples" / "calendar" / "2027.sample.yaml").model_dump(mode="json", by_alias=True)
    _problem(api["agent"].put("/api/v1/calendar/years/2027", json=schedule), 403)
    wrong = {**schedule, "workdays": [*schedule["workdays"], {"name": "错误", "date": "2027-03-01"}]}
    body = _problem(api["supervisor"].put("/api/v1/calendar/years/2027", json=wrong), 422)
    assert body["errors"] == [{"field": "body.workdays[4].date", "reason": "2027-03-01 is a Monday: a make-up working day (调休上班) is a Saturday or Sunday"}]
    body = _problem(api["supervisor"].put("/api/v1/calendar/years/2028", json=schedule), 422)
    assert body["errors"][0]["field"] == "body.year"
    assert api["agent"].get("/api/v1/calendar/years").json() == []  # nothing loaded

    loaded = api["supervisor"].put("/api/v1/calendar/years/2027", json=schedule)
    assert loaded.status_code == 200, loaded.text
    assert loaded.json() == {"year": 2027, "replaced": False, "sample": True, "moved": [number], "confirmed": []}
    _problem(api["supervisor"].put("/api/v1/calendar/years/2027", json=schedule), 409)
    # With Jan 1-3 off (sample 2027): Dec 21-25 (5), 28-31 (9), Jan 4-8 (14), Mon Jan 11 (15).
    after = api["agent"].get(f"/api/v1/cases/{number}").json()
    assert after["handling"]["due_at"] == "2027-01-11T15:59:59Z"
    assert after["handling"]["due_basis"]["provisional"] is False
    history = api["agent"].get(f"/api/v1/cases/{number}/history").json()
    assert history[-1]["action"] == "recount_deadlines"
    assert history[-1]["data"]["moved"]["due_at"] == {"from": "2027-01-08T15:59:59+00:00", "to": "2027-01-11T15:59:59+00:00"}
    assert api["agent"].get("/api/v1/calendar/status").json()["warning"] is None
    assert 'hub_calendar_next_year_known{year="2027"} 1.0' in api["anonymous"].get("/metrics").text
    years = api["agent"].get("/api/v1/calendar/years").json()
    assert [(y["year"], y["sample"], y["loaded_by"]) for y in years] == [(2027, True, "centre-supervisor")]
    assert api["agent"].get("/api/v1/calendar/years/2027").json() == schedule
