"""A WeChat follower's pictures become attachments of their case (#17): a picture sent during
the guided dialogue is held and attached once the case is registered, one sent right after is
attached at once; each is fetched by its MediaId from the sandbox WeChat API's media/get
(real HTTP on loopback) through the wechat adapter, read no further than the image limit, its
type read from the content; a picture too large, of another type, or unknown to WeChat is
refused in Chinese and nothing is attached. A WeChat retry of a picture attaches nothing twice.
Expectations written out here."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from adapters.wechat.adapter import MediaTooLarge, WeChatAdapter
from adapters.wechat.sandbox import image_message
from hub.integration.contract import AdapterContext, PermanentError
from hub.integration.registry import build_adapter
from hub.settings import ChannelSettings, DestinationConfig, Settings, WeChatSettings
from tests.integration.test_wechat import (  # noqa: F401 - the fixtures
    AES_KEY,
    APP_ID,
    BOB,
    SECRET,
    TOKEN,
    follower,
    url,
    wechat_api,
)

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 2000
PNG = b"\x89PNG\r\n\x1a\n" + b"\x02" * 3000
GIF = b"GIF89a" + b"\x03" * 500  # an image, but not a type the hub takes
HUGE = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x04" * 60 * 1024  # past the 50 KB image limit set here
REPO_ROOT = Path(__file__).resolve().parents[2]
RECEIPT = re.compile(r"^您的(投诉|咨询|求助|建议|举报)已登记，工单号(\d+)，提取码([0-9A-Z]{6})，请妥善保管。")


@pytest.fixture
def settings(db_url: str, wechat_api, tmp_path) -> Settings:  # noqa: F811
    _, api_url = wechat_api
    dest = DestinationConfig(
        adapter="wechat", settings={"api_base": api_url, "app_id": APP_ID, "app_secret": SECRET, "seal_key": "wechat-seal-key-0123456789", "timeout": 2}
    )
    return Settings(
        database_url=db_url,
        sqlite_synchronous="NORMAL",
        destinations={"wechat": dest},
        channels=ChannelSettings(wechat=WeChatSettings(app_id=APP_ID, token=TOKEN, encoding_aes_key=AES_KEY)),
        attachments={"directory": tmp_path / "attachments", "kind_max_bytes": {"image": 50 * 1024}, "citizen_max_per_case": 3},
    )


def _picture(hub, who, media_id: str, msg_id: int) -> str:
    at = int(hub.clock.now().timestamp())
    response = who.post(image_message(who.openid, "gh_test", f"http://mmbiz.qpic.cn/{media_id}", media_id, msg_id, at))
    response.raise_for_status()
    return who.read(response.text)


def test_pictures_during_and_right_after_the_dialogue_become_attachments(hub, api, url, wechat_api) -> None:  # noqa: F811
    state, _ = wechat_api
    state.media.update({"m-jpeg": (JPEG, "image/jpeg"), "m-png": (PNG, "image/png"), "m-gif": (GIF, "image/gif"), "m-huge": (HUGE, "image/jpeg")})
    alice = follower(hub, url)
    alice.say("1")
    alice.say("1")
    alice.say("跳过")
    assert alice.say("建设路12号窨井盖破损，行人容易踩空").startswith("请告诉我们事情发生的地点")
    held = _picture(hub, alice, "m-jpeg", 88001)
    assert held == "已收到图片（共1张），提交诉求后将作为附件登记。请继续回答上面的问题。"
    assert _picture(hub, alice, "m-jpeg", 88001) == held  # WeChat's retry: not held twice
    assert state.media_fetches == 0  # nothing fetched before there is a case
    assert alice.say("雁江区建设路12号").startswith("请留下手机号")  # the dialogue goes on where it was
    confirm = alice.say("跳过")
    assert "手机：未提供\n图片：1张\n回复“1”提交" in confirm
    receipt = alice.say("1")
    found = RECEIPT.match(receipt)
    assert found is not None, receipt
    number = found.group(2)
    assert receipt.endswith(f"如有现场照片，可在30分钟内直接发送，作为工单附件。\n图片已作为工单{number}的附件登记。")

    # Right after the case: attached at once; a retry attaches nothing twice.
    assert _picture(hub, alice, "m-png", 88002) == f"图片已作为工单{number}的附件登记。"
    assert _picture(hub, alice, "m-png", 88002) == f"图片已作为工单{number}的附件登记。"
    # Refused politely: too large (not read past the limit), a type not taken, unknown to WeChat.
    assert _picture(hub, alice, "m-huge", 88003) == "图片太大（超过50KB），未能作为附件登记，请压缩后重新发送。"
    assert _picture(hub, alice, "m-gif", 88004) == "只能接收JPG、PNG、WebP、HEIC格式的图片，这个文件未能登记。"
    assert _picture(hub, alice, "m-gone", 88005) == "暂时无法接收图片，请稍后重新发送，或拨打12345。"
    # The citizen's limit per case (3 here): the third picture goes in, the fourth is refused.
    assert _picture(hub, alice, "m-jpeg", 88006) == f"图片已作为工单{number}的附件登记。"
    assert _picture(hub, alice, "m-png", 88007) == f"工单{number}已不能再添加图片（已达上限或已办结）。"

    listed = api["agent"].get(f"/api/v1/cases/{number}/attachments").json()
    assert [(a["media_type"], a["size"], a["visibility"]) for a in listed] == [
        ("image/jpeg", len(JPEG), "public"),
        ("image/png", len(PNG), "public"),
        ("image/jpeg", len(JPEG), "public"),
    ]
    assert api["agent"].get(f"/api/v1/cases/{number}/attachments/{listed[1]['id']}").content == PNG

    # A text message is a new message again, not an answer to the picture step.
    assert "请回复数字" in alice.say("你好")


def test_a_picture_with_no_case_is_explained_and_fetches_nothing(hub, url, wechat_api) -> None:  # noqa: F811
    state, _ = wechat_api
    state.media["m-jpeg"] = (JPEG, "image/jpeg")
    bob = follower(hub, url, BOB)
    assert _picture(hub, bob, "m-jpeg", 89001) == "如需发送图片，请先回复“1”反映问题，或在提交诉求后30分钟内发送，图片将作为工单附件。"
    bob.say("2")  # 查询进度: a picture is no answer to this step
    assert _picture(hub, bob, "m-jpeg", 89002) == "这一步请回复文字。"
    assert state.media_fetches == 0
    # After a one-line filing, a picture goes to that case.
    assert bob.say("0").startswith("已退出。")
    number = RECEIPT.match(bob.say("投诉 小区门口垃圾堆了三天没人清理")).group(2)
    assert _picture(hub, bob, "m-jpeg", 89003) == f"图片已作为工单{number}的附件登记。"
    assert state.media_fetches == 1


def test_the_adapter_fetches_media_with_a_fresh_token_and_stops_at_the_limit(wechat_api, clock) -> None:  # noqa: F811
    state, api_url = wechat_api
    state.media["m-jpeg"] = (JPEG, "image/jpeg")
    raw = {"api_base": api_url, "app_id": APP_ID, "app_secret": SECRET, "seal_key": "wechat-seal-key-0123456789", "timeout": 2}
    adapter = build_adapter("wechat", "wechat", raw, AdapterContext("wechat", clock, REPO_ROOT / "mappings"))
    assert isinstance(adapter, WeChatAdapter)
    try:
        assert adapter.fetch_media("m-jpeg", 10_000) == JPEG
        httpx.post(f"{api_url}/sandbox/expire", timeout=10)
        assert adapter.fetch_media("m-jpeg", 10_000) == JPEG  # errcode 42001: a new token, asked once more
        assert state.token_fetches == 2
        with pytest.raises(MediaTooLarge):
            adapter.fetch_media("m-jpeg", 1000)
        with pytest.raises(PermanentError, match="40007"):
            adapter.fetch_media("m-unknown", 10_000)
    finally:
        adapter.close()
