"""The canonical case (工单): the one shape every adapter maps to and from.

Field groups follow DOMAIN.md: identity with external references, intake, the person,
the request, the place, urgency, handling, outcome, links and an append-only history.

Over 400 lines on purpose: the canonical case is one model, its field groups in DOMAIN.md's order.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    computed_field,
    field_validator,
    model_validator,
)


class RequestType(StrEnum):
    """诉求类型 (GB/T 39666 uses the same seven)."""

    ENQUIRY = "enquiry"  # 咨询
    HELP = "help"  # 求助
    COMPLAINT = "complaint"  # 投诉
    REPORT = "report"  # 举报
    SUGGESTION = "suggestion"  # 建议
    PRAISE = "praise"  # 表扬
    OTHER = "other"  # 其他


class Urgency(StrEnum):
    NORMAL = "normal"  # 一般
    URGENT = "urgent"  # 紧急
    CRITICAL = "critical"  # 特急


class Channel(StrEnum):
    PHONE = "phone"
    WEB = "web"
    WECHAT = "wechat"
    WEIBO = "weibo"
    APP = "app"
    PROVINCE = "province"  # 省转办
    COUNTY = "county"  # pushed up by a county system
    LEGACY = "legacy"  # a department hotline's case
    OTHER = "other"


class PersonKind(StrEnum):
    PERSON = "person"
    ENTERPRISE = "enterprise"


class Satisfaction(StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    UNSATISFIED = "unsatisfied"  # 不满意


class CaseState(StrEnum):
    REGISTERED = "registered"  # 登记
    ACCEPTED = "accepted"  # 受理, waiting to be dispatched or answered
    REJECTED = "rejected"  # 不予受理
    TRANSFERRED = "transferred"  # 转紧急热线
    AWAITING_SIGN_OFF = "awaiting_sign_off"  # 待签收
    IN_PROGRESS = "in_progress"  # 签收 / 办理中
    RETURN_REQUESTED = "return_requested"  # 退回申请
    RETURNED = "returned"  # 退回 approved, waiting to be re-dispatched (改派)
    REPLIED = "replied"  # 已回复, the centre reviews it
    AWAITING_FOLLOW_UP = "awaiting_follow_up"  # 待回访
    REDO_REQUIRED = "redo_required"  # follow-up unsatisfied or unresolved, 待重办
    CLOSED = "closed"  # 办结
    ARCHIVED = "archived"  # 归档
    MERGED = "merged"  # 并单 into another case


class Role(StrEnum):
    AGENT = "agent"  # centre agent (话务员)
    SUPERVISOR = "supervisor"  # centre supervisor (班长 / 督办)
    UNIT = "unit"  # handling unit (承办单位)
    PROVINCE = "province"
    COUNTY = "county"
    SYSTEM = "system"  # the hub itself: scheduler, pollers, imports
    CHANNEL = "channel"  # a citizens' door (city portal, WeChat backend, app): registers and reads its own, as citizens see them


_PHONE = re.compile(r"^(\+?86[- ]?)?(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}(-\d{1,6})?|\d{5,8})$")


def normalise_phone(raw: str) -> str:
    """Mobile (11 digits from 1), landline with area code, or short service numbers."""
    value = raw.strip().replace(" ", "")
    if not _PHONE.match(value):
        raise ValueError("not a Chinese mobile, landline or service number")
    return value


class ExternalRef(BaseModel):
    """One external system's own id for the case: unique per system across all cases."""

    model_config = ConfigDict(frozen=True)

    system: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.:-]*$")]
    external_id: Annotated[str, Field(min_length=1, max_length=128)]


SERVICE_YEARS = (1970, 2199)


def within_service_years(value: datetime) -> datetime:
    """A time a client gives the hub lies in years the hub can compute with: year 1 or 9999
    overflows as soon as it is moved to UTC or a deadline is added."""
    if not SERVICE_YEARS[0] <= value.year <= SERVICE_YEARS[1]:
        raise ValueError(f"outside the years {SERVICE_YEARS[0]}-{SERVICE_YEARS[1]}")
    return value


class Intake(BaseModel):
    channel: Channel
    received_at: Annotated[datetime, AfterValidator(within_service_years)]
    agent: str | None = Field(default=None, max_length=64)
    call_id: str | None = Field(default=None, max_length=128, description="Call or recording id.")


class Person(BaseModel):
    """诉求人. Personal data: masked in logs and exports, shared only where it must be."""

    name: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    kind: PersonKind = PersonKind.PERSON
    anonymous: bool = False
    confidential: bool = Field(default=False, description="保密: only the centre sees the person.")

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None or value == "" else normalise_phone(value)

    @model_validator(mode="after")
    def _anonymous_has_no_identity(self) -> Person:
        if self.anonymous and (self.name or self.phone):
            raise ValueError("an anonymous person carries neither name nor phone")
        return self


