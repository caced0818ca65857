"""督办, 催办, the supervised list and 考核 over HTTP, with CSV and XLSX exports that carry
no personal data."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from tests.integration.test_assessment_figures import CITY, S, build_october
from tests.integration.test_supervision_scheduler import local
from tests.support.factories import BASE_DRAFT

pytestmark = pytest.mark.e2e


def _problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    return resp.json()


def _dispatched(api) -> str:
    number = api["agent"].post("/api/v1/cases", json=BASE_DRAFT).json()["number"]
    for body in ({"action": "accept"}, {"action": "dispatch", "lead_unit": "ZY-SCJGJ"}):
        assert api["agent"].post(f"/api/v1/cases/{number}/actions", json=body).status_code == 200
    return number


def test_supervise_and_chase_with_reason_and_response_due(api, clock) -> None:
    number = _dispatched(api)
    act = lambda who, body: api[who].post(f"/api/v1/cases/{number}/actions", json=body)  # noqa: E731
    # Only oversight may supervise; a unit is refused with the allowed actions named.
    refused = _problem(act("unit", {"action": "supervise", "reason": "x"}), 409)
    assert refused["state"] == "awaiting_sign_off" and "supervise" not in refused["allowed_actions"]
    # Warnings and overdue marks are the scheduler's alone.
    assert act("supervisor", {"action": "mark_overdue", "deadline": "completion"}).status_code == 409
    naive = _problem(act("supervisor", {"action": "supervise", "reason": "超期未办", "response_due": "2025-09-29T17:00:00"}), 422)
    assert any(e["field"].endswith("response_due") and "timezone" in e["reason"] for e in naive["errors"])
    past = _problem(act("supervisor", {"action": "supervise", "reason": "超期未办", "response_due": "2025-09-01T17:00:00+08:00"}), 409)
    assert "not in the future" in past["detail"]
    assert _problem(act("supervisor", {"action": "supervise"}), 422)["errors"][0]["field"].endswith("reason")

    ok = act("supervisor", {"action": "supervise", "reason": "群众多次来电", "response_due": "2025-09-29T17:00:00+08:00"})
    assert ok.status_code == 200 and ok.json()["flags"]["supervised"] is True
    chased = act("supervisor", {"action": "chase", "reason": "请尽快签收", "response_due": "2025-09-28T12:00:00+08:00"})
    assert chased.status_code == 200 and chased.json()["flags"]["chased"] == 1
    history = api["agent"].get(f"/api/v1/cases/{number}/history").json()
    assert history[-1]["data"] == {"chased": 1, "reason": "请尽快签收", "response_due": "2025-09-28T04:00:00+00:00", "unit": "ZY-SCJGJ"}

    listed = api["supervisor"].get("/api/v1/supervision").json()
    assert [(x["number"], x["reason"], x["response_due"], x["responded_at"], x["response_late"]) for x in listed] == [
        (number, "群众多次来电", "2025-09-29T09:00:00Z", None, False)
    ]
    # The unit answers by signing off after the response is due: late.
    clock.set(local(2025, 9, 29, 18))
    assert act("unit", {"action": "sign_off"}).status_code == 200
    (item,) = api["unit"].get("/api/v1/supervision").json()
    assert item["responded_at"] == "2025-09-29T10:00:00Z" and item["response_late"] is True
    assert "person" not in item and "张三" not in str(item)
    assert api["other_unit"].get("/api/v1/supervision").json() == []  # not its case
    assert api["anyue"].get("/api/v1/supervision").json() == []  # not its county
    assert _problem(api["province"].get("/api/v1/supervision"), 403)["status"] == 403
    assert _problem(api["supervisor"].get("/api/v1/supervision?unit=NOPE"), 422)["errors"][0]["field"] == "query.unit"


def test_assessment_api_and_exports(api, hub, clock) -> None:
    numbers = build_october(hub, clock)
    clock.set(local(2025, 11, 5))
    city = api["supervisor"].get("/api/v1/assessment", params={"period": "2025-10"})
    assert city.status_code == 200, city.text
    figures = {f["key"]: f for f in city.json()["figures"]}
    for key, items in CITY.items():
        hits = [i for i in items if i[2]]
        assert figures[key]["numerator"] == len(hits), key
        assert figures[key]["cases"] == sorted({numbers[i[0]] for i in hits}), key
    assert (figures["sign_off_rate"]["denominator"], figures["sign_off_rate"]["value"]) == (7, 0.5714)
    assert figures["overdue"]["value"] == 2 and figures["on_time_rate"]["formula"].startswith("obligations replied")
    every = {i["seq"] for f in figures.values() for i in f["items"]}
    assert every and all(isinstance(s, int) for s in every)  # each item names its history line

    # A unit sees only itself; a county only its divisions; the province nothing.
    own = api["unit"].get("/api/v1/assessment", params={"period": "2025-10"}).json()
    assert own["unit"] == S and {f["key"]: f["value"] for f in own["figures"]}["sign_off_rate"] == 0.5
    assert _problem(api["unit"].get("/api/v1/assessment", params={"period": "2025-10", "unit": "ZY-RSJ"}), 403)
    anyue = api["anyue"].get("/api/v1/assessment", params={"period": "2025-10"}).json()
    assert anyue["county"] == "512021"
    assert _problem(api["anyue"].get("/api/v1/assessment", params={"period": "2025-10", "county": "512002"}), 403)
    assert _problem(api["province"].get("/api/v1/assessment", params={"period": "2025-10"}), 403)
    # Bad input names the field.
    for params, field in (
        ({"period": "2025-13"}, "query.period"),
        ({"period": "Oct 2025"}, "query.period"),
        ({}, "query.period"),
        ({"period": "2025-10", "unit": "NOPE"}, "query.unit"),
        ({"period": "2025-10", "county": "999999"}, "query.county"),
        ({"period": "2025-10", "county": "51"}, "query.county"),
    ):
        body = _problem(api["supervisor"].get("/api/v1/assessment", params=params), 422)
        assert body["errors"][0]["field"] == field, (params, body)

    personal = [BASE_DRAFT["person"]["name"], BASE_DRAFT["person"]["phone"], BASE_DRAFT["place"]["address"], BASE_DRAFT["title"], BASE_DRAFT["content"][:6]]
    resp = api["supervisor"].get("/api/v1/assessment/export", params={"period": "2025-10", "format": "csv"})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    text = resp.content.decode("utf-8-sig")
    assert not [p for p in personal if p in text]
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:4] == ["期间", "范围", "单位", "区县"] and "签收率" in rows[0]
    header, body = rows[1], rows[2:]
    assert [r[header.index("scope")] for r in body] == ["city", "ZY-RSJ", "ZY-SCJGJ"]
    city_row = dict(zip(header, body[0]))
    assert (city_row["sign_off_rate_numerator"], city_row["sign_off_rate_denominator"], city_row["sign_off_rate_value"]) == ("4", "7", "0.5714")
    assert (city_row["overdue"], city_row["returned"], city_row["redone"], city_row["supervised"]) == ("2", "1", "1", "2")

    resp = api["supervisor"].get("/api/v1/assessment/export", params={"period": "2025-10", "format": "xlsx", "unit": S})
    assert resp.status_code == 200 and "spreadsheetml" in resp.headers["content-type"]
    wb = load_workbook(io.BytesIO(resp.content), read_only=True)
    assert wb.sheetnames == ["assessment", "cases", "formulas"]
    cells = [str(v) for ws in wb for row in ws.iter_rows(values_only=True) for v in row if v is not None]
    assert not [p for p in personal if any(p in c for c in cells)]
    sheet = list(wb["assessment"].iter_rows(values_only=True))
    row = dict(zip(sheet[1], sheet[2]))
    assert (row["unit"], row["on_time_rate_numerator"], row["on_time_rate_denominator"], row["on_time_rate_value"]) == (S, 2, 4, 0.5)
    traced = [r for r in wb["cases"].iter_rows(values_only=True)][1:]
    assert {r[3] for r in traced if r[2] == "overdue"} == {numbers["C2"], numbers["C4"]}


def test_an_appeal_over_http_changes_the_figure_it_contests(api, clock) -> None:
    """考核申诉 end to end: a complaint replied a day after its deadline counts against
    ZY-SCJGJ in its month (按时办结率 0/1, 超期 1); the unit appeals over HTTP, a supervisor
    upholds it, and the same month's figure reads 1/1 with the appeal beside the item."""
    number = _dispatched(api)
    act = lambda who, body: api[who].post(f"/api/v1/cases/{number}/actions", json=body)  # noqa: E731
    assert act("unit", {"action": "sign_off"}).status_code == 200
    due = api["agent"].get(f"/api/v1/cases/{number}").json()["handling"]["due_at"]
    month = due[:7]
    assert month == "2025-10"  # 15 working days from 2025-09-26 across the National Day holiday
    clock.set(local(2025, 10, 31, 10))  # after the deadline
    assert act("unit", {"action": "reply", "text": "已责令整改"}).status_code == 200

    def figure(key: str) -> dict:
        body = api["supervisor"].get("/api/v1/assessment", params={"period": month, "unit": "ZY-SCJGJ"}).json()
        return next(f for f in body["figures"] if f["key"] == key)

    assert (figure("on_time_rate")["numerator"], figure("on_time_rate")["denominator"], figure("overdue")["value"]) == (0, 1, 1)
    clock.set(local(2025, 11, 3, 10))
    missing = _problem(act("unit", {"action": "appeal_assessment", "grounds": "late"}), 422)
    assert {e["field"].rsplit(".", 1)[-1] for e in missing["errors"]} >= {"grounds", "reason"}
    assert _problem(act("other_unit", {"action": "appeal_assessment", "grounds": "overdue", "reason": "x"}), 403)
    assert act("unit", {"action": "appeal_assessment", "grounds": "overdue", "reason": "时限少算调休日"}).json()["flags"]["appealed"] is True
    assert _problem(act("agent", {"action": "decide_appeal", "upheld": True}), 409)["state"] == "replied"
    decided = act("supervisor", {"action": "decide_appeal", "upheld": True})
    assert decided.status_code == 200 and decided.json()["flags"]["appeals"][0]["upheld"] is True
    on_time = figure("on_time_rate")
    assert (on_time["numerator"], on_time["denominator"], figure("overdue")["value"]) == (1, 1, 0)
    assert [(i["case"], i["appeal"]) for i in on_time["items"]] == [(number, "upheld")]
