"""Domain events: what happened to a case, recorded by the transition, delivered by the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

# One event type per action, in the past tense; adapters map these to their peers' words.
EVENT_TYPES: dict[str, str] = {
    "register": "case.registered",
    "accept": "case.accepted",
    "answer_directly": "case.answered",
    "reject": "case.rejected",
    "transfer_emergency": "case.transferred",
    "dispatch": "case.dispatched",
    "redispatch": "case.redispatched",
    "sign_off": "case.signed_off",
    "request_return": "case.return_requested",
    "decide_return": "case.return_decided",
    "request_extension": "case.extension_requested",
    "decide_extension": "case.extension_decided",
    "report_progress": "case.progress_reported",
    "reply": "case.replied",
    "review_reply": "case.reply_reviewed",
    "follow_up": "case.followed_up",
    "redo": "case.redo",
    "close": "case.closed",
    "archive": "case.archived",
    "merge": "case.merged",
    "supervise": "case.supervised",
    "chase": "case.chased",
    "warn": "case.warned",
    "mark_overdue": "case.overdue",
    "correct": "case.corrected",
    "clear_supervision": "case.supervision_cleared",
    "request_unreasonable": "case.unreasonable_requested",
    "decide_unreasonable": "case.unreasonable_decided",
    "appeal_assessment": "case.assessment_appealed",
    "decide_appeal": "case.appeal_decided",
    # Not a lifecycle action (Engine.attach): a photo or document added to the case.
    "attach": "case.attachment_added",
    "sign_off_part": "case.part_signed_off",
    "reply_part": "case.part_replied",
    "waive_part": "case.part_waived",
    "forward": "case.forwarded",
    "sign_off_forward": "case.forward_signed_off",
    "reply_forward": "case.forward_replied",
    "return_forward": "case.forward_returned",
    "request_forward_extension": "case.forward_extension_requested",
    "decide_forward_extension": "case.forward_extension_decided",
}


class DomainEvent(BaseModel):
    type: str
    case_number: str
    case_version: int
    occurred_at: datetime
    actor: str
    role: str
    state: str
    data: dict[str, Any] = Field(default_factory=dict)
