"""No input reaches a 500: malformed bodies, headers and paths against every case endpoint
come back as 4xx problem+json, and nothing is stored."""

from __future__ import annotations

import pytest

from tests.support.factories import draft

pytestmark = pytest.mark.e2e

BAD_BODIES = [
    b"",
    b"not json",
    b"[]",
    b"null",
    b"42",
    b'"text"',
    b"{",
    b'{"intake": null}',
    '{"标题": "噪音"}'.encode(),
    b'{"intake": {"channel": "phone", "received_at": "yesterday"}}',
    b"\xff\xfe\x00garbage",
]

DRAFT_MUTATIONS = [
    {"request_type": None},
    {"urgency": "extreme"},
    {"person.kind": 3},
    {"place.division_code": "51200"},
    {"place.latitude": 200},
    {"title": ""},
    {"title": "长" * 201},
    {"intake.channel": "fax"},
    {"person.anonymous": True},
    {"external_refs": [{"system": "Bad System!", "external_id": "1"}]},
    {"external_refs": [{"system": "province", "external_id": "1"}, {"system": "province", "external_id": "2"}]},
    {"intake.received_at": "2025-13-45T00:00:00"},
    {"content": ""},
    {"unexpected": "field"},
]

BAD_ACTIONS = [
    {},
    {"action": "fly"},
    {"action": "dispatch"},
    {"action": "dispatch", "lead_unit": "ZY-SCJGJ", "co_units": ["ZY-SCJGJ"]},
    {"action": "follow_up", "reached": True},
    {"action": "follow_up", "reached": False, "satisfaction": "satisfied"},
    {"action": "request_extension", "working_days": 0, "reason": "x"},
    {"action": "reject", "reason_code": "boredom", "reason": "x"},
    {"action": "transfer_emergency", "line": "911"},
    {"action": "accept", "note": "x" * 3000},
    {"action": "accept", "extra": 1},
]


def _assert_problem(resp, allowed=(400, 401, 403, 404, 405, 409, 413, 415, 422)) -> None:
    assert resp.status_code in allowed, (resp.status_code, resp.text[:300])
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["status"] == resp.status_code


def test_malformed_bodies(api) -> None:
    for body in BAD_BODIES:
        _assert_problem(api["agent"].post("/api/v1/cases", content=body, headers={"content-type": "application/json"}))
    for change in DRAFT_MUTATIONS:
        resp = api["agent"].post("/api/v1/cases", json=draft(**change))
        _assert_problem(resp, (422,))
        assert resp.json()["errors"], change
    assert api["agent"].get("/api/v1/cases").json()["items"] == []


def test_malformed_actions_paths_and_headers(api) -> None:
    number = api["agent"].post("/api/v1/cases", json=draft()).json()["number"]
    for body in BAD_ACTIONS:
        _assert_problem(api["agent"].post(f"/api/v1/cases/{number}/actions", json=body), (422,))
    for body in BAD_BODIES:
        _assert_problem(api["agent"].post(f"/api/v1/cases/{number}/actions", content=body, headers={"content-type": "application/json"}))
    _assert_problem(api["agent"].post(f"/api/v1/cases/{number}/actions", json={"action": "accept"}, headers={"If-Match": "yesterday"}), (422,))
    _assert_problem(api["agent"].post(f"/api/v1/cases/{number}/actions", json={"action": "accept"}, headers={"If-Match": '"7"'}), (409,))
    for path in ("/api/v1/cases/../../etc/passwd", "/api/v1/cases/%00", "/api/v1/cases/x", "/api/v1/nothing", "/api/v1/codes/planets"):
        _assert_problem(api["agent"].get(path))
    _assert_problem(api["agent"].delete(f"/api/v1/cases/{number}"), (405,))
    for params in (
        {"limit": 0},
        {"limit": 10_000},
        {"state": "flying"},
        {"overdue": "perhaps"},
        {"due_before": "soon"},
        {"due_before": "2025-10-01T00:00:00"},
        {"division": "abc"},
        {"q": ""},
    ):
        _assert_problem(api["agent"].get("/api/v1/cases", params=params), (422,))
    _assert_problem(api["agent"].put("/api/v1/calendar/overrides/not-a-day", json={"is_workday": True}), (403, 422))
    _assert_problem(api["supervisor"].put("/api/v1/calendar/overrides/2027-02-30", json={"is_workday": True}), (422,))
    _assert_problem(api["anonymous"].get("/api/v1/cases", headers={"Authorization": "Bearer nonsense"}), (401,))
    case = api["agent"].get(f"/api/v1/cases/{number}").json()
    assert case["state"] == "registered" and case["version"] == 1
