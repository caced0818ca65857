"""The WeChat official account (#17): the server URL check, signed messages (明文 and 安全模式)
answered with passive replies, cases filed by message, status by number and code, "我的工单",
and progress pushed back as template messages through the outbox to a sandbox WeChat API.
The hub and the sandbox WeChat are real HTTP servers on loopback; the sandbox follower signs
and encrypts as the WeChat server does. Expectations are written out here, not computed with
channels/wechat.py."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text
from wechatpy.crypto import WeChatCrypto

from adapters.wechat.sandbox import (
    Follower,
    ServerState,
    create_server,
    event_message,
    parse_message_fields,
    sign,
    text_message,
)
from hub.settings import ChannelSettings, DestinationConfig, Settings, WeChatSettings
from outbox.feature import OutboxHandle
from tests.support.live import LiveServer

TOKEN = "wechatTestToken42"
AES_KEY = base64.b64encode(hashlib.sha256(b"wechat-test").digest()).decode().rstrip("=")  # 43 characters
APP_ID = "wx0123456789abcdef"
SECRET = "0123456789abcdef0123456789abcdef"
ALICE = "oAlice_234567890abcdefghijkl"  # openids are base64url: "_" is a LIKE wildcard to escape
BOB = "oAliceX234567890abcdefghijkl"  # what "oAlice_…" would match unescaped
# Tests of the protocol alone (signatures, XML, replies) run on SQLite only; those that read or
# write cases and the outbox (我的工单's prefix query, the template messages) on both databases.
PROTOCOL_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
RECEIPT = re.compile(r"^您的投诉已登记，工单号(\d+)，提取码([34679ACDEFGHJKMNPQRTUVWXY]{6})，请妥善保管。")


@pytest.fixture
def wechat_api():
    state = ServerState(app_id=APP_ID, app_secret=SECRET)
    with LiveServer(create_server(state)) as live:
        yield state, live.url


@pytest.fixture
def settings(db_url: str, wechat_api) -> Settings:
    _, url = wechat_api
    dest = DestinationConfig(
        adapter="wechat", settings={"api_base": url, "app_id": APP_ID, "app_secret": SECRET, "seal_key": "wechat-seal-key-0123456789", "timeout": 2}
    )
    return Settings(
        database_url=db_url,
        sqlite_synchronous="NORMAL",
        destinations={"wechat": dest},
        channels=ChannelSettings(wechat=WeChatSettings(app_id=APP_ID, token=TOKEN, encoding_aes_key=AES_KEY)),
    )


@pytest.fixture
def url(server) -> str:
    return f"{server.url}/api/v1/channel/wechat"


def follower(hub, url: str, openid: str = ALICE, aes: bool = False) -> Follower:
    return Follower(url=url, token=TOKEN, openid=openid, app_id=APP_ID, aes_key=AES_KEY if aes else None, now=lambda: hub.clock.now().timestamp())


def case_count(hub) -> int:
    with hub.db.read() as s:
        return s.execute(text("SELECT count(*) FROM cases")).scalar_one()


def deliver(hub) -> None:
    hub.handles.get(OutboxHandle).relay().drain(120)


def act(api, who: str, number: str, body: dict) -> None:
    resp = api[who].post(f"/api/v1/cases/{number}/actions", json=body)
    assert resp.status_code == 200, resp.text


# -- the server URL and signatures ---------------------------------------------------------------------


@PROTOCOL_ONLY
def test_the_url_check_echoes_echostr_only_when_signed_with_the_token(hub, url) -> None:
    at = str(int(hub.clock.now().timestamp()))
    good = {"signature": sign(TOKEN, at, "n1"), "timestamp": at, "nonce": "n1", "echostr": "7312459"}
    resp = httpx.get(url, timeout=30, params=good)
    assert resp.status_code == 200 and resp.text == "7312459"
    forged = httpx.get(url, timeout=30, params={**good, "signature": sign("another-token", at, "n1")})
    assert forged.status_code == 403
    assert forged.headers["content-type"].startswith("application/problem+json")
    assert "signature" in forged.json()["detail"] and "7312459" not in forged.text
    stale_at = str(int((hub.clock.now() - timedelta(hours=1)).timestamp()))  # a captured request replayed later
    stale = httpx.get(url, timeout=30, params={**good, "timestamp": stale_at, "signature": sign(TOKEN, stale_at, "n1")})
    assert stale.status_code == 403


@PROTOCOL_ONLY
def test_a_forged_or_unsafe_message_is_refused_and_nothing_is_recorded(hub, url) -> None:
    at = str(int(hub.clock.now().timestamp()))
    xml = text_message(ALICE, "gh_test", "投诉 小区门口垃圾堆了三天没人清理", 5001, int(at))
    forged = httpx.post(url, timeout=30, params={"signature": sign("wrong", at, "n2"), "timestamp": at, "nonce": "n2"}, content=xml)
    assert forged.status_code == 403 and forged.headers["content-type"].startswith("application/problem+json")
    signed = {"signature": sign(TOKEN, at, "n3"), "timestamp": at, "nonce": "n3"}
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        f"<xml><ToUserName>gh_test</ToUserName><FromUserName>{ALICE}</FromUserName><CreateTime>{at}</CreateTime>"
        "<MsgType>text</MsgType><Content>投诉 &b;</Content><MsgId>5002</MsgId></xml>"
    )
    refused = httpx.post(url, timeout=30, params=signed, content=bomb)
    assert refused.status_code == 400 and "body" in refused.json()["detail"]
    assert httpx.post(url, timeout=30, params=signed, content=b"not xml at all").status_code == 400
    # Signed, but not a message wechatpy can read: a CreateTime or a MsgId that is not a number.
    odd = (
        f"<xml><ToUserName>gh_test</ToUserName><FromUserName>{ALICE}</FromUserName><CreateTime>soon</CreateTime>"
        "<MsgType>text</MsgType><Content>投诉 小区门口垃圾堆了三天没人清理</Content><MsgId>abc</MsgId></xml>"
    )
    assert httpx.post(url, timeout=30, params=signed, content=odd.encode()).status_code == 400
    assert case_count(hub) == 0


# -- what a follower can do ------------------------------------------------------------------------------


def test_a_follower_files_a_complaint_reads_its_status_and_lists_their_cases(hub, api, url) -> None:
    alice = follower(hub, url)
    assert "投诉/咨询/求助/建议/举报" in alice.say("你好")  # the help text
    reply = alice.say("投诉 建设路12号工地夜间施工，噪音很大，影响休息。", msg_id=7001)
    filed = RECEIPT.match(reply)
    assert filed is not None, reply
    number, code = filed.group(1), filed.group(2)
    # WeChat retries a message it got no answer to: the same MsgId registers nothing new, no code twice.
    again = alice.say("投诉 建设路12号工地夜间施工，噪音很大，影响休息。", msg_id=7001)
    assert f"工单号{number}" in again and code not in again and case_count(hub) == 1

    with hub.db.read() as s:
        row = s.execute(
            text("SELECT c.channel, c.request_type, c.category_code, r.system, r.external_id FROM cases c JOIN case_external_refs r ON r.case_id = c.id")
        ).one()
    assert tuple(row) == ("wechat", "complaint", "9901", "channel.zy-wechat", f"{ALICE}:7001")

    status = alice.say(f"查询 {number} {code.lower()}")
    assert status.splitlines()[:3] == [f"工单{number}（投诉）", "状态：已登记，等待受理"] + [status.splitlines()[2]]
    assert status.splitlines()[2].startswith("最新进展：诉求已登记（")
    assert alice.say(f"查询 {number} 999999") == "未找到该工单，请核对工单号和提取码。"

    bob = follower(hub, url, BOB)
    bob_reply = bob.say("求助 楼道灯坏了一周，老人晚上上下楼不安全，联系电话13912345678")
    bob_number = re.search(r"工单号(\d+)", bob_reply).group(1)
    mine = alice.say("我的工单")
    assert number in mine and bob_number not in mine and "已登记，等待受理" in mine
    assert bob_number in bob.say("我的工单") and number not in bob.say("我的工单")
    # A phone is kept only when the follower gave one.
    assert api["agent"].get(f"/api/v1/cases/{number}").json()["person"]["phone"] is None
    assert api["agent"].get(f"/api/v1/cases/{bob_number}").json()["person"]["phone"] == "13912345678"


@PROTOCOL_ONLY
def test_too_short_a_filing_and_other_messages_get_guidance(hub, url) -> None:
    alice = follower(hub, url)
    assert alice.say("投诉 噪音").startswith("请写明具体情况")
    at = int(hub.clock.now().timestamp())
    welcome = alice.read(alice.post(event_message(ALICE, "gh_test", "subscribe", at)).text)
    assert welcome.startswith("感谢关注资阳12345！")
    image = (
        "<xml><ToUserName>gh_test</ToUserName><FromUserName>" + ALICE + f"</FromUserName><CreateTime>{at}</CreateTime>"
        "<MsgType>image</MsgType><PicUrl>http://example.invalid/a.jpg</PicUrl><MediaId>m1</MediaId><MsgId>9</MsgId></xml>"
    )
    # A picture with no case to go to says how to send one (tests/integration/test_wechat_pictures.py).
    assert alice.read(alice.post(image).text).startswith("如需发送图片，请先回复“1”反映问题")
    voice = (
        "<xml><ToUserName>gh_test</ToUserName><FromUserName>" + ALICE + f"</FromUserName><CreateTime>{at}</CreateTime>"
        "<MsgType>voice</MsgType><MediaId>v1</MediaId><Format>amr</Format><MsgId>10</MsgId></xml>"
    )
    assert alice.read(alice.post(voice).text).startswith("目前只能办理文字消息")
    assert case_count(hub) == 0


@PROTOCOL_ONLY
def test_safe_mode_messages_are_decrypted_and_answered_encrypted(hub, url) -> None:
    alice = follower(hub, url, aes=True)
    response = alice.post(text_message(ALICE, "gh_test", "咨询 新生儿医保在哪里办理，需要哪些材料？", 8001, int(hub.clock.now().timestamp())))
    assert response.status_code == 200
    assert "<Encrypt>" in response.text and "工单号" not in response.text  # the reply travels encrypted
    assert re.match(r"^您的咨询已登记，工单号\d+，提取码", alice.read(response.text))
    # A message encrypted under another key does not open (400); a msg_signature that does not match the
    # ciphertext is not WeChat's (403). Neither is recorded.
    other = Follower(
        url=url, token=TOKEN, openid=ALICE, app_id=APP_ID, now=lambda: hub.clock.now().timestamp(), aes_key=base64.b64encode(b"k" * 32).decode().rstrip("=")
    )
    at = int(hub.clock.now().timestamp())
    assert other.post(text_message(ALICE, "gh_test", "咨询 另一把密钥加密的消息内容", 8002, at)).status_code == 400
    envelope = parse_message_fields(
        WeChatCrypto(TOKEN, AES_KEY, APP_ID).encrypt_message(text_message(ALICE, "gh_test", "咨询 被改过签名的加密消息内容", 8003, at), "n4", str(at))
    )
    tampered = httpx.post(
        url,
        timeout=30,
        params={"signature": sign(TOKEN, str(at), "n4"), "timestamp": str(at), "nonce": "n4", "encrypt_type": "aes", "msg_signature": "0" * 40},
        content=f"<xml><Encrypt>{envelope['Encrypt']}</Encrypt></xml>",
    )
    assert tampered.status_code == 403 and "msg_signature" in tampered.json()["detail"]
    assert case_count(hub) == 1


# -- progress pushed through the outbox -------------------------------------------------------------------


def test_progress_reaches_the_follower_as_template_messages_and_they_rate_it(hub, api, url, wechat_api, caplog) -> None:
    caplog.set_level(logging.INFO)
    state, _ = wechat_api
    alice = follower(hub, url)
    number, code = RECEIPT.match(alice.say("投诉 建设路12号工地夜间施工，噪音很大，影响休息。")).groups()
    act(api, "agent", number, {"action": "accept"})
    act(api, "agent", number, {"action": "dispatch", "lead_unit": "ZY-SCJGJ"})
    act(api, "unit", number, {"action": "sign_off"})
    act(api, "unit", number, {"action": "reply", "text": "已责令施工方夜间停工。"})
    deliver(hub)
    assert state.sent == []  # a unit's reply is not the citizen's until the centre approves it
    act(api, "agent", number, {"action": "review_reply", "approved": True})
    deliver(hub)
    sent = state.to(ALICE)
    assert [m["template_id"] for m in sent] == ["sandbox-reply-approved", "sandbox-follow-up"]
    assert sent[0]["data"]["keyword1"] == {"value": number}
    assert sent[0]["data"]["keyword2"] == {"value": "已责令施工方夜间停工。"}
    assert sent[1]["data"]["remark"]["value"].startswith("7天内回复“评价 工单号 提取码")
    assert state.token_fetches == 1  # the token is cached across sends

    # The outbox holds neither the openid nor the text in clear (both sealed).
    with hub.db.read() as s:
        bodies = " ".join(str(b) for b in s.execute(text("SELECT body FROM outbox_messages")).scalars())
    assert ALICE not in bodies and "已责令施工方夜间停工" not in bodies

    status = alice.say(f"查询 {number} {code}")
    assert "状态：已答复，待回访" in status and "答复：已责令施工方夜间停工。" in status
    rated = alice.say(f"评价 {number} {code} 满意")
    assert rated == f"感谢您的评价！工单{number}：已办结。"
    deliver(hub)
    # One closing message, though closing records two events (case.followed_up, case.closed).
    assert [m["template_id"] for m in state.to(ALICE)] == ["sandbox-reply-approved", "sandbox-follow-up", "sandbox-closed"]
    follow = [h for h in api["agent"].get(f"/api/v1/cases/{number}/history").json() if h["action"] == "follow_up"]
    assert follow[0]["actor"] == "citizen@zy-wechat"
    # The hub's lines (httpx's own are the test's follower: the hub keeps httpx at WARNING).
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "httpx")
    assert ALICE not in logged and "oAli****ijkl" in logged and SECRET not in logged


def test_an_expired_token_is_refreshed_busy_is_retried_and_a_refusal_is_a_dead_letter(hub, api, url, wechat_api, clock) -> None:
    state, _ = wechat_api
    alice = follower(hub, url)
    number = RECEIPT.match(alice.say("投诉 建设路12号工地夜间施工，噪音很大，影响休息。")).group(1)
    act(api, "agent", number, {"action": "accept"})
    act(api, "agent", number, {"action": "answer_directly", "answer": "已转告相关部门，请留意后续通知。"})
    deliver(hub)
    assert [m["template_id"] for m in state.to(ALICE)] == ["sandbox-reply-approved", "sandbox-follow-up"]
    fetched = state.token_fetches

    with state.lock:
        state.tokens.clear()  # the hub's token is no longer valid at WeChat (expired, or fetched anew elsewhere)
        state.failures.append(-1)  # and then WeChat is busy once
    act(api, "agent", number, {"action": "follow_up", "reached": True, "resolved": True, "satisfaction": "satisfied"})
    deliver(hub)
    assert len(state.to(ALICE)) == 2  # 42001, a fresh token, then -1: kept for a retry
    assert state.token_fetches == fetched + 1
    for _ in range(10):  # the backoff is on the hub's clock
        clock.advance(timedelta(minutes=15))
        deliver(hub)
        if len(state.to(ALICE)) == 3:
            break
    assert [m["template_id"] for m in state.to(ALICE)][-1] == "sandbox-closed"

    bob = follower(hub, url, BOB)
    other = re.search(r"工单号(\d+)", bob.say("咨询 新生儿医保在哪里办理，需要哪些材料？")).group(1)
    act(api, "agent", other, {"action": "accept"})
    with state.lock:
        state.failures.append(43004)  # the follower unsubscribed: WeChat will never take it
    act(api, "agent", other, {"action": "answer_directly", "answer": "请到市医保服务大厅办理。"})
    deliver(hub)
    with hub.db.read() as s:
        dead = s.execute(text("SELECT event_type, last_error FROM outbox_messages WHERE status = 'dead'")).all()
    assert [d[0] for d in dead] == ["wechat.reply_approved"] and "43004" in dead[0][1]
    assert "oAli****ijkl" in dead[0][1] and BOB not in dead[0][1]


def test_a_wrong_app_secret_is_a_configuration_error_and_an_unhealthy_destination(wechat_api) -> None:
    from pathlib import Path

    from adapters.sms.seal import seal
    from adapters.wechat.adapter import WeChatAdapter
    from adapters.wechat.adapter import WeChatSettings as AdapterSettings
    from hub.domain.clock import SystemClock
    from hub.integration.contract import AdapterContext, ConfigurationError, OutboundMessage

    _, api_url = wechat_api
    adapter = WeChatAdapter(
        AdapterSettings(api_base=api_url, app_id=APP_ID, app_secret="not-the-secret", seal_key="wechat-seal-key-0123456789"),
        AdapterContext("wechat", SystemClock(), Path("mappings")),
    )
    body = {"touser": ALICE, "template_id": "sandbox-closed", "data": {"first": {"value": "x"}}}
    message = OutboundMessage(
        idempotency_key="wechat:1:closed",
        destination="wechat",
        case_number="N1",
        sequence=1,
        event_type="wechat.closed",
        case={},
        event={"template": "closed", "sealed": seal("wechat-seal-key-0123456789", ALICE, json.dumps(body))},
    )
    try:
        with pytest.raises(ConfigurationError, match="40125"):
            adapter.deliver(message)
        assert adapter.health().ok is False
    finally:
        adapter.close()
