"""The WeChat guided dialogue and custom menu (#17): a follower answers the menu with numbers, or
taps a button of the custom menu, and is led in Chinese to a registered case (type, content,
place by text or by a location message, phone, confirm), its progress, a rating, their cases.
The state is kept per openid (two followers at once do not mix), a WeChat retry of a message
takes no step twice, "0" leaves, and silence past `dialogue_minutes` forgets the dialogue. The
menu is pushed with `hotline-hub wechat menu --push` to the sandbox WeChat API, which checks it
as WeChat does. The hub and the sandbox WeChat are real HTTP servers on loopback; the follower
signs as the WeChat server does. Expectations are written out here."""

from __future__ import annotations

import re
from datetime import timedelta

import yaml
from sqlalchemy import text

from adapters.wechat.sandbox import click_event, location_message
from hub.cli import main
from tests.integration.test_wechat import (  # noqa: F401 - the fixtures
    ALICE,
    APP_ID,
    BOB,
    SECRET,
    act,
    case_count,
    follower,
    settings,
    url,
    wechat_api,
)

RECEIPT = re.compile(r"^您的(投诉|咨询|求助|建议|举报)已登记，工单号(\d+)，提取码([0-9A-Z]{6})，请妥善保管。")
MENU = "请回复数字：\n1 反映问题\n2 查询进度\n3 评价答复\n4 我的工单"


def test_the_numbered_menu_leads_to_a_registered_case(hub, api, url) -> None:  # noqa: F811
    alice = follower(hub, url)
    assert MENU in alice.say("你好")
    assert alice.say("1").startswith("请选择诉求类型，回复数字：\n1 投诉\n2 咨询\n3 求助\n4 建议\n5 举报")
    assert alice.say("7").startswith("请选择诉求类型")  # not a choice: asked again
    assert alice.say("1").startswith(
        "请选择事项分类（可选），回复数字；不清楚请回复“跳过”，由话务员确定：\n1 城市管理与市容环境\n2 市政道路与设施\n3 建筑施工与工程质量\n"
    )
    assert alice.say("99").startswith("请选择事项分类")  # not on the list: asked again
    assert alice.say("3").startswith("请描述具体情况")
    assert alice.say("噪音").startswith("内容太短")
    assert alice.say("建设路12号工地每天夜里施工到凌晨，噪音很大").startswith("请告诉我们事情发生的地点")
    at = int(hub.clock.now().timestamp())
    asked = alice.read(alice.post(location_message(ALICE, "gh_test", "雁江区建设路12号", 30.12, 104.65, 66001, at)).text)
    assert asked.startswith("请留下手机号")
    assert alice.say("12345").startswith("手机号应为11位数字")
    confirm = alice.say("138 1234 5678")
    assert confirm == (
        "请确认您的诉求：\n类型：投诉\n分类：建筑施工与工程质量\n内容：建设路12号工地每天夜里施工到凌晨，噪音很大\n地点：雁江区建设路12号\n手机：138****5678\n回复“1”提交，回复“0”取消。"
    )
    assert case_count(hub) == 0  # nothing stored before the follower confirms
    receipt = alice.say("1", msg_id=66002)
    found = RECEIPT.match(receipt)
    assert found is not None and found.group(1) == "投诉", receipt
    # WeChat retries a message it had no answer to in time: the same answer, no second case, no new step.
    assert alice.say("1", msg_id=66002) == receipt
    assert case_count(hub) == 1
    number, code = found.group(2), found.group(3)
    case = api["agent"].get(f"/api/v1/cases/{number}").json()
    assert (case["request_type"], case["intake"]["channel"], case["person"]["phone"], case["place"]["address"]) == (
        "complaint",
        "wechat",
        "13812345678",
        "雁江区建设路12号",
    )
    assert case["content"] == "建设路12号工地每天夜里施工到凌晨，噪音很大" and case["category_code"] == "0103"
    with hub.db.read() as s:
        ref = s.execute(text("SELECT external_id FROM case_external_refs")).scalar_one()
    assert ref == f"{ALICE}:66002"

    # 2 查询进度, then 4 我的工单.
    assert alice.say("2").startswith("请回复“工单号 提取码”")
    status = alice.say(f"{number} {code.lower()}")
    assert status.startswith(f"工单{number}（投诉）\n状态：已登记，等待受理")
    assert alice.say("4").startswith("您通过本公众号提交的工单") and number in alice.say("4")


