"""What a caller asks the engine to do: one typed command per action.

The API exposes these as a discriminated union on `action`, so every payload is
validated before the engine sees it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from hub.domain.model import Place, RequestType, Satisfaction, Urgency, within_service_years

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]  # never blank
Note = Annotated[str | None, Field(default=None, max_length=2000)]
UnitCode = Annotated[str, Field(min_length=1, max_length=32)]


class RejectReason(StrEnum):
    """不予受理: matters with their own legal channel, or that 12345 must not handle."""

    LITIGATION = "litigation"  # 诉讼
    ARBITRATION = "arbitration"  # 仲裁
    DISCIPLINE = "discipline"  # 纪检监察
    RECONSIDERATION = "reconsideration"  # 行政复议
    PETITION = "petition"  # 已进入信访程序
    SECRET = "secret"  # 涉密
    PRIVACY = "privacy"  # 个人隐私
    OTHER = "other"


class EmergencyLine(StrEnum):
    POLICE = "110"
    FIRE = "119"
    AMBULANCE = "120"
    TRAFFIC = "122"


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Note = None


class Accept(_Command):
    action: Literal["accept"] = "accept"


class AnswerDirectly(_Command):
    action: Literal["answer_directly"] = "answer_directly"
    answer: Text
    articles: list[Annotated[str, Field(max_length=80)]] = Field(
        default_factory=list, max_length=20, description="Knowledge-base articles used, as 'id@version'."
    )


class Reject(_Command):
    action: Literal["reject"] = "reject"
    reason_code: RejectReason
    reason: Text


class TransferEmergency(_Command):
    action: Literal["transfer_emergency"] = "transfer_emergency"
    line: EmergencyLine


class Dispatch(_Command):
    action: Literal["dispatch"] = "dispatch"
    lead_unit: UnitCode
    co_units: list[UnitCode] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _lead_not_co(self) -> Dispatch:
        if self.lead_unit in self.co_units:
            raise ValueError("the lead unit cannot also be a co-handling unit")
        if len(set(self.co_units)) != len(self.co_units):
            raise ValueError("co_units repeats a unit")
        return self


class Redispatch(Dispatch):
    action: Literal["redispatch"] = "redispatch"  # type: ignore[assignment]


class SignOff(_Command):
    action: Literal["sign_off"] = "sign_off"


class RequestReturn(_Command):
    action: Literal["request_return"] = "request_return"
    reason: Text


class DecideReturn(_Command):
    action: Literal["decide_return"] = "decide_return"
    approved: bool


class RequestExtension(_Command):
    action: Literal["request_extension"] = "request_extension"
    working_days: int = Field(ge=1, le=90)
    reason: Text


class DecideExtension(_Command):
    action: Literal["decide_extension"] = "decide_extension"
    approved: bool
    working_days: int | None = Field(default=None, ge=1, le=90, description="Grant fewer days than asked.")


class ReportProgress(_Command):
    action: Literal["report_progress"] = "report_progress"
    text: Text


class ReplyCmd(_Command):
    action: Literal["reply"] = "reply"
    text: Text


class ReviewReply(_Command):
    action: Literal["review_reply"] = "review_reply"
    approved: bool


class FollowUpCmd(_Command):
    action: Literal["follow_up"] = "follow_up"
    reached: bool
    resolved: bool | None = None
    satisfaction: Satisfaction | None = None

    @model_validator(mode="after")
    def _reached_needs_answers(self) -> FollowUpCmd:
        if self.reached and (self.resolved is None or self.satisfaction is None):
            raise ValueError("a reached follow-up records both resolved and satisfaction")
        if not self.reached and (self.resolved is not None or self.satisfaction is not None):
            raise ValueError("an unreached follow-up records neither resolved nor satisfaction")
        return self


class Redo(_Command):
    action: Literal["redo"] = "redo"


class Close(_Command):
    action: Literal["close"] = "close"


class Archive(_Command):
    action: Literal["archive"] = "archive"


class Merge(_Command):
    action: Literal["merge"] = "merge"
    into: Annotated[str, Field(min_length=1, max_length=40, description="The case number this one duplicates.")]


def _aware(value: datetime | None) -> datetime | None:
    # A naive time would be read in the server's zone: refuse it rather than guess.
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError("needs a timezone, e.g. 2025-10-09T17:00:00+08:00")
    return value if value is None else within_service_years(value)


class Supervise(_Command):
    action: Literal["supervise"] = "supervise"
    reason: Text
    response_due: datetime | None = Field(default=None, description="When the unit must answer the supervision.")

    @field_validator("response_due")
    @classmethod
    def _response_due_aware(cls, value: datetime | None) -> datetime | None:
        return _aware(value)


class Chase(_Command):
    action: Literal["chase"] = "chase"
    reason: Text | None = None
    response_due: datetime | None = Field(default=None, description="When the unit must answer the chase.")

    @field_validator("response_due")
    @classmethod
    def _response_due_aware(cls, value: datetime | None) -> datetime | None:
        return _aware(value)


# The fields a correction (改单) may change, in the order the history lists them.
CORRECTABLE = ("request_type", "category_code", "place", "urgency", "title", "content")


class Correct(_Command):
    """改单: correct what intake got wrong. Only the fields given change; the rest stay.

    Before dispatch the centre corrects freely; once dispatched, only a supervisor may, and
    with a reason. A new type or urgency recounts the running deadlines from the original
    dispatch (docs/deadlines.md, "Corrections")."""

    action: Literal["correct"] = "correct"
    reason: Text | None = Field(default=None, description="Why the case is corrected; required once dispatched.")
    request_type: RequestType | None = None
    category_code: Annotated[str | None, Field(default=None, min_length=1, max_length=32)] = None
    place: Place | None = Field(default=None, description="The whole place as it should be (division code, address, position).")
    urgency: Urgency | None = None
    # Never blank, as at intake (CaseDraft): spaces alone are no title or content.
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None
    content: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] | None = None

    @model_validator(mode="after")
    def _something_to_correct(self) -> Correct:
        if all(getattr(self, f) is None for f in CORRECTABLE):
            raise ValueError("a correction names at least one of: " + ", ".join(CORRECTABLE))
        return self


class ClearSupervision(_Command):
    """解除督办: the supervision is lifted (answered, or raised in error); the reason is kept."""

    action: Literal["clear_supervision"] = "clear_supervision"
    reason: Text


class RequestUnreasonable(_Command):
    """不合理诉求: the lead unit applies to have the request judged unreasonable."""

    action: Literal["request_unreasonable"] = "request_unreasonable"
    reason: Text


class DecideUnreasonable(_Command):
    """The centre's decision on a 不合理诉求 application; approved cases leave 满意率 and 解决率."""

    action: Literal["decide_unreasonable"] = "decide_unreasonable"
    approved: bool


