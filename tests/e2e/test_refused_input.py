"""Input past what the databases hold, input no operation declares, and the list filters an
operator relies on: each is refused with 422 naming the field, or applied, never a 500 and
never silently ignored."""

from __future__ import annotations

import pytest

from tests.support.factories import draft

pytestmark = pytest.mark.e2e

HUGE = 2**64 + 7  # past SQLite's and PostgreSQL's 64-bit integers
ARTICLE = {"owner_unit": "ZY-SCJGJ", "kind": "faq", "title": "消费投诉怎么办", "body": "可拨打12315投诉举报。"}


def _refused(resp, field: str, status: int = 422) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert field in [e["field"] for e in body["errors"]], body
    return body


def test_integers_past_64_bits_are_refused_naming_the_field(api) -> None:
    sup, unit = api["supervisor"], api["unit"]
    _refused(sup.get("/api/v1/knowledge/changes", params={"after": HUGE}), "query.after")
    _refused(sup.get("/api/v1/knowledge/articles", params={"offset": HUGE}), "query.offset")
    _refused(sup.get("/api/v1/legacy/candidates", params={"after_id": HUGE}), "query.after_id")
    _refused(sup.get("/api/v1/legacy/refusals", params={"after_id": HUGE}), "query.after_id")
    _refused(sup.post(f"/api/v1/legacy/candidates/{HUGE}/confirm"), "path.candidate_id")
    _refused(sup.post(f"/api/v1/legacy/refusals/{HUGE}/retry"), "path.refusal_id")
    _refused(sup.get("/api/v1/outbox/dead", params={"after": HUGE}), "query.after")
    _refused(sup.post("/api/v1/outbox/replay", json={"ids": [1, HUGE]}), "body.ids.1")
    created = unit.post("/api/v1/knowledge/articles", json={**ARTICLE, "id": "BIG-1"})
    assert created.status_code == 201, created.text
    edit = {k: v for k, v in ARTICLE.items() if k != "owner_unit"}
    _refused(unit.post("/api/v1/knowledge/articles/BIG-1/versions", json={**edit, "base_version": HUGE}), "body.base_version")
    _refused(sup.post("/api/v1/knowledge/articles/BIG-1/review", json={"action": "review", "version": HUGE}), "body.version")
    _refused(sup.get(f"/api/v1/knowledge/articles/BIG-1/versions/{HUGE}"), "path.version")


def test_version_and_cursor_past_the_columns_are_refused(api) -> None:
    agent = api["agent"]
    number = agent.post("/api/v1/cases", json=draft()).json()["number"]
    _refused(agent.post(f"/api/v1/cases/{number}/actions", json={"action": "accept"}, headers={"If-Match": f'"{HUGE}"'}), "header.If-Match")
    import base64
    import json

    forged = base64.urlsafe_b64encode(json.dumps({"id": HUGE}).encode()).decode().rstrip("=")
    _refused(agent.get("/api/v1/cases", params={"cursor": forged}), "query.cursor")
    assert agent.get(f"/api/v1/cases/{number}").json()["version"] == 1


def test_whitespace_only_strings_are_refused(api) -> None:
    unit = api["unit"]
    _refused(unit.post("/api/v1/knowledge/articles", json={**ARTICLE, "tags": [" "]}), "body.tags.0")
    _refused(unit.post("/api/v1/knowledge/articles", json={**ARTICLE, "tags": ["好", "\u3000 \t"]}), "body.tags.1")
    _refused(unit.post("/api/v1/knowledge/articles", json={**ARTICLE, "title": "   "}), "body.title")
    agent = api["agent"]
    _refused(agent.post("/api/v1/cases", json=draft(title="   ")), "body.title")
    _refused(agent.post("/api/v1/cases", json=draft(content=" \u3000\n ")), "body.content")
    number = agent.post("/api/v1/cases", json=draft()).json()["number"]
    _refused(agent.post(f"/api/v1/cases/{number}/actions", json={"action": "reject", "reason_code": "litigation", "reason": "  "}), "body.reject.reason")
    assert agent.get(f"/api/v1/cases/{number}").json()["state"] == "registered"
    assert [c["number"] for c in agent.get("/api/v1/cases").json()["items"]] == [number]
    # Spaces around a tag are trimmed, not kept.
    ok = unit.post("/api/v1/knowledge/articles", json={**ARTICLE, "id": "TAG-1", "tags": [" 维权 ", "维权"]})
    assert ok.status_code == 201, ok.text
    assert ok.json()["latest"]["tags"] == ["维权"]
    assert api["supervisor"].get("/api/v1/knowledge/articles").status_code == 200


