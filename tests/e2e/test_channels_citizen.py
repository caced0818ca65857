"""End to end (#17): a web citizen files through the city portal with a photo, gets the SMS from the
sandbox gateway, looks the case up (the photo listed) with the code from the SMS, rates the reply, and the assessment
counts it; a gateway that is down never blocks intake and the outbox retries until it is back.
The hub and the gateway are real HTTP servers on loopback; the relay delivers as in production."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from adapters.sms.sandbox import GatewayState, create_gateway
from hub.domain.model import Role
from hub.settings import DestinationConfig, Settings
from outbox.feature import OutboxHandle
from tests.support.factories import draft
from tests.support.live import LiveServer

pytestmark = pytest.mark.e2e

PHONE = "13912345678"
WEB_CASE = draft(intake={"channel": "web", "received_at": "2025-09-26T09:58:00+08:00"}, person={"name": "赵六", "phone": PHONE, "kind": "person"})
# A JPEG's first bytes (SOI + APP0 "JFIF"), sent under a name that says PNG: the type is read from the content.
PHOTO = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(2048) + b"\xff\xd9"
RECEIPT = re.compile(r"^【资阳12345】您的诉求已登记，工单号(\d+)，提取码([A-Z0-9]{6})。")


@pytest.fixture(scope="module")
def gateway_server():
    """The sandbox SMS gateway, started once for the module; emptied before each test."""
    state = GatewayState()
    with LiveServer(create_gateway(state)) as live:
        yield state, live.url


@pytest.fixture
def gateway(gateway_server):
    state, url = gateway_server
    with state.lock:
        state.messages.clear()
        state.attempts, state.down = 0, False
    return state, url


@pytest.fixture
def settings(db_url: str, gateway, tmp_path: Path) -> Settings:
    _, url = gateway
    sms = DestinationConfig(adapter="sms", settings={"url": f"{url}/send", "seal_key": "e2e-seal-key-0123456789", "timeout": 2})
    # Attachment files in the test's own directory (on PostgreSQL the default is the working directory's var/).
    return Settings(database_url=db_url, sqlite_synchronous="NORMAL", destinations={"sms": sms}, attachments={"directory": tmp_path / "attachments"})


@pytest.fixture
def portal(hub, server):
    key = hub.keys.create("city-portal", Role.CHANNEL, hub.clock.now(), channel="web")
    with httpx.Client(base_url=server.url, headers={"X-API-Key": key}, timeout=30) as client:
        yield client


def deliver(hub) -> None:
    hub.handles.get(OutboxHandle).relay().drain(120)


def act(api, who: str, number: str, body: dict) -> None:
    resp = api[who].post(f"/api/v1/cases/{number}/actions", json=body)
    assert resp.status_code == 200, resp.text


def test_a_web_citizen_files_with_a_photo_gets_the_sms_looks_up_rates_and_is_counted(hub, api, portal, gateway, caplog) -> None:
    # One test for the whole journey: it starts the hub, the gateway and the portal once.
    state, _ = gateway
    caplog.set_level(logging.INFO)
    filed = portal.post("/api/v1/channel/cases", json=WEB_CASE)
    assert filed.status_code == 201, filed.text
    number, given = filed.json()["case"]["number"], filed.json()["retrieval_code"]
    photo = portal.post(f"/api/v1/channel/cases/{number}/attachments", files={"file": ("工地照片.png", PHOTO, "image/png")})
    assert photo.status_code == 201, photo.text
    assert (photo.json()["name"], photo.json()["media_type"], photo.json()["size"]) == ("工地照片.jpg", "image/jpeg", len(PHOTO))
    photo_id = photo.json()["id"]
    deliver(hub)
    texts = [m["text"] for m in state.to(PHONE)]
    assert len(texts) == 1
    receipt = RECEIPT.match(texts[0])
    assert receipt is not None, texts[0]
    assert receipt.group(1) == number and receipt.group(2) == given

    citizen = httpx.Client(base_url=api["anonymous"].base_url, timeout=30)
    code = receipt.group(2)
    seen = citizen.post(f"/api/v1/public/cases/{number}/lookup", json={"code": code})
    assert seen.status_code == 200 and seen.json()["status"] == "已登记，等待受理"
    assert [(a["id"], a["name"], a["media_type"]) for a in seen.json()["attachments"]] == [(photo_id, "工地照片.jpg", "image/jpeg")]
    assert "已添加附件" in [line["text"] for line in seen.json()["timeline"]]
    got = citizen.post(f"/api/v1/public/cases/{number}/attachments/{photo_id}", json={"code": code})
    assert got.status_code == 200 and got.content == PHOTO
    assert got.headers["x-content-type-options"] == "nosniff" and got.headers["content-disposition"].startswith("attachment")

    act(api, "agent", number, {"action": "accept"})
    act(api, "agent", number, {"action": "dispatch", "lead_unit": "ZY-SCJGJ"})
    act(api, "unit", number, {"action": "sign_off"})
    act(api, "unit", number, {"action": "reply", "text": "已责令施工方夜间停工，并处以罚款。"})
    act(api, "agent", number, {"action": "review_reply", "approved": True})
    deliver(hub)
    texts = [m["text"] for m in state.to(PHONE)]
    assert texts[1:] == [
        f"【资阳12345】您的工单{number}已答复：已责令施工方夜间停工，并处以罚款。",
        f"【资阳12345】请对工单{number}的答复进行评价（满意/基本满意/不满意），7天内可凭工单号和提取码评价。",
    ]

    seen = citizen.post(f"/api/v1/public/cases/{number}/lookup", json={"code": code}).json()
    assert seen["reply"]["text"] == "已责令施工方夜间停工，并处以罚款。" and seen["evaluation"]["open"] is True
    rated = citizen.post(f"/api/v1/public/cases/{number}/evaluation", json={"code": code, "satisfaction": "satisfied"})
    assert rated.status_code == 200 and rated.json()["status"] == "已办结"
    deliver(hub)
    assert state.to(PHONE)[-1]["text"] == f"【资阳12345】您的工单{number}已办结，感谢您对12345热线的支持。"
    assert len(state.to(PHONE)) == 4  # one closing SMS, though closing records two events (followed_up, closed)
    citizen.close()

    figures = api["supervisor"].get("/api/v1/assessment", params={"period": "2025-09", "unit": "ZY-SCJGJ"}).json()["figures"]
    rate = next(f for f in figures if f["key"] == "satisfaction_rate")
    assert (rate["numerator"], rate["denominator"], rate["cases"]) == (1, 1, [number])
    # The SMS log lines carry the phone masked, never the text (it holds the code).
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "139****5678" in logged and PHONE not in logged and code not in logged


def test_a_gateway_that_is_down_never_blocks_intake_and_the_outbox_retries(hub, portal, gateway, clock) -> None:
    state, _ = gateway
    state.down = True
    filed = portal.post("/api/v1/channel/cases", json=WEB_CASE)
    assert filed.status_code == 201  # intake answered while the gateway is down
    deliver(hub)
    assert state.attempts >= 1 and state.to(PHONE) == []
    state.down = False
    for _ in range(10):  # the backoff (full jitter, doubling) is on the hub's clock
        clock.advance(timedelta(minutes=15))
        deliver(hub)
        if state.to(PHONE):
            break
    sent = state.to(PHONE)
    assert len(sent) == 1 and RECEIPT.match(sent[0]["text"]).group(1) == filed.json()["case"]["number"]