class AppealGrounds(StrEnum):
    """What a 考核申诉 contests: an outcome the assessment holds against the unit."""

    OVERDUE = "overdue"  # 超期: replied after the completion deadline
    UNSATISFIED = "unsatisfied"  # 不满意 or unresolved at the follow-up


class AppealAssessment(_Command):
    """考核申诉: the lead unit contests an outcome of its handling, with a reason."""

    action: Literal["appeal_assessment"] = "appeal_assessment"
    grounds: AppealGrounds
    reason: Text


class DecideAppeal(_Command):
    """A supervisor upholds or refuses the pending 考核申诉; an upheld appeal changes the
    figures (docs/supervision.md)."""

    action: Literal["decide_appeal"] = "decide_appeal"
    upheld: bool


class SignOffPart(_Command):
    """协办: a co-unit signs off its part (the lead signs off the case with sign_off)."""

    action: Literal["sign_off_part"] = "sign_off_part"
    unit: UnitCode | None = Field(
        default=None, description="The co-unit whose part; a unit's key may leave it out (its own), a county names the unit of its own that co-handles."
    )


class ReplyPart(_Command):
    """协办: a co-unit replies its part to the lead; the lead's reply is the case's."""

    action: Literal["reply_part"] = "reply_part"
    unit: UnitCode | None = Field(default=None, description="As for sign_off_part.")
    text: Text


class WaivePart(_Command):
    """The centre releases a co-unit from its part (a wrong co-unit, or the lead can answer
    without it), so the lead may reply without it."""

    action: Literal["waive_part"] = "waive_part"
    unit: UnitCode = Field(description="The co-unit whose part is waived.")
    reason: Text


class Forward(_Command):
    """二次派单: the county-level lead dispatches the case on to one of its township units."""

    action: Literal["forward"] = "forward"
    unit: UnitCode = Field(description="The township unit (乡镇/街道) of the lead's county.")
    due_at: datetime = Field(description="The township's completion deadline: after now, at or before the case's own.")

    @field_validator("due_at")
    @classmethod
    def _due_aware(cls, value: datetime) -> datetime:
        return _aware(value)  # type: ignore[return-value]


class SignOffForward(_Command):
    """The township signs off the case dispatched on to it."""

    action: Literal["sign_off_forward"] = "sign_off_forward"


class ReplyForward(_Command):
    """The township replies up to its county; the county replies the case (reply)."""

    action: Literal["reply_forward"] = "reply_forward"
    text: Text


class ReturnForward(_Command):
    """The township gives the case back up to its county, which holds it again."""

    action: Literal["return_forward"] = "return_forward"
    reason: Text


class RequestForwardExtension(_Command):
    """The township asks its county for more time."""

    action: Literal["request_forward_extension"] = "request_forward_extension"
    working_days: int = Field(ge=1, le=90)
    reason: Text


class DecideForwardExtension(_Command):
    """The county decides its township's extension, inside its own deadline (beyond it, the
    county first asks the centre: request_extension)."""

    action: Literal["decide_forward_extension"] = "decide_forward_extension"
    approved: bool
    working_days: int | None = Field(default=None, ge=1, le=90, description="Grant fewer days than asked.")


class Deadline(StrEnum):
    """Which time limit a warning or an overdue mark is about."""

    SIGN_OFF = "sign_off"  # 签收时限
    COMPLETION = "completion"  # 办结时限 (approved extensions included)


class Warn(_Command):
    """预警: the scheduler, once the configured share of a time limit has passed."""

    action: Literal["warn"] = "warn"
    deadline: Deadline


class MarkOverdue(_Command):
    """超期: the scheduler, once a time limit has passed with nothing done."""

    action: Literal["mark_overdue"] = "mark_overdue"
    deadline: Deadline


Command = Annotated[
    Accept
    | AnswerDirectly
    | Reject
    | TransferEmergency
    | Dispatch
    | Redispatch
    | SignOff
    | RequestReturn
    | DecideReturn
    | RequestExtension
    | DecideExtension
    | ReportProgress
    | ReplyCmd
    | ReviewReply
    | FollowUpCmd
    | Redo
    | Close
    | Archive
    | Merge
    | Supervise
    | Chase
    | Warn
    | MarkOverdue
    | Correct
    | ClearSupervision
    | RequestUnreasonable
    | DecideUnreasonable
    | AppealAssessment
    | DecideAppeal
    | SignOffPart
    | ReplyPart
    | WaivePart
    | Forward
    | SignOffForward
    | ReplyForward
    | ReturnForward
    | RequestForwardExtension
    | DecideForwardExtension,
    Field(discriminator="action"),
]
