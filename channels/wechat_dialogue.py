"""The guided dialogue of the WeChat official account (引导式对话): a follower who answers the
menu with a number, or taps a button of the custom menu (自定义菜单, channels/wechat_menu.py),
is led step by step, in Chinese, to a registered case (1 反映问题: type, content, place, phone,
confirm), to a case's progress (2 查询进度), to rating a reply (3 评价答复) or to their cases
(4 我的工单). "0" leaves the dialogue at any step.

`step` is a pure function: (state, what the follower wrote) -> (the next state, what to say,
what to do). The door (channels/wechat.py) does what it says (register, look up, rate) and
keeps the state per openid in the database (channels/wechat_dialogue_store.py), so every
`serve` process continues the same dialogue. The state holds what the follower wrote before
they confirmed (content, place, phone) and expires after `channels.wechat.dialogue_minutes` of
silence; expired rows are deleted. The one-line commands (投诉 + 内容, 查询 工单号 提取码) need no
state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from hub.domain.model import RequestType, Satisfaction

Step = Literal["kind", "category", "content", "place", "phone", "confirm", "query", "rate_code", "rate_choice", "photos"]
Do = Literal["none", "register", "query", "check_for_rating", "rate", "mine"]
Start = Literal["report", "query", "rate", "mine"]

STARTS: dict[str, Start] = {"1": "report", "2": "query", "3": "rate", "4": "mine"}
EXIT = ("0", "退出", "取消")
SKIP = ("跳过", "无", "不提供")
YES = ("1", "提交", "确认")
KIND_CHOICES: dict[str, RequestType] = {
    "1": RequestType.COMPLAINT,
    "2": RequestType.ENQUIRY,
    "3": RequestType.HELP,
    "4": RequestType.SUGGESTION,
    "5": RequestType.REPORT,
    "投诉": RequestType.COMPLAINT,
    "咨询": RequestType.ENQUIRY,
    "求助": RequestType.HELP,
    "建议": RequestType.SUGGESTION,
    "举报": RequestType.REPORT,
}
KIND_WORDS = {RequestType.COMPLAINT: "投诉", RequestType.ENQUIRY: "咨询", RequestType.HELP: "求助", RequestType.SUGGESTION: "建议", RequestType.REPORT: "举报"}
RATING_CHOICES = {
    "1": Satisfaction.SATISFIED,
    "2": Satisfaction.BASICALLY_SATISFIED,
    "3": Satisfaction.UNSATISFIED,
    "满意": Satisfaction.SATISFIED,
    "基本满意": Satisfaction.BASICALLY_SATISFIED,
    "不满意": Satisfaction.UNSATISFIED,
}
NUMBER_AND_CODE = re.compile(r"^([0-9A-Za-z-]{8,40})[\s,，]+([0-9A-Za-z]{4,16})$")
MOBILE_ONLY = re.compile(r"^(1[3-9]\d{9})$")
MIN_CONTENT = 5
MAX_CONTENT = 2000
MAX_PLACE = 200
MAX_TRIES = 3  # answers that do not fit the step before the dialogue gives up

EXIT_HINT = "（回复“0”退出）"
ASK_KIND = "请选择诉求类型，回复数字：\n1 投诉\n2 咨询\n3 求助\n4 建议\n5 举报\n" + EXIT_HINT
ASK_CATEGORY = "请选择事项分类（可选），回复数字；不清楚请回复“跳过”，由话务员确定：\n{choices}\n" + EXIT_HINT
ASK_CONTENT = "请描述具体情况（时间、地点、事情经过），如“建设路12号工地每天夜里施工到凌晨，噪音很大”。" + EXIT_HINT
TOO_SHORT = "内容太短，请写明具体情况（时间、地点、事情经过）。" + EXIT_HINT
TOO_LONG = f"内容太长，请精简到{MAX_CONTENT}字以内。" + EXIT_HINT
ASK_PLACE = "请告诉我们事情发生的地点（如“雁江区建设路12号”），也可以发送位置；不便提供请回复“跳过”。" + EXIT_HINT
ASK_PHONE = "请留下手机号，便于办理人员联系您、并以短信接收提取码；不便提供请回复“跳过”。" + EXIT_HINT
BAD_PHONE = "手机号应为11位数字，如13812345678；不便提供请回复“跳过”。" + EXIT_HINT
ASK_NUMBER_AND_CODE = "请回复“工单号 提取码”（以空格分隔），如“5120002509260001 ABC123”。" + EXIT_HINT
ASK_RATING = "请评价工单{number}的答复，回复数字：\n1 满意\n2 基本满意\n3 不满意\n" + EXIT_HINT
LEFT = "已退出。"
GAVE_UP = "未能识别您的回复，已退出本次办理。"


@dataclass(frozen=True)
class State:
    step: Step
    at: datetime  # the follower's last message: the state expires `dialogue_minutes` after it
    kind: RequestType | None = None
    content: str = ""
    place: str | None = None
    phone: str | None = None
    number: str = ""
    code: str = ""
    tries: int = 0  # answers in a row that did not fit this step
    category: str | None = None  # a category code the follower chose (optional), and its name
    category_name: str = ""
    photos: tuple[str, ...] = ()  # WeChat MediaIds of pictures sent before confirming: attached once registered


# The categories a follower may choose from: (code, Chinese name), in the order listed.
Categories = tuple[tuple[str, str], ...]


def ask_category(categories: Categories) -> str:
    return ASK_CATEGORY.format(choices="\n".join(f"{i} {name}" for i, (_, name) in enumerate(categories, 1)))


@dataclass(frozen=True)
class Turn:
    state: State | None  # what the dialogue holds now (the door acts on it); None: nothing
    say: str  # what to answer (the door adds the menu where it says `menu`)
    do: Do = "none"
    menu: bool = False  # follow `say` with the menu (after leaving or giving up)
    over: bool = False  # the dialogue ends with this turn
    rating: Satisfaction | None = None


def start(what: Start, now: datetime) -> Turn:
    if what == "report":
        return Turn(State("kind", now), ASK_KIND)
    if what == "query":
        return Turn(State("query", now), ASK_NUMBER_AND_CODE)
    if what == "rate":
        return Turn(State("rate_code", now), ASK_NUMBER_AND_CODE)
    return Turn(None, "", do="mine", over=True)


def confirmation(state: State) -> str:
    assert state.kind is not None
    phone = f"{state.phone[:3]}****{state.phone[-4:]}" if state.phone else "未提供"
    content = state.content if len(state.content) <= 120 else state.content[:120] + "…"
    category = f"分类：{state.category_name}\n" if state.category else ""
    photos = f"图片：{len(state.photos)}张\n" if state.photos else ""
    place = state.place or "未提供"
    return f"请确认您的诉求：\n类型：{KIND_WORDS[state.kind]}\n{category}内容：{content}\n地点：{place}\n手机：{phone}\n{photos}回复“1”提交，回复“0”取消。"


def step(state: State, text: str, now: datetime, phone_in_content: str | None = None, categories: Categories = ()) -> Turn:
    """The next turn of the dialogue for what the follower wrote (`text`, stripped); with no
    `categories` the category is not asked (the agent sets it)."""
    if text in EXIT:
        return Turn(None, LEFT, menu=True, over=True)
    moved = replace(state, at=now, tries=0)
    if state.step == "kind":
        kind = KIND_CHOICES.get(text)
        if kind is None:
            return _again(state, now, ASK_KIND)
        if categories:
            return Turn(replace(moved, step="category", kind=kind), ask_category(categories))
        return Turn(replace(moved, step="content", kind=kind), ASK_CONTENT)
    if state.step == "category":
        if text in SKIP:
            return Turn(replace(moved, step="content", category=None, category_name=""), ASK_CONTENT)
        if text.isdigit() and 1 <= int(text) <= len(categories):
            code, name = categories[int(text) - 1]
            return Turn(replace(moved, step="content", category=code, category_name=name), ASK_CONTENT)
        return _again(state, now, ask_category(categories))
    if state.step == "content":
        if len(text) < MIN_CONTENT:
            return _again(state, now, TOO_SHORT)
        if len(text) > MAX_CONTENT:
            return _again(state, now, TOO_LONG)
        return Turn(replace(moved, step="place", content=text, phone=phone_in_content), ASK_PLACE)
    if state.step == "place":
        if len(text) > MAX_PLACE:
            return _again(state, now, ASK_PLACE)
        placed = replace(moved, place=None if text in SKIP or not text else text)
        if placed.phone:  # given in the content already: not asked again
            return Turn(replace(placed, step="confirm"), confirmation(placed))
        return Turn(replace(placed, step="phone"), ASK_PHONE)
    if state.step == "phone":
        found = MOBILE_ONLY.match(text.replace(" ", "").replace("-", ""))
        if text not in SKIP and found is None:
            return _again(state, now, BAD_PHONE)
        confirmed = replace(moved, step="confirm", phone=found.group(1) if found else None)
        return Turn(confirmed, confirmation(confirmed))
    if state.step == "confirm":
        if text in YES:
            return Turn(moved, "", do="register", over=True)
        return _again(state, now, confirmation(state))
    if state.step in ("query", "rate_code"):
        found = NUMBER_AND_CODE.match(text)
        if found is None:
            return _again(state, now, ASK_NUMBER_AND_CODE)
        given = replace(moved, number=found.group(1), code=found.group(2).upper())
        if state.step == "query":
            return Turn(given, "", do="query", over=True)
        return Turn(given, "", do="check_for_rating")
    # rate_choice
    if text not in RATING_CHOICES:
        return _again(state, now, ASK_RATING.format(number=state.number))
    return Turn(moved, "", do="rate", over=True, rating=RATING_CHOICES[text])


def _again(state: State, now: datetime, ask: str) -> Turn:
    if state.tries + 1 >= MAX_TRIES:
        return Turn(None, GAVE_UP, menu=True, over=True)
    return Turn(replace(state, at=now, tries=state.tries + 1), ask)
