"""Citizens' doors (#17): the channel key, the retrieval code, the public lookup and its
lockouts, the citizen view's public timeline, the citizen's evaluation as the follow-up, and
what the outbox holds for an SMS. Real database (SQLite file and PostgreSQL), the app over
loopback HTTP. Expectations are written out here, not computed with channels/."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text

from hub.domain.model import Role
from hub.settings import ChannelSettings, DestinationConfig, Settings
from tests.support.factories import draft

PHONE = "13800138000"
WEB = {"intake": {"channel": "web", "received_at": "2025-09-26T09:58:00+08:00"}}
CODE = re.compile(r"^[34679ACDEFGHJKMNPQRTUVWXY]{6}$")  # the unambiguous alphabet, written out
SEAL_KEY = "sandbox-seal-key-0123456789"


@pytest.fixture
def settings(db_url: str) -> Settings:
    # An sms destination that nothing delivers in these tests (no relay runs): only what is queued is looked at.
    sms = DestinationConfig(adapter="sms", settings={"url": "http://127.0.0.1:9/send", "seal_key": SEAL_KEY})
    return Settings(
        database_url=db_url,
        sqlite_synchronous="NORMAL",
        destinations={"sms": sms},
        channels=ChannelSettings(intake_per_minute=5, lookup_failures_per_case=3, lookup_failures_per_client=6, lookup_lockout_minutes=10, evaluation_days=7),
    )


@pytest.fixture
def doors(hub, api, server):
    now = hub.clock.now()
    portal = hub.keys.create("city-portal", Role.CHANNEL, now, channel="web")
    app = hub.keys.create("zy-app", Role.CHANNEL, now, channel="app")
    clients = {
        "portal": httpx.Client(base_url=server.url, headers={"X-API-Key": portal}, timeout=30),
        "app": httpx.Client(base_url=server.url, headers={"X-API-Key": app}, timeout=30),
        "public": httpx.Client(base_url=server.url, timeout=30),
    }
    yield {**api, **clients}
    for c in clients.values():
        c.close()


def file_web_case(doors, **changes) -> tuple[str, str]:
    resp = doors["portal"].post("/api/v1/channel/cases", json=draft(**WEB, **changes))
    assert resp.status_code == 201, resp.text
    body = resp.json()
    return body["case"]["number"], body["retrieval_code"]


def act(doors, number: str, who: str, body: dict) -> dict:
    resp = doors[who].post(f"/api/v1/cases/{number}/actions", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def to_approved_reply(doors, number: str) -> None:
    act(doors, number, "agent", {"action": "accept"})
    act(doors, number, "agent", {"action": "dispatch", "lead_unit": "ZY-SCJGJ"})
    act(doors, number, "unit", {"action": "sign_off"})
    act(doors, number, "supervisor", {"action": "supervise", "reason": "督办内部意见"})
    act(doors, number, "unit", {"action": "reply", "text": "第一稿答复，不应公开", "note": "承办人王五"})
    act(doors, number, "agent", {"action": "review_reply", "approved": False, "note": "退回内部意见"})
    act(doors, number, "unit", {"action": "reply", "text": "已责令施工方夜间停工。"})
    act(doors, number, "agent", {"action": "review_reply", "approved": True})


def test_channel_intake_gives_the_code_once_and_the_citizen_view(doors) -> None:
    resp = doors["portal"].post("/api/v1/channel/cases", json=draft(**WEB), headers={"Idempotency-Key": "web-1"})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert CODE.match(body["retrieval_code"])
    view = body["case"]
    assert view["status"] == "已登记，等待受理"
    assert view["phone"] == "138****8000"
    assert "张三" not in resp.text and PHONE not in resp.text
    assert [t["text"] for t in view["timeline"]] == ["诉求已登记"]
    # A replay: the same case, no code again.
    again = doors["portal"].post("/api/v1/channel/cases", json=draft(**WEB), headers={"Idempotency-Key": "web-1"})
    assert again.status_code == 200
    assert again.json()["case"]["number"] == view["number"] and again.json()["retrieval_code"] is None
    # Its own case, through the citizen view; never the full case.
    assert doors["portal"].get(f"/api/v1/channel/cases/{view['number']}").json()["number"] == view["number"]
    assert doors["portal"].get(f"/api/v1/cases/{view['number']}").status_code == 403
    assert doors["portal"].get("/api/v1/cases").status_code == 403
    assert doors["portal"].post("/api/v1/cases", json=draft(**WEB)).status_code == 403
    # Another channel does not find it; nor does the portal find the centre's cases.
    assert doors["app"].get(f"/api/v1/channel/cases/{view['number']}").status_code == 404
    agents = doors["agent"].post("/api/v1/cases", json=draft()).json()["number"]
    assert doors["portal"].get(f"/api/v1/channel/cases/{agents}").status_code == 404


def test_a_channel_registers_its_own_channel_only_and_its_own_refs(doors) -> None:
    wrong = doors["portal"].post("/api/v1/channel/cases", json=draft(intake={"channel": "wechat", "received_at": "2025-09-26T09:58:00+08:00"}))
    assert wrong.status_code == 403 and "intake.channel" in wrong.json()["detail"]
    forged = doors["portal"].post("/api/v1/channel/cases", json=draft(**WEB, external_refs=[{"system": "province", "external_id": "X1"}]))
    assert forged.status_code == 403
    own = doors["portal"].post("/api/v1/channel/cases", json=draft(**WEB, external_refs=[{"system": "channel.city-portal", "external_id": "P-1"}]))
    assert own.status_code == 201, own.text
    assert doors["agent"].post("/api/v1/channel/cases", json=draft(**WEB)).status_code == 403
    assert doors["anonymous"].post("/api/v1/channel/cases", json=draft(**WEB)).status_code == 401


def test_channel_intake_is_rate_limited_per_key(doors) -> None:
    for _ in range(5):
        assert doors["portal"].post("/api/v1/channel/cases", json=draft(**WEB)).status_code == 201
    refused = doors["portal"].post("/api/v1/channel/cases", json=draft(**WEB))
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    # The sliding window (channels/rates.py): 5 in the window that began at the test clock's minute,
    # 0 s in: 60 s to its end, then 5 * (1 - t/60) <= 4 needs 12 s more.
    assert refused.headers["Retry-After"] == "72"
    # Another key has its own allowance.
    app_case = draft(intake={"channel": "app", "received_at": "2025-09-26T09:58:00+08:00"})
    assert doors["app"].post("/api/v1/channel/cases", json=app_case).status_code == 201


def test_lookup_with_the_code_and_one_answer_for_wrong_code_or_unknown_number(doors) -> None:
    number, code = file_web_case(doors)
    ok = doors["public"].post(f"/api/v1/public/cases/{number}/lookup", json={"code": code.lower()})
    assert ok.status_code == 200 and ok.json()["number"] == number and ok.json()["phone"] == "138****8000"
    wrong = doors["public"].post(f"/api/v1/public/cases/{number}/lookup", json={"code": "AAAAAA"})
    unknown = doors["public"].post("/api/v1/public/cases/512000209909260999/lookup", json={"code": code})
    assert wrong.status_code == unknown.status_code == 404
    same = ("type", "title", "detail")
    assert {k: wrong.json()[k] for k in same} == {k: unknown.json()[k] for k in same}
    assert doors["public"].post(f"/api/v1/public/cases/{number}/lookup", json={}).status_code == 422
    assert doors["public"].post(f"/api/v1/public/cases/{number}/lookup?code={code}", json={"code": code}).status_code == 422


def test_wrong_codes_lock_the_number_and_the_client_out(doors, hub) -> None:
    number, code = file_web_case(doors)
    for _ in range(3):  # lookup_failures_per_case = 3
        assert doors["public"].post(f"/api/v1/public/cases/{number}/lookup", json={"code": "AAAAAA"}).status_code == 404
    locked = doors["public"].post(f"/api/v1/public/cases/{number}/lookup", json={"code": code})
    assert locked.status_code == 429 and locked.headers["content-type"].startswith("application/problem+json")
    assert int(locked.headers["Retry-After"]) == 600
    # A number that does not exist locks the same way: a lockout says nothing about existence.
    ghost = "512000209909260998"
    for _ in range(3):
        assert doors["public"].post(f"/api/v1/public/cases/{ghost}/lookup", json={"code": "AAAAAA"}).status_code == 404
    assert doors["public"].post(f"/api/v1/public/cases/{ghost}/lookup", json={"code": "AAAAAA"}).status_code == 429
    # Six wrong codes from this address (3 + 3): the client is locked out, even for another case's right code.
    other, other_code = file_web_case(doors)
    assert doors["public"].post(f"/api/v1/public/cases/{other}/lookup", json={"code": other_code}).status_code == 429
    hub.clock.advance(timedelta(minutes=11))
    assert doors["public"].post(f"/api/v1/public/cases/{other}/lookup", json={"code": other_code}).status_code == 200
    assert doors["public"].post(f"/api/v1/public/cases/{number}/lookup", json={"code": code}).status_code == 200


def test_public_timeline_and_reply_once_approved(doors) -> None:
    number, code = file_web_case(doors)
    to_approved_reply(doors, number)
    view = doors["public"].post(f"/api/v1/public/cases/{number}/lookup", json={"code": code})
    body = view.json()
    assert body["status"] == "已答复，待回访"
    assert [t["text"] for t in body["timeline"]] == ["诉求已登记", "诉求已受理", "已交承办单位办理", "承办单位已签收", "已答复"]
    assert body["reply"]["text"] == "已责令施工方夜间停工。"
    for internal in ("督办内部意见", "第一稿答复", "承办人王五", "退回内部意见", "ZY-SCJGJ", "张三"):
        assert internal not in view.text
    assert body["evaluation"]["open"] is True


def test_the_citizens_rating_is_the_follow_up_and_the_assessment_counts_it(doors, hub) -> None:
    number, code = file_web_case(doors)
    early = doors["public"].post(f"/api/v1/public/cases/{number}/evaluation", json={"code": code, "satisfaction": "satisfied"})
    assert early.status_code == 409
    to_approved_reply(doors, number)
    rated = doors["public"].post(f"/api/v1/public/cases/{number}/evaluation", json={"code": code, "satisfaction": "basically_satisfied", "comment": "处理及时"})
    assert rated.status_code == 200, rated.text
    assert rated.json()["status"] == "已办结" and rated.json()["evaluation"]["satisfaction"] == "基本满意"
    history = doors["supervisor"].get(f"/api/v1/cases/{number}/history").json()
    line = history[-1]
    assert (line["action"], line["actor"], line["note"]) == ("follow_up", "citizen@public", "处理及时")
    assert line["data"] == {"reached": True, "resolved": True, "satisfaction": "basically_satisfied"}
    again = doors["public"].post(f"/api/v1/public/cases/{number}/evaluation", json={"code": code, "satisfaction": "unsatisfied"})
    assert again.status_code == 409
    figures = doors["supervisor"].get("/api/v1/assessment", params={"period": "2025-09"}).json()["figures"]
    satisfaction = next(f for f in figures if f["key"] == "satisfaction_rate")
    assert number in satisfaction["cases"] and number in satisfaction["denominator_cases"]


def test_rating_through_the_channel_and_the_window(doors, hub) -> None:
    number, _ = file_web_case(doors)
    to_approved_reply(doors, number)
    hub.clock.advance(timedelta(days=7, minutes=1))  # evaluation_days = 7
    late = doors["portal"].post(f"/api/v1/channel/cases/{number}/evaluation", json={"satisfaction": "satisfied"})
    assert late.status_code == 409 and "ended" in late.json()["detail"]
    second, _ = file_web_case(doors)
    to_approved_reply(doors, second)
    assert doors["app"].post(f"/api/v1/channel/cases/{second}/evaluation", json={"satisfaction": "satisfied"}).status_code == 404
    rated = doors["portal"].post(f"/api/v1/channel/cases/{second}/evaluation", json={"satisfaction": "unsatisfied", "comment": "没有解决"})
    assert rated.status_code == 200 and rated.json()["status"] == "重新办理中"
    line = doors["supervisor"].get(f"/api/v1/cases/{second}/history").json()[-1]
    assert (line["actor"], line["data"]["resolved"], line["data"]["satisfaction"]) == ("citizen@city-portal", False, "unsatisfied")
    blank = doors["portal"].post(f"/api/v1/channel/cases/{second}/evaluation", json={"satisfaction": "satisfied", "comment": "  "})
    assert blank.status_code == 422


def test_the_outbox_holds_no_phone_or_code_in_clear(doors, hub) -> None:
    number, code = file_web_case(doors)
    to_approved_reply(doors, number)
    with hub.db.read() as s:
        rows = s.execute(text("SELECT event_type, body FROM outbox_messages WHERE destination = 'sms' AND case_number = :n ORDER BY id"), {"n": number}).all()
    assert [r[0] for r in rows] == ["sms.registered", "sms.reply_approved", "sms.follow_up_invitation"]
    stored = " ".join(str(r[1]) for r in rows)
    assert code not in stored and PHONE not in stored and "8000" not in stored


def test_sms_go_to_citizens_who_came_to_12345_only(doors, hub) -> None:
    by_agent = doors["agent"].post("/api/v1/cases", json=draft()).json()["number"]
    by_province = doors["province"].post("/api/v1/cases", json=draft(**{"place.division_code": "512022"})).json()["number"]
    landline = doors["agent"].post("/api/v1/cases", json=draft(person={"name": "张三", "phone": "028-12345678"})).json()["number"]
    with hub.db.read() as s:
        sms = dict(s.execute(text("SELECT case_number, count(*) FROM outbox_messages WHERE destination = 'sms' GROUP BY case_number")).all())
        coded = {r[0] for r in s.execute(text("SELECT case_number FROM retrieval_codes")).all()}
    assert sms.get(by_agent) == 1  # the phone caller's receipt
    assert by_province not in sms and landline not in sms
    assert {by_agent, by_province, landline} <= coded  # every case has a code
