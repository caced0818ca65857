"""Sign-off and completion deadlines (时限) for a case.

The limits vary by place and are revised, so they are configuration (TimeLimits) with
Sichuan's 2025 rules as defaults (DOMAIN.md "Time limits").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.domain.calendar import WorkingCalendar
from hub.domain.model import DeadlineBasis, RequestType, Urgency

# A limit beyond this many working days (about four months) is a typo, not a rule.
_MAX_WORKING_DAYS = 90


def _default_working_days() -> dict[RequestType, int]:
    return {
        RequestType.ENQUIRY: 3,  # 咨询
        RequestType.HELP: 7,  # 求助
        RequestType.SUGGESTION: 7,  # 建议
        RequestType.COMPLAINT: 15,  # 投诉
        RequestType.REPORT: 15,  # 举报
        RequestType.PRAISE: 7,  # 表扬
        RequestType.OTHER: 7,  # 其他
    }


class UrgentLimit(BaseModel):
    """Natural hours from acceptance for an urgent case."""

    model_config = ConfigDict(extra="forbid")

    sign_off_hours: float = Field(gt=0)
    complete_hours: float = Field(gt=0)

    @model_validator(mode="after")
    def _sign_off_first(self) -> UrgentLimit:
        if self.sign_off_hours > self.complete_hours:
            raise ValueError("sign-off cannot be due after completion")
        return self


def _default_urgent_hours() -> dict[Urgency, UrgentLimit]:
    return {
        Urgency.URGENT: UrgentLimit(sign_off_hours=2, complete_hours=24),  # 紧急
        Urgency.CRITICAL: UrgentLimit(sign_off_hours=1, complete_hours=4),  # 特急
    }


class TimeLimits(BaseModel):
    # extra="forbid": a misspelt key in the settings file must fail, not fall back to a default.
    model_config = ConfigDict(extra="forbid")

    working_days: dict[RequestType, int] = Field(default_factory=_default_working_days)
    sign_off_working_days: int = Field(default=1, ge=1, le=_MAX_WORKING_DAYS)
    urgent_hours: dict[Urgency, UrgentLimit] = Field(default_factory=_default_urgent_hours)
    max_extension_working_days: int = Field(default=15, ge=0, le=_MAX_WORKING_DAYS)
    # 协办: a co-unit's part is due this many working days before the case, so the lead has
    # them to write the case's reply (never less than one working day after dispatch).
    part_lead_working_days: int = Field(default=2, ge=0, le=_MAX_WORKING_DAYS)
    # Share of the time limit after which a case is warned (预警).
    warning_share: float = Field(default=0.8, gt=0, lt=1)

    @field_validator("working_days")
    @classmethod
    def _every_type_limited(cls, value: dict[RequestType, int]) -> dict[RequestType, int]:
        # A type without a limit would have no deadline at all: refuse the configuration.
        missing = [t.value for t in RequestType if t not in value]
        if missing:
            raise ValueError(f"working days missing for request types: {', '.join(missing)}")
        bad = {t.value: n for t, n in value.items() if not 1 <= n <= _MAX_WORKING_DAYS}
        if bad:
            raise ValueError(f"working days must be 1..{_MAX_WORKING_DAYS}: {bad}")
        return value

    @field_validator("urgent_hours")
    @classmethod
    def _urgent_levels_only(cls, value: dict[Urgency, UrgentLimit]) -> dict[Urgency, UrgentLimit]:
        needed = {Urgency.URGENT, Urgency.CRITICAL}
        if set(value) != needed:
            # NORMAL runs on working days; an hour limit for it would be silently ignored.
            raise ValueError("urgent_hours needs exactly the levels 'urgent' and 'critical'")
        return value


@dataclass(frozen=True)
class Deadlines:
    sign_off_due: datetime
    due_at: datetime
    # How each was counted in working days; None for deadlines on the clock (urgent).
    sign_off_basis: DeadlineBasis | None = None
    due_basis: DeadlineBasis | None = None

    @property
    def provisional(self) -> bool:
        return any(b is not None and b.provisional for b in (self.sign_off_basis, self.due_basis))


def compute_deadlines(
    calendar: WorkingCalendar,
    limits: TimeLimits,
    request_type: RequestType,
    urgency: Urgency,
    start: datetime,
) -> Deadlines:
    if urgency is Urgency.NORMAL:
        sign_off = count_basis(calendar, start, limits.sign_off_working_days)
        due = count_basis(calendar, start, limits.working_days[request_type])
        return Deadlines(sign_off_due=sign_off[0], due_at=due[0], sign_off_basis=sign_off[1], due_basis=due[1])
    # Urgent cases (a burst main, a stranded person) run on the clock, holidays and nights
    # included: the harm does not wait for the next working day, so neither does the limit.
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("an aware start is needed")
    hours = limits.urgent_hours[urgency]
    # Add in UTC: elapsed hours, not wall-clock hours, whatever zone start came in.
    start_utc = start.astimezone(UTC)
    return Deadlines(
        sign_off_due=start_utc + timedelta(hours=hours.sign_off_hours),
        due_at=start_utc + timedelta(hours=hours.complete_hours),
    )


def part_deadlines(
    calendar: WorkingCalendar,
    limits: TimeLimits,
    request_type: RequestType,
    urgency: Urgency,
    start: datetime,
) -> Deadlines:
    """A co-unit's part (协办): signed off as the lead signs off the case; replied
    `part_lead_working_days` before the case is due, at least one working day after the
    start. An urgent case's part runs on the case's own clock: the hours are too few to split."""
    case = compute_deadlines(calendar, limits, request_type, urgency, start)
    if urgency is not Urgency.NORMAL:
        return case
    days = max(1, limits.working_days[request_type] - limits.part_lead_working_days)
    due = count_basis(calendar, start, days)
    return Deadlines(sign_off_due=case.sign_off_due, due_at=due[0], sign_off_basis=case.sign_off_basis, due_basis=due[1])


def count_basis(calendar: WorkingCalendar, start: datetime, working_days: int) -> tuple[datetime, DeadlineBasis]:
    """The deadline `working_days` after start, with the basis to count it again later."""
    counted = calendar.count(start, working_days)
    return counted.at, DeadlineBasis(counted_from=start, working_days=working_days, provisional=counted.provisional)


def recount(calendar: WorkingCalendar, basis: DeadlineBasis) -> tuple[datetime, DeadlineBasis]:
    """The same count on (another) calendar: what an imported year changes."""
    return count_basis(calendar, basis.counted_from, basis.working_days)


def extend_basis(calendar: WorkingCalendar, due_at: datetime, basis: DeadlineBasis | None, working_days: int) -> tuple[datetime, DeadlineBasis]:
    """延期 with its basis: `working_days` more on the count that gave due_at, or, for a
    deadline on the clock (no basis), counted after the current due day."""
    if basis is None:
        return count_basis(calendar, due_at, working_days)
    # The n-th working day after the start, extended by m, is the (n+m)-th: one count.
    return count_basis(calendar, basis.counted_from, basis.working_days + working_days)


def extend_deadline(calendar: WorkingCalendar, due_at: datetime, working_days: int) -> datetime:
    """延期: the end (local) of the `working_days`-th working day after the current due day.

    Whether the extension is allowed (max_extension_working_days, approval) is the engine's
    decision; this only does the arithmetic.
    """
    return calendar.add_working_days(due_at, working_days)


def warning_at(start: datetime, due_at: datetime, share: float) -> datetime:
    """When a case is warned (预警): after `share` of its time limit has passed."""
    if not 0 < share < 1:
        raise ValueError(f"warning share must be between 0 and 1, got {share}")
    # In UTC so the result is elapsed time, consistent with the deadlines themselves.
    return start.astimezone(UTC) + (due_at - start) * share