def test_a_phone_in_the_content_is_not_asked_again_and_two_followers_do_not_mix(hub, url) -> None:  # noqa: F811
    alice, bob = follower(hub, url), follower(hub, url, BOB)
    alice.say("1")
    bob.say("1")
    assert alice.say("3").startswith("请选择事项分类")  # 求助
    assert bob.say("4").startswith("请选择事项分类")  # 建议
    assert alice.say("跳过").startswith("请描述具体情况")  # the category is optional
    assert bob.say("跳过").startswith("请描述具体情况")
    assert alice.say("楼道灯坏了一周，老人上下楼不安全，电话13912345678").startswith("请告诉我们事情发生的地点")
    assert bob.say("建设路公交站增设遮雨棚，雨天候车不方便").startswith("请告诉我们事情发生的地点")
    confirm = alice.say("跳过")
    assert confirm.startswith("请确认您的诉求：\n类型：求助") and "地点：未提供\n手机：139****5678" in confirm
    assert bob.say("跳过").startswith("请留下手机号")
    assert bob.say("跳过").startswith("请确认您的诉求：\n类型：建议")
    assert RECEIPT.match(alice.say("1")).group(1) == "求助"
    assert RECEIPT.match(bob.say("提交")).group(1) == "建议"
    assert case_count(hub) == 2


def test_zero_leaves_wrong_answers_give_up_and_silence_forgets(hub, url, clock) -> None:  # noqa: F811
    alice = follower(hub, url)
    alice.say("1")
    left = alice.say("0")
    assert left.startswith("已退出。") and MENU in left
    assert "请选择诉求类型" not in alice.say("你好")  # no dialogue any more: the help
    alice.say("1")
    alice.say("x")
    alice.say("y")
    gave_up = alice.say("z")
    assert gave_up.startswith("未能识别您的回复，已退出本次办理。") and MENU in gave_up
    alice.say("1")
    alice.say("2")
    alice.say("跳过")
    clock.set(clock.now() + timedelta(minutes=31))  # past dialogue_minutes (30)
    # The dialogue is forgotten: the content is not taken as an answer, but as any message.
    assert MENU in alice.say("新生儿医保在哪里办理，需要哪些材料？")
    assert case_count(hub) == 0


def test_the_menu_is_pushed_to_wechat_and_its_buttons_start_the_dialogue(hub, api, url, wechat_api, tmp_path, monkeypatch, capsys) -> None:  # noqa: F811
    state, api_url = wechat_api
    config = tmp_path / "hub.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database_url": hub.settings.database_url,
                "destinations": {
                    "wechat": {"adapter": "wechat", "settings": {"api_base": api_url, "app_id": APP_ID, "app_secret": SECRET, "seal_key": "x" * 20}}
                },
                "channels": {"wechat": {"app_id": APP_ID, "token": "wechatTestToken42"}},
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("HUB_CONFIG_FILE", str(config))
    assert main(["wechat", "menu"]) == 0
    printed = capsys.readouterr().out
    assert '"key": "REPORT"' in printed and state.menu is None  # printing sends nothing
    assert main(["wechat", "menu", "--push"]) == 0
    assert "3 buttons" in capsys.readouterr().out
    assert state.menu == {
        "button": [
            {"type": "click", "name": "反映问题", "key": "REPORT"},
            {"name": "办理进度", "sub_button": [{"type": "click", "name": "查询进度", "key": "QUERY"}, {"type": "click", "name": "我的工单", "key": "MINE"}]},
            {"type": "click", "name": "评价答复", "key": "RATE"},
        ]
    }

    alice = follower(hub, url)
    at = int(hub.clock.now().timestamp())
    tapped = alice.read(alice.post(click_event(ALICE, "gh_test", "REPORT", at)).text)
    assert tapped.startswith("请选择诉求类型")
    alice.say("1")
    alice.say("跳过")
    alice.say("建设路12号工地夜间施工，噪音很大，影响休息")
    alice.say("跳过")
    alice.say("跳过")
    number, code = RECEIPT.match(alice.say("1")).group(2, 3)

    # 评价答复 from the menu: refused while there is no approved reply, then rated 1 满意.
    assert alice.read(alice.post(click_event(ALICE, "gh_test", "RATE", at)).text).startswith("请回复“工单号 提取码”")
    assert alice.say(f"{number} {code}") == f"工单{number}现在不能评价：答复尚未审核通过，或已经评价、已过评价期限。"
    act(api, "agent", number, {"action": "accept"})
    act(api, "agent", number, {"action": "answer_directly", "answer": "已通知施工方夜间停工。"})
    alice.read(alice.post(click_event(ALICE, "gh_test", "RATE", at)).text)
    assert alice.say(f"{number} {code}").startswith(f"请评价工单{number}的答复，回复数字：\n1 满意\n2 基本满意\n3 不满意")
    assert alice.say("1") == f"感谢您的评价！工单{number}：已办结。"
    follow = [h for h in api["agent"].get(f"/api/v1/cases/{number}/history").json() if h["action"] == "follow_up"]
    assert follow[0]["actor"] == "citizen@zy-wechat" and follow[0]["data"]["satisfaction"] == "satisfied"
    # 我的工单 from the menu; an unknown key says nothing.
    assert number in alice.read(alice.post(click_event(ALICE, "gh_test", "MINE", at)).text)
    assert alice.post(click_event(ALICE, "gh_test", "UNKNOWN", at)).text == "success"