def test_nul_characters_are_refused_wherever_they_come(api) -> None:
    agent, unit = api["agent"], api["unit"]
    _refused(agent.post("/api/v1/cases", json=draft(title="噪音\u0000扰民")), "body.title")
    _refused(agent.post("/api/v1/cases", json=draft(**{"person.name": "张\u0000三"})), "body.person.name")
    _refused(agent.get("/api/v1/cases", params={"q": "噪音\u0000"}), "query.q")
    _refused(unit.post("/api/v1/knowledge/articles", json={**ARTICLE, "tags": ["a\u0000"]}), "body.tags.0")
    _refused(api["yanjiang"].get("/api/v1/counties/yanjiang/tickets/T%00X"), "path.ticket_id")
    assert agent.get("/api/v1/cases").json()["items"] == []


@pytest.mark.parametrize(
    "path, params, unknown",
    [
        ("/api/v1/cases", {"channel_code": "weibo"}, "channel_code"),
        ("/api/v1/cases", {"state": "registered", "mobile": "13800138000"}, "mobile"),
        ("/api/v1/knowledge/articles", {"owner": "ZY-SCJGJ"}, "owner"),
        ("/api/v1/knowledge/search", {"q": "投诉", "sort": "date"}, "sort"),
        ("/api/v1/supervision", {"county": "512002"}, "county"),
        ("/api/v1/outbox/dead", {"status": "dead"}, "status"),
        ("/api/v1/me", {"verbose": "1"}, "verbose"),
        ("/api/v1/health", {"x": "1"}, "x"),
    ],
)
def test_unknown_query_parameters_are_refused_naming_them(api, path: str, params: dict, unknown: str) -> None:
    body = _refused(api["supervisor"].get(path, params=params), f"query.{unknown}")
    assert "unknown query parameter" in body["detail"]


def test_cases_filter_by_channel_and_exact_phone(api) -> None:
    agent = api["agent"]
    phone_case = agent.post("/api/v1/cases", json=draft()).json()["number"]
    weibo_case = agent.post("/api/v1/cases", json=draft(**{"intake.channel": "weibo", "person.phone": "13900139000"})).json()["number"]
    other = agent.post("/api/v1/cases", json=draft(**{"person.phone": "13800138001"})).json()["number"]

    def numbers(client, **params) -> set[str]:
        resp = client.get("/api/v1/cases", params=params)
        assert resp.status_code == 200, resp.text
        return {c["number"] for c in resp.json()["items"]}

    assert numbers(agent, channel="weibo") == {weibo_case}
    assert numbers(agent, channel="phone") == {phone_case, other}
    assert numbers(agent, channel="app") == set()
    assert numbers(agent, phone="13800138000") == {phone_case}
    assert numbers(agent, phone="138 0013 8000") == {phone_case}  # spaces ignored, as at intake
    assert numbers(agent, phone="13800138009") == set()  # exact: only that number
    assert numbers(agent, phone="13900139000", channel="phone") == set()
    _refused(agent.get("/api/v1/cases", params={"channel": "fax"}), "query.channel")
    _refused(agent.get("/api/v1/cases", params={"phone": "not-a-phone"}), "query.phone")


def test_phone_filter_never_finds_a_confidential_caller_outside_the_centre(api) -> None:
    agent = api["agent"]
    open_case = agent.post("/api/v1/cases", json=draft(**{"person.phone": "13700137000"})).json()["number"]
    secret = agent.post("/api/v1/cases", json=draft(**{"person.phone": "13700137000", "person.confidential": True})).json()["number"]

    def numbers(client, **params) -> set[str]:
        resp = client.get("/api/v1/cases", params=params)
        assert resp.status_code == 200, resp.text
        return {c["number"] for c in resp.json()["items"]}

    # Both cases lie in 雁江区 (512002): the county key sees both in its list...
    assert {open_case, secret} <= numbers(api["yanjiang"])
    # ...but only the centre can find the confidential caller by phone.
    assert numbers(agent, phone="13700137000") == {open_case, secret}
    assert numbers(api["supervisor"], phone="13700137000") == {open_case, secret}
    assert numbers(api["yanjiang"], phone="13700137000") == {open_case}
    assert numbers(api["anyue"], phone="13700137000") == set()


def test_times_outside_the_service_years_are_refused_not_overflowed(api) -> None:
    agent, sup = api["agent"], api["supervisor"]
    for moment in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"):
        _refused(agent.post("/api/v1/cases", json=draft(**{"intake.received_at": moment})), "body.intake.received_at")
        _refused(agent.get("/api/v1/cases", params={"due_before": moment}), "query.due_before")
    for period in ("0001-01", "9999-12"):
        _refused(sup.get("/api/v1/assessment", params={"period": period}), "query.period")
        _refused(sup.get("/api/v1/assessment/export", params={"period": period}), "query.period")
    number = agent.post("/api/v1/cases", json=draft()).json()["number"]
    _refused(
        sup.post(f"/api/v1/cases/{number}/actions", json={"action": "supervise", "reason": "群众反映强烈", "response_due": "9999-12-31T23:59:59-12:00"}),
        "body.supervise.response_due",
    )
    assert sup.get("/api/v1/assessment", params={"period": "2025-09"}).status_code == 200
    assert [c["number"] for c in agent.get("/api/v1/cases").json()["items"]] == [number]
