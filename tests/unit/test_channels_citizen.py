"""The citizen view's rules (#17), written out by hand: which history lines are public and how
each reads, the state in plain Chinese, and the SMS templates' checks at start."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from channels.citizen import STATE_TEXT, public_text
from channels.sms import load_templates, mobile
from hub.domain.lifecycle import Action
from hub.domain.model import CaseState, HistoryEntry, Role
from hub.mappings.loader import MappingError
from hub.settings import REPO_ROOT

AT = datetime(2025, 9, 26, 10, 0).astimezone()

# Every action of the lifecycle, and what the citizen reads of it (None: internal, not shown).
PUBLIC = {
    "register": "诉求已登记",
    "accept": "诉求已受理",
    "answer_directly": "已答复",
    "reject": "不予受理",
    "transfer_emergency": "已转紧急热线处理",
    "dispatch": "已交承办单位办理",
    "sign_off": "承办单位已签收",
    "request_return": None,
    "decide_return": None,
    "redispatch": "已交承办单位办理",
    "request_extension": None,
    "decide_extension": None,
    "report_progress": None,
    "reply": None,
    "follow_up": "已回访",
    "redo": "重新办理",
    "close": "已办结",
    "archive": None,
    "merge": "已与同一诉求的工单合并办理",
    "supervise": None,
    "chase": None,
    "warn": None,
    "mark_overdue": None,
    "correct": None,
    "clear_supervision": None,
    "request_unreasonable": None,
    "decide_unreasonable": None,
    "appeal_assessment": None,
    "decide_appeal": None,  # 考核申诉: between unit and centre
    "sign_off_part": None,
    "reply_part": None,
    "waive_part": None,  # 协办: between the units and the centre
    "forward": None,
    "sign_off_forward": None,
    "reply_forward": None,
    "return_forward": None,  # 二次派单: inside a county
    "request_forward_extension": None,
    "decide_forward_extension": None,
}


def line(action: str, **data) -> HistoryEntry:
    return HistoryEntry(seq=2, at=AT, actor="x", role=Role.AGENT, action=action, from_state=None, to_state=CaseState.ACCEPTED, data=data)


def test_every_action_is_decided_public_or_internal() -> None:
    assert set(PUBLIC) | {"review_reply"} == {a.value for a in Action}
    assert {a: public_text(line(a)) for a in PUBLIC} == PUBLIC


def test_a_reviewed_reply_is_public_only_when_approved() -> None:
    assert public_text(line("review_reply", approved=True)) == "已答复"
    assert public_text(line("review_reply", approved=False)) is None


def test_an_attachment_is_public_only_when_made_public() -> None:
    # 附件 (not a lifecycle action): the citizen reads that a file was added when it may see the file.
    assert public_text(line("attach", visibility="public")) == "已添加附件"
    assert public_text(line("attach", visibility="internal")) is None


def test_states_in_plain_chinese() -> None:
    assert STATE_TEXT == {
        CaseState.REGISTERED: "已登记，等待受理",
        CaseState.ACCEPTED: "已受理，正在安排办理",
        CaseState.REJECTED: "不予受理",
        CaseState.TRANSFERRED: "已转紧急热线处理",
        CaseState.AWAITING_SIGN_OFF: "办理中",
        CaseState.IN_PROGRESS: "办理中",
        CaseState.RETURN_REQUESTED: "办理中",
        CaseState.RETURNED: "办理中",
        CaseState.REPLIED: "办理中",
        CaseState.AWAITING_FOLLOW_UP: "已答复，待回访",
        CaseState.REDO_REQUIRED: "重新办理中",
        CaseState.CLOSED: "已办结",
        CaseState.ARCHIVED: "已办结",
        CaseState.MERGED: "已与同一诉求的工单合并办理",
    }


def test_only_mobiles_get_sms() -> None:
    assert mobile("13800138000") == "13800138000"
    assert mobile("+86 13800138000") == "13800138000"
    assert mobile("028-12345678") is None and mobile("12345") is None and mobile(None) is None


def test_the_shipped_templates_load() -> None:
    templates = load_templates(REPO_ROOT / "mappings")
    assert templates.text("closed", number="N1") == "【资阳12345】您的工单N1已办结，感谢您对12345热线的支持。"


@pytest.mark.parametrize(
    ("body", "line_no", "reason"),
    [
        ("sign: x\ntemplates:\n  - event: registered\n    text: '{number} {phone}'\n", 3, "unknown placeholder"),
        ("sign: x\ntemplates:\n  - event: registered\n    text: '{number} {code}'\n", 2, "no template for"),
        ("sign: x\ntemplates:\n  - event: nonsense\n    text: 'a'\n", 3, "registered"),
    ],
)
def test_a_bad_template_file_names_the_line_and_why(tmp_path: Path, body: str, line_no: int, reason: str) -> None:
    (tmp_path / "channels").mkdir()
    (tmp_path / "channels" / "sms_templates.yaml").write_text(body, encoding="utf-8")
    with pytest.raises(MappingError) as refused:
        load_templates(tmp_path)
    assert refused.value.file.endswith("sms_templates.yaml")
    assert reason in str(refused.value)
    assert refused.value.line is not None and refused.value.line >= line_no