class Place(BaseModel):
    address: str | None = Field(default=None, max_length=256)
    division_code: Annotated[str, Field(pattern=r"^\d{6}(\d{3}(\d{3})?)?$", description="GB/T 2260 code: 6, 9 or 12 digits.")]
    longitude: float | None = Field(default=None, ge=-180, le=180)
    latitude: float | None = Field(default=None, ge=-90, le=90)

    @property
    def county_code(self) -> str:
        return self.division_code[:6]


class ExtensionRecord(BaseModel):
    requested_at: datetime
    requested_by: str
    working_days: int = Field(description="Working days the unit asked for.")
    reason: str
    decided_at: datetime | None = None
    decided_by: str | None = None
    approved: bool | None = None
    granted_working_days: int | None = Field(default=None, description="Working days granted, once approved (at most those asked).")
    note: str | None = None


class ReturnRecord(BaseModel):
    requested_at: datetime
    requested_by: str
    unit_code: str
    reason: str
    from_state: CaseState
    decided_at: datetime | None = None
    decided_by: str | None = None
    approved: bool | None = None
    note: str | None = None


class Reply(BaseModel):
    text: str
    replied_at: datetime
    unit_code: str
    reviewed_at: datetime | None = None
    approved: bool | None = None
    review_note: str | None = None


class FollowUp(BaseModel):
    """回访."""

    at: datetime
    by: str
    reached: bool
    resolved: bool | None = None
    satisfaction: Satisfaction | None = None
    note: str | None = None

    @property
    def valid(self) -> bool:
        """A follow-up counts toward 满意率 and 解决率 only if the person was reached."""
        return self.reached and self.satisfaction is not None


class HistoryEntry(BaseModel):
    """One line of the append-only history: who did what, when, from which state to which."""

    seq: int
    at: datetime
    actor: str
    role: Role
    action: str
    from_state: CaseState | None
    to_state: CaseState
    note: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class Appeal(BaseModel):
    """考核申诉: a unit contests an outcome the assessment holds against it."""

    grounds: str  # commands.AppealGrounds: overdue | unsatisfied
    unit: str
    reason: str
    at: datetime
    upheld: bool | None = None  # None while pending
    decided_at: datetime | None = None


class Flags(BaseModel):
    """Flags beside the state, not states (DOMAIN.md)."""

    supervised: bool = False  # 督办
    chased: int = 0  # 催办 count
    warned: bool = False  # 预警
    overdue: bool = False  # 超期
    unreasonable: bool = False  # 不合理诉求, approved by the centre
    unreasonable_requested: bool = False  # a unit's 不合理诉求 application awaits the centre's decision
    appealed: bool = False  # a 考核申诉 awaits a supervisor's decision
    appeals: list[Appeal] = Field(default_factory=list)  # every 考核申诉, decided or pending


class DeadlineBasis(BaseModel):
    """How a deadline in working days was counted, kept so it can be counted again when the
    calendar of an unknown year is imported (hotline-hub calendar import)."""

    counted_from: datetime  # the working days are counted after this moment's local day
    working_days: int
    # An unknown day (a year neither published nor imported) was counted Mon-Fri, no holidays.
    provisional: bool = False


class PartState(StrEnum):
    AWAITING_SIGN_OFF = "awaiting_sign_off"  # the co-unit has not signed its part
    IN_PROGRESS = "in_progress"  # signed, not replied
    REPLIED = "replied"  # the co-unit replied its part to the lead
    WAIVED = "waived"  # the centre released the co-unit from its part


class Part(BaseModel):
    """协办: one co-unit's part of the case, with its own deadlines. The lead's reply is the
    case's and waits until every part is replied or waived (docs/supervision.md)."""

    unit_code: str
    sign_off_due: datetime | None = None
    due_at: datetime | None = None
    sign_off_basis: DeadlineBasis | None = None
    due_basis: DeadlineBasis | None = None
    signed_at: datetime | None = None
    reply: str | None = None
    replied_at: datetime | None = None
    waived_at: datetime | None = None
    waived_by: str | None = None
    waive_reason: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def state(self) -> PartState:
        if self.replied_at is not None:
            return PartState.REPLIED
        if self.waived_at is not None:
            return PartState.WAIVED
        return PartState.IN_PROGRESS if self.signed_at is not None else PartState.AWAITING_SIGN_OFF

    @property
    def done(self) -> bool:
        return self.state in (PartState.REPLIED, PartState.WAIVED)


class ForwardState(StrEnum):
    AWAITING_SIGN_OFF = "awaiting_sign_off"
    IN_PROGRESS = "in_progress"
    REPLIED = "replied"  # the township replied up to its county
    RETURNED = "returned"  # the township gave it back up to its county


