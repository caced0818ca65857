"""The WeChat guided dialogue's steps (channels/wechat_dialogue.py `step`, a pure function), its
state as the JSON its table keeps (channels/wechat_dialogue_store.py) and the custom menu file's
checks at start. Expectations written by hand. Over HTTP with the sandbox
WeChat: tests/integration/test_wechat_dialogue.py."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from channels.wechat_dialogue import (
    ASK_CONTENT,
    ASK_KIND,
    ASK_NUMBER_AND_CODE,
    ASK_PHONE,
    ASK_PLACE,
    State,
    start,
    step,
)
from channels.wechat_dialogue_store import state_from_doc, state_to_doc
from channels.wechat_menu import load_menu
from hub.domain.clock import LOCAL_TZ
from hub.domain.model import RequestType, Satisfaction
from hub.mappings import MappingError

NOW = datetime(2025, 9, 26, 10, 0, tzinfo=LOCAL_TZ)
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_each_start_asks_its_first_question() -> None:
    assert start("report", NOW).say == ASK_KIND and start("report", NOW).state == State("kind", NOW)
    assert start("query", NOW).say == ASK_NUMBER_AND_CODE and start("rate", NOW).state == State("rate_code", NOW)
    mine = start("mine", NOW)
    assert (mine.do, mine.over, mine.state) == ("mine", True, None)


def test_a_report_walks_type_content_place_phone_confirm() -> None:
    t = step(State("kind", NOW), "举报", NOW)
    assert t.say == ASK_CONTENT and t.state is not None and t.state.kind is RequestType.REPORT
    t = step(t.state, "小区门口有人占道经营，堵塞消防通道", NOW)
    assert t.say == ASK_PLACE and t.state is not None and t.state.step == "place"
    t = step(t.state, "雁江区建设路12号", NOW)
    assert t.say == ASK_PHONE and t.state is not None and t.state.place == "雁江区建设路12号"
    t = step(t.state, "13812345678", NOW)
    assert t.state is not None and t.state.step == "confirm" and t.state.phone == "13812345678"
    assert "类型：举报" in t.say and "手机：138****5678" in t.say and "13812345678" not in t.say
    done = step(t.state, "确认", NOW)
    assert (done.do, done.over) == ("register", True) and done.state is not None and done.state.content == "小区门口有人占道经营，堵塞消防通道"


def test_a_phone_in_the_content_skips_the_phone_question_and_skip_leaves_the_place_empty() -> None:
    t = step(State("content", NOW, kind=RequestType.HELP), "楼道灯坏了，电话13912345678", NOW, phone_in_content="13912345678")
    assert t.state is not None
    t = step(t.state, "跳过", NOW)
    assert t.state is not None and t.state.step == "confirm" and t.state.place is None and "地点：未提供" in t.say


@pytest.mark.parametrize(
    ("state", "answer"),
    [
        (State("kind", NOW), "6"),
        (State("content", NOW, kind=RequestType.COMPLAINT), "噪音"),
        (State("content", NOW, kind=RequestType.COMPLAINT), "很" * 2001),
        (State("place", NOW, kind=RequestType.COMPLAINT, content="x" * 10), "路" * 201),
        (State("phone", NOW, kind=RequestType.COMPLAINT, content="x" * 10), "12345"),
        (State("confirm", NOW, kind=RequestType.COMPLAINT, content="x" * 10), "好的"),
        (State("query", NOW), "我的工单号忘了"),
        (State("rate_choice", NOW, number="5120002509260001", code="ABC123"), "4"),
    ],
)
def test_an_answer_that_does_not_fit_is_asked_again_and_the_third_gives_up(state: State, answer: str) -> None:
    once = step(state, answer, NOW)
    assert once.state is not None and once.state.step == state.step and once.state.tries == 1 and once.do == "none" and not once.over
    twice = step(once.state, answer, NOW)
    assert twice.state is not None and twice.state.tries == 2
    third = step(twice.state, answer, NOW)
    assert third.over and third.state is None and third.menu and third.say.startswith("未能识别")


def test_zero_leaves_from_any_step() -> None:
    for s in ("kind", "content", "place", "phone", "confirm", "query", "rate_code", "rate_choice"):
        left = step(State(s, NOW), "0", NOW)  # type: ignore[arg-type]
        assert (left.over, left.state, left.menu, left.say) == (True, None, True, "已退出。")


def test_query_and_rating_take_the_number_and_code() -> None:
    q = step(State("query", NOW), "5120002509260001 abc123", NOW)
    assert (q.do, q.over) == ("query", True) and q.state is not None and (q.state.number, q.state.code) == ("5120002509260001", "ABC123")
    r = step(State("rate_code", NOW), "5120002509260001，ABC123", NOW)
    assert (r.do, r.over) == ("check_for_rating", False)
    rated = step(State("rate_choice", NOW, number="5120002509260001", code="ABC123"), "2", NOW)
    assert (rated.do, rated.over, rated.rating) == ("rate", True, Satisfaction.BASICALLY_SATISFIED)
    assert step(State("rate_choice", NOW), "不满意", NOW).rating is Satisfaction.UNSATISFIED


def test_a_state_is_kept_as_json_and_read_back_the_same() -> None:
    state = State("confirm", NOW, kind=RequestType.HELP, content="楼道灯坏了", place="建设路", phone="13912345678", tries=1)
    doc = state_to_doc(state)
    assert doc["at"] == NOW.isoformat() and doc["kind"] == "help"
    assert state_from_doc(json.loads(json.dumps(doc))) == state
    assert state_from_doc(state_to_doc(State("kind", NOW))) == State("kind", NOW)


def test_the_shipped_menu_is_three_buttons_of_the_dialogue() -> None:
    wire = load_menu(REPO_ROOT / "mappings").wire()
    keys = [b.get("key") for top in wire["button"] for b in (top.get("sub_button") or [top])]
    assert keys == ["REPORT", "QUERY", "MINE", "RATE"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("button:\n  - {name: 反映问题, type: click, key: SHOP}\n", "key is one of"),
        ("button:\n  - {name: 反映问题反映问题, type: click, key: REPORT}\n", "16 bytes"),
        ("button:\n" + "  - {name: a, type: click, key: MINE}\n" * 4, "at most 3"),
        ("button:\n  - {name: 官网, type: view}\n", "url"),
        ("button:\n  - {name: 官网, type: view, url: 'ftp://x'}\n", "url"),
        ("button:\n  - name: 办理\n    sub_button:\n      - {name: b, sub_button: [{name: c, type: click, key: MINE}]}\n", "two levels"),
    ],
)
def test_a_bad_menu_stops_the_start_naming_why(tmp_path: Path, body: str, reason: str) -> None:
    (tmp_path / "channels").mkdir()
    (tmp_path / "channels" / "wechat_menu.yaml").write_text(body, encoding="utf-8")
    with pytest.raises(MappingError) as refused:
        load_menu(tmp_path)
    assert refused.value.file.endswith("wechat_menu.yaml") and reason in str(refused.value)


CATEGORIES = (("0101", "城市管理与市容环境"), ("0103", "建筑施工与工程质量"))


def test_the_category_is_asked_from_the_list_and_may_be_skipped() -> None:
    asked = step(State("kind", NOW), "1", NOW, categories=CATEGORIES)
    assert asked.state is not None and asked.state.step == "category"
    assert asked.say.startswith("请选择事项分类（可选），回复数字；不清楚请回复“跳过”，由话务员确定：\n1 城市管理与市容环境\n2 建筑施工与工程质量\n")
    chosen = step(asked.state, "2", NOW, categories=CATEGORIES)
    assert chosen.say == ASK_CONTENT and chosen.state is not None and (chosen.state.category, chosen.state.category_name) == ("0103", "建筑施工与工程质量")
    skipped = step(asked.state, "跳过", NOW, categories=CATEGORIES)
    assert skipped.state is not None and skipped.state.step == "content" and skipped.state.category is None
    again = step(asked.state, "3", NOW, categories=CATEGORIES)  # not on the list
    assert again.state is not None and again.state.step == "category" and again.state.tries == 1
    # Without a list (no categories offered) the content comes next, as before.
    assert step(State("kind", NOW), "1", NOW).say == ASK_CONTENT
