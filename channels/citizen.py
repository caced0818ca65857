"""The citizen view: a case as the person who filed it may read it, on a channel or with the
retrieval code. State in plain Chinese, the public timeline, the reply once the centre
approved it. Never: unit staff, internal notes, supervision, other people's data; the phone
masked, no name (a lookup with a code proves the code, not who holds it)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from hub.api.attachments import PublicAttachment
from hub.domain.access import mask_phone
from hub.domain.model import Case, CaseState, HistoryEntry, RequestType

# Each state as the citizen reads it. The states in which a unit holds the case read alike:
# a refused reply, a return or an extension are the centre's business with the unit.
STATE_TEXT: dict[CaseState, str] = {
    CaseState.REGISTERED: "已登记，等待受理",
    CaseState.ACCEPTED: "已受理，正在安排办理",
    CaseState.REJECTED: "不予受理",
    CaseState.TRANSFERRED: "已转紧急热线处理",
    CaseState.AWAITING_SIGN_OFF: "办理中",
    CaseState.IN_PROGRESS: "办理中",
    CaseState.RETURN_REQUESTED: "办理中",
    CaseState.RETURNED: "办理中",
    CaseState.REPLIED: "办理中",  # the unit's reply is not the citizen's until the centre approves it
    CaseState.AWAITING_FOLLOW_UP: "已答复，待回访",
    CaseState.REDO_REQUIRED: "重新办理中",
    CaseState.CLOSED: "已办结",
    CaseState.ARCHIVED: "已办结",
    CaseState.MERGED: "已与同一诉求的工单合并办理",
}

TYPE_TEXT: dict[RequestType, str] = {
    RequestType.ENQUIRY: "咨询",
    RequestType.HELP: "求助",
    RequestType.COMPLAINT: "投诉",
    RequestType.REPORT: "举报",
    RequestType.SUGGESTION: "建议",
    RequestType.PRAISE: "表扬",
    RequestType.OTHER: "其他",
}

# The public timeline: which history lines the citizen sees, and how each reads. A line whose
# action is not here is internal (supervision, chasing, warnings, corrections, returns,
# extensions, 不合理诉求, a unit's reply before review, a refused review). An entry maps an
# action to its text, or to {outcome flag: text} where only one outcome is public.
PUBLIC_EVENTS: dict[str, str | dict[bool, str]] = {
    "register": "诉求已登记",
    "accept": "诉求已受理",
    "reject": "不予受理",
    "transfer_emergency": "已转紧急热线处理",
    "answer_directly": "已答复",
    "dispatch": "已交承办单位办理",
    "redispatch": "已交承办单位办理",
    "sign_off": "承办单位已签收",
    "review_reply": {True: "已答复"},  # approved only
    "follow_up": "已回访",
    "redo": "重新办理",
    "close": "已办结",
    "merge": "已与同一诉求的工单合并办理",
    "attach": {True: "已添加附件"},  # public attachments only (data.visibility)
}


class TimelineItem(BaseModel):
    at: datetime
    text: str


class CitizenReply(BaseModel):
    text: str
    at: datetime


class Evaluation(BaseModel):
    open: bool = Field(description="The citizen may rate the reply now.")
    until: datetime | None = Field(default=None, description="Rating is open until then.")
    satisfaction: str | None = Field(default=None, description="The rating given (满意, 基本满意, 不满意), once given.")


class CitizenView(BaseModel):
    number: str
    status: str = Field(description="The state in plain Chinese.")
    request_type: str
    title: str
    received_at: datetime
    phone: str | None = Field(description="The caller's phone, masked (138****8000).")
    timeline: list[TimelineItem]
    reply: CitizenReply | None = Field(description="The answer, once the centre approved it.")
    evaluation: Evaluation
    attachments: list[PublicAttachment] = Field(
        default_factory=list, description="The case's public photos and documents (the citizen's own and those the centre or the unit made public)."
    )


SATISFACTION_TEXT = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}


def public_text(entry: HistoryEntry) -> str | None:
    rule = PUBLIC_EVENTS.get(entry.action)
    if isinstance(rule, dict):
        flag = entry.data.get("visibility") == "public" if entry.action == "attach" else entry.data.get("approved")
        return rule.get(bool(flag))
    return rule


def approved_reply(case: Case) -> CitizenReply | None:
    reply = case.outcome.reply
    if reply is not None and reply.approved and reply.reviewed_at is not None:
        return CitizenReply(text=reply.text, at=reply.reviewed_at)
    if case.outcome.direct_answer:
        answered = next((h.at for h in reversed(case.history) if h.action == "answer_directly"), case.updated_at)
        return CitizenReply(text=case.outcome.direct_answer, at=answered)
    return None


def evaluation_until(case: Case, window_days: int) -> datetime | None:
    """The end of the rating window: `window_days` after the answer the citizen may rate."""
    reply = approved_reply(case)
    return reply.at + timedelta(days=window_days) if reply is not None else None


def citizen_view(case: Case, now: datetime, window_days: int, attachments: list[PublicAttachment] | None = None) -> CitizenView:
    timeline = [TimelineItem(at=h.at, text=t) for h in case.history if (t := public_text(h)) is not None]
    until = evaluation_until(case, window_days)
    given = next((f for f in reversed(case.outcome.follow_ups) if f.reached and f.satisfaction), None)
    open_ = case.state is CaseState.AWAITING_FOLLOW_UP and until is not None and now <= until
    return CitizenView(
        number=case.number,
        status=STATE_TEXT[case.state],
        request_type=TYPE_TEXT[case.request_type],
        title=case.title,
        received_at=case.intake.received_at,
        phone=mask_phone(case.person.phone),
        timeline=timeline,
        reply=approved_reply(case),
        evaluation=Evaluation(
            open=open_,
            until=until if case.state is CaseState.AWAITING_FOLLOW_UP else None,
            satisfaction=SATISFACTION_TEXT[given.satisfaction.value] if given and given.satisfaction else None,
        ),
        attachments=list(attachments or []),
    )