class Forward(BaseModel):
    """二次派单: the county-level unit holding the case dispatches it on to one of its township
    units, with a deadline inside its own. The township signs off and replies up to the county;
    the county replies the case. Returns and extensions go back up the same way."""

    unit_code: str  # the township unit
    by_unit: str  # the county-level unit that dispatched it on (the lead)
    at: datetime
    sign_off_due: datetime
    due_at: datetime
    signed_at: datetime | None = None
    reply: str | None = None
    replied_at: datetime | None = None
    returned_at: datetime | None = None
    return_reason: str | None = None
    extensions: list[ExtensionRecord] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def state(self) -> ForwardState:
        if self.replied_at is not None:
            return ForwardState.REPLIED
        if self.returned_at is not None:
            return ForwardState.RETURNED
        return ForwardState.IN_PROGRESS if self.signed_at is not None else ForwardState.AWAITING_SIGN_OFF

    @property
    def open(self) -> bool:
        return self.replied_at is None and self.returned_at is None


class Handling(BaseModel):
    lead_unit: str | None = None  # 主办
    co_units: list[str] = Field(default_factory=list)  # 协办
    # One part per co-unit, from the dispatch that named it (none for cases dispatched before
    # parts were kept: their lead replies as before).
    parts: list[Part] = Field(default_factory=list)
    # 二次派单: the cascade below the lead, oldest first; at most one open at a time.
    cascade: list[Forward] = Field(default_factory=list)
    dispatched_at: datetime | None = None
    sign_off_due: datetime | None = None
    signed_at: datetime | None = None
    due_at: datetime | None = None  # completion deadline, extensions included
    # None for a deadline on the clock (urgent cases) or dispatched before bases were kept.
    sign_off_basis: DeadlineBasis | None = None
    due_basis: DeadlineBasis | None = None
    extensions: list[ExtensionRecord] = Field(default_factory=list)
    returns: list[ReturnRecord] = Field(default_factory=list)

    def part(self, unit_code: str) -> Part | None:
        return next((p for p in self.parts if p.unit_code == unit_code), None)

    @property
    def open_forward(self) -> Forward | None:
        return next((f for f in reversed(self.cascade) if f.open), None)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def holder(self) -> str | None:
        """Who holds the case now: the township it was dispatched on to, else the lead."""
        forward = self.open_forward
        return forward.unit_code if forward is not None else self.lead_unit


class Outcome(BaseModel):
    reply: Reply | None = None
    direct_answer: str | None = None
    rejection_reason: str | None = None
    transferred_to: str | None = None
    follow_ups: list[FollowUp] = Field(default_factory=list)
    closed_at: datetime | None = None
    archived_at: datetime | None = None
    redo_count: int = 0


class Links(BaseModel):
    merged_into: str | None = None
    merged_cases: list[str] = Field(default_factory=list)
    articles: list[str] = Field(default_factory=list)  # "article_id@version"
    attachments: list[str] = Field(default_factory=list)


class Case(BaseModel):
    """The aggregate. Changed only by the engine; every change appends history and events."""

    number: str
    version: int = 0
    state: CaseState
    external_refs: list[ExternalRef] = Field(default_factory=list)
    intake: Intake
    person: Person
    request_type: RequestType
    category_code: str
    title: str
    content: str
    place: Place
    urgency: Urgency = Urgency.NORMAL
    handling: Handling = Field(default_factory=Handling)
    outcome: Outcome = Field(default_factory=Outcome)
    flags: Flags = Field(default_factory=Flags)
    links: Links = Field(default_factory=Links)
    history: list[HistoryEntry] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime

    def external_id(self, system: str) -> str | None:
        for ref in self.external_refs:
            if ref.system == system:
                return ref.external_id
        return None

    @property
    def units(self) -> list[str]:
        lead = [self.handling.lead_unit] if self.handling.lead_unit else []
        co = [u for u in self.handling.co_units if u not in lead]
        # A township unit keeps seeing a case once it was dispatched on to it.
        down = [f.unit_code for f in self.handling.cascade]
        return lead + co + [u for i, u in enumerate(down) if u not in lead + co and u not in down[:i]]


class CaseDraft(BaseModel):
    """What intake (an agent, a channel, the province, a county) submits to register a case."""

    model_config = ConfigDict(extra="forbid")

    external_refs: list[ExternalRef] = Field(default_factory=list, max_length=10)
    intake: Intake
    person: Person
    request_type: RequestType
    category_code: Annotated[str, Field(min_length=1, max_length=32)]
    # Trimmed, and never blank: a case of spaces says nothing a unit could handle.
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    content: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    place: Place
    urgency: Urgency = Urgency.NORMAL

    @field_validator("external_refs")
    @classmethod
    def _one_ref_per_system(cls, refs: list[ExternalRef]) -> list[ExternalRef]:
        systems = [r.system for r in refs]
        if len(set(systems)) != len(systems):
            raise ValueError("one external reference per system")
        return refs
