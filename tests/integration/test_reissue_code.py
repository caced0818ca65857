"""A lost retrieval code, sent again (#17): the citizen gives the number and the phone; if the
phone is the case's a new code goes by SMS through the outbox (never in the answer) and the old
one stops working; the answer is the same either way, and every request counts toward the same
kind of lockout as wrong codes. The centre can reissue too. In-process (ASGI) on a real
database (SQLite file and PostgreSQL); expectations written out here."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from adapters.sms.seal import unseal
from hub.domain.model import Role
from hub.settings import ChannelSettings, DestinationConfig, Settings
from tests.support.factories import draft

SEAL_KEY = "sandbox-seal-key-0123456789"
WEB = {"intake": {"channel": "web", "received_at": "2025-09-26T09:58:00+08:00"}}
ANSWER = {"detail": "如该号码与工单登记的手机号一致，新的提取码将以短信发送，原提取码随即失效。"}


@pytest.fixture
def settings(db_url: str) -> Settings:
    sms = DestinationConfig(adapter="sms", settings={"url": "http://127.0.0.1:9/send", "seal_key": SEAL_KEY})
    return Settings(
        database_url=db_url,
        sqlite_synchronous="NORMAL",
        destinations={"sms": sms},
        channels=ChannelSettings(lookup_failures_per_case=3, lookup_failures_per_client=8, lookup_lockout_minutes=10),
    )


@pytest.fixture
def keys(hub) -> dict[str, str]:
    now = hub.clock.now()
    return {
        "portal": hub.keys.create("city-portal", Role.CHANNEL, now, channel="web"),
        "agent": hub.keys.create("centre-agent", Role.AGENT, now),
        "unit": hub.keys.create("ZY-SCJGJ", Role.UNIT, now, unit_code="ZY-SCJGJ"),
    }


def web_case(client, keys, **changes) -> tuple[str, str]:
    resp = client.post("/api/v1/channel/cases", json=draft(**WEB, **changes), headers={"X-API-Key": keys["portal"]})
    assert resp.status_code == 201, resp.text
    return resp.json()["case"]["number"], resp.json()["retrieval_code"]


def reissued(hub, number: str) -> list[tuple[str, str]]:
    """(phone, text) of each reissue SMS queued for the case."""
    with hub.db.read() as s:
        bodies = (
            s.execute(
                text("SELECT body FROM outbox_messages WHERE destination = 'sms' AND case_number = :n AND event_type = 'sms.code_reissued' ORDER BY id"),
                {"n": number},
            )
            .scalars()
            .all()
        )
    return [unseal(SEAL_KEY, (json.loads(b) if isinstance(b, str) else b)["event"]["sealed"]) for b in bodies]


def lookup(client, number: str, code: str) -> int:
    return client.post(f"/api/v1/public/cases/{number}/lookup", json={"code": code}).status_code


def test_the_right_phone_gets_a_new_code_by_sms_and_the_old_one_stops(client, keys, hub) -> None:
    number, old = web_case(client, keys)
    resp = client.post(f"/api/v1/public/cases/{number}/code", json={"phone": "138 0013 8000"})
    assert resp.status_code == 202 and resp.json() == ANSWER
    [(phone, sms)] = reissued(hub, number)
    assert phone == "13800138000"
    new = re.search(r"提取码已重新生成：([34679ACDEFGHJKMNPQRTUVWXY]{6})。", sms).group(1)
    assert sms.startswith("【资阳12345】您的工单" + number)
    assert new not in resp.text
    assert lookup(client, number, new) == 200
    assert lookup(client, number, old) == 404 or old == new
    # The history keeps it (not the citizen's timeline).
    case = client.get(f"/api/v1/cases/{number}", headers={"X-API-Key": keys["agent"]}).json()
    assert case["history"][-1]["action"] == "reissue_code" and case["history"][-1]["actor"] == "citizen@public"
    view = client.post(f"/api/v1/public/cases/{number}/lookup", json={"code": new}).json()
    assert [t["text"] for t in view["timeline"]] == ["诉求已登记"]


def test_no_oracle_the_same_answer_for_a_wrong_phone_and_an_unknown_number(client, keys, hub) -> None:
    number, code = web_case(client, keys)
    wrong = client.post(f"/api/v1/public/cases/{number}/code", json={"phone": "13900139000"})
    unknown = client.post("/api/v1/public/cases/51200020259999999/code", json={"phone": "13800138000"})
    right = client.post(f"/api/v1/public/cases/{number}/code", json={"phone": "13800138000"})
    assert wrong.status_code == unknown.status_code == right.status_code == 202
    assert wrong.json() == unknown.json() == right.json() == ANSWER
    assert len(reissued(hub, number)) == 1  # only the right phone's


def test_every_request_counts_toward_the_lockout_right_phone_or_not(client, keys, hub) -> None:
    number, _ = web_case(client, keys)
    # lookup_failures_per_case=3: the third request locks the number, whichever phones were given.
    statuses = [
        client.post(f"/api/v1/public/cases/{number}/code", json={"phone": p}).status_code for p in ("13800138000", "13900139000", "13800138000", "13800138000")
    ]
    assert statuses == [202, 202, 202, 429]
    locked = client.post(f"/api/v1/public/cases/{number}/code", json={"phone": "13800138000"})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert len(reissued(hub, number)) == 2
    # An unknown number locks out the same way.
    assert [client.post("/api/v1/public/cases/51200020259999998/code", json={"phone": "13800138000"}).status_code for _ in range(4)] == [202, 202, 202, 429]


def test_the_phone_is_in_the_body_and_must_look_like_one(client, keys) -> None:
    number, _ = web_case(client, keys)
    assert client.post(f"/api/v1/public/cases/{number}/code", params={"phone": "13800138000"}, json={}).status_code == 422
    assert client.post(f"/api/v1/public/cases/{number}/code", json={"phone": "<script>"}).status_code == 422


def test_the_centre_reissues_by_sms_and_never_sees_the_code(client, keys, hub) -> None:
    number, old = web_case(client, keys)
    resp = client.post(f"/api/v1/cases/{number}/retrieval-code", headers={"X-API-Key": keys["agent"]})
    assert resp.status_code == 202 and resp.json() == {"sent_to": "138****8000"}
    [(_, sms)] = reissued(hub, number)
    new = re.search(r"：([34679ACDEFGHJKMNPQRTUVWXY]{6})。", sms).group(1)
    assert new not in resp.text and lookup(client, number, new) == 200
    case = client.get(f"/api/v1/cases/{number}", headers={"X-API-Key": keys["agent"]}).json()
    assert (case["history"][-1]["action"], case["history"][-1]["actor"]) == ("reissue_code", "centre-agent")
    assert client.post(f"/api/v1/cases/{number}/retrieval-code", headers={"X-API-Key": keys["unit"]}).status_code == 403
    assert client.post(f"/api/v1/cases/{number}/retrieval-code", headers={"X-API-Key": keys["portal"]}).status_code == 403


def test_no_new_code_where_no_sms_can_go(client, keys, hub) -> None:
    landline = client.post("/api/v1/cases", json=draft(person={"name": "张三", "phone": "028-12345678"}), headers={"X-API-Key": keys["agent"]}).json()["number"]
    refused = client.post(f"/api/v1/cases/{landline}/retrieval-code", headers={"X-API-Key": keys["agent"]})
    assert refused.status_code == 409 and "old code stays valid" in refused.json()["detail"]
    assert client.post(f"/api/v1/public/cases/{landline}/code", json={"phone": "028-12345678"}).json() == ANSWER
    assert reissued(hub, landline) == []


def test_the_console_reissues_for_the_centre(hub, keys) -> None:
    from hub.api.app import create_app
    from tests.support.console import Person, fast_accounts

    accounts = fast_accounts(hub)
    accounts.create("wang", Role.AGENT, "correct-horse-1", "王芳")
    accounts.create("scj", Role.UNIT, "correct-horse-1", "市场监管局", unit_code="ZY-SCJGJ")
    app = create_app(hub)
    with TestClient(app) as client:
        number, _ = web_case(client, keys)
    agent = Person(app).sign_in("wang", "correct-horse-1")
    page = agent.get(f"/console/cases/{number}")
    assert "补发提取码" in page.text
    done = agent.post(f"/console/cases/{number}/retrieval-code", {})
    assert done.status_code == 200 and "新的提取码已以短信发送至 138****8000，原提取码已失效。" in done.text
    [(_, sms)] = reissued(hub, number)
    new = re.search(r"：([34679ACDEFGHJKMNPQRTUVWXY]{6})。", sms).group(1)
    assert new not in done.text
    assert agent.post(f"/console/cases/{number}/retrieval-code", {}, with_csrf=False).status_code == 403
    unit = Person(app).sign_in("scj", "correct-horse-1")
    assert unit.post(f"/console/cases/{number}/retrieval-code", {}).status_code == 403
    assert len(reissued(hub, number)) == 1
