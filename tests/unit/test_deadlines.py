"""Deadlines from time limits. Dates are facts of the published calendar (checked by hand
and against chinesecalendar): 2025 National Day Oct 1-8 off, Sun Sep 28 and Sat Oct 11
worked."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from hub.domain.calendar import WorkingCalendar
from hub.domain.clock import LOCAL_TZ
from hub.domain.deadlines import (
    Deadlines,
    TimeLimits,
    UrgentLimit,
    compute_deadlines,
    count_basis,
    extend_basis,
    extend_deadline,
    recount,
    warning_at,
)
from hub.domain.model import DeadlineBasis, RequestType, Urgency

CAL = WorkingCalendar()
LIMITS = TimeLimits()
# Friday before the 2025 National Day holiday.
START = datetime(2025, 9, 26, 10, 0, tzinfo=LOCAL_TZ)


def end_of(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 23, 59, 59, tzinfo=LOCAL_TZ).astimezone(UTC)


# --- TimeLimits ----------------------------------------------------------------------


def test_defaults_are_the_domain_limits() -> None:
    assert LIMITS.working_days == {
        RequestType.ENQUIRY: 3,
        RequestType.HELP: 7,
        RequestType.SUGGESTION: 7,
        RequestType.COMPLAINT: 15,
        RequestType.REPORT: 15,
        RequestType.PRAISE: 7,
        RequestType.OTHER: 7,
    }
    assert LIMITS.sign_off_working_days == 1
    assert LIMITS.urgent_hours[Urgency.URGENT] == UrgentLimit(sign_off_hours=2, complete_hours=24)
    assert LIMITS.urgent_hours[Urgency.CRITICAL] == UrgentLimit(sign_off_hours=1, complete_hours=4)
    assert LIMITS.max_extension_working_days == 15
    assert LIMITS.warning_share == 0.8


def test_defaults_are_not_shared_between_instances() -> None:
    a = TimeLimits()
    a.working_days[RequestType.ENQUIRY] = 5
    assert TimeLimits().working_days[RequestType.ENQUIRY] == 3


def test_loads_from_plain_config_data() -> None:
    limits = TimeLimits.model_validate(
        {
            "working_days": {t.value: 10 for t in RequestType},
            "urgent_hours": {
                "urgent": {"sign_off_hours": 0.5, "complete_hours": 12},
                "critical": {"sign_off_hours": 0.25, "complete_hours": 2},
            },
        }
    )
    assert limits.working_days[RequestType.COMPLAINT] == 10
    assert limits.urgent_hours[Urgency.CRITICAL].complete_hours == 2


def test_missing_request_type_rejected() -> None:
    days = {t: 7 for t in RequestType if t is not RequestType.PRAISE}
    with pytest.raises(ValidationError, match="praise"):
        TimeLimits(working_days=days)


@pytest.mark.parametrize("value", [0, -3, 91])
def test_out_of_range_working_days_rejected(value: int) -> None:
    days = {t: 7 for t in RequestType} | {RequestType.ENQUIRY: value}
    with pytest.raises(ValidationError):
        TimeLimits(working_days=days)


def test_urgent_hours_need_both_levels_and_no_normal() -> None:
    with pytest.raises(ValidationError):
        TimeLimits(urgent_hours={Urgency.URGENT: UrgentLimit(sign_off_hours=2, complete_hours=24)})
    with pytest.raises(ValidationError):
        TimeLimits(
            urgent_hours={
                Urgency.URGENT: UrgentLimit(sign_off_hours=2, complete_hours=24),
                Urgency.CRITICAL: UrgentLimit(sign_off_hours=1, complete_hours=4),
                Urgency.NORMAL: UrgentLimit(sign_off_hours=8, complete_hours=48),
            }
        )


def test_urgent_limit_sign_off_not_after_completion() -> None:
    with pytest.raises(ValidationError):
        UrgentLimit(sign_off_hours=5, complete_hours=4)
    with pytest.raises(ValidationError):
        UrgentLimit(sign_off_hours=0, complete_hours=4)


@pytest.mark.parametrize("share", [0, 1, 1.5, -0.1])
def test_warning_share_must_be_strictly_between_0_and_1(share: float) -> None:
    with pytest.raises(ValidationError):
        TimeLimits(warning_share=share)


def test_sign_off_working_days_at_least_one() -> None:
    with pytest.raises(ValidationError):
        TimeLimits(sign_off_working_days=0)


def test_misspelt_setting_rejected() -> None:
    with pytest.raises(ValidationError):
        TimeLimits(warning_shar=0.7)


# --- compute_deadlines: normal cases on working days -------------------------------------


def test_normal_enquiry_over_national_day() -> None:
    d = compute_deadlines(CAL, LIMITS, RequestType.ENQUIRY, Urgency.NORMAL, START)
    # Sign-off: 1 working day = Sun Sep 28 (make-up). Due: Sep 28, 29, 30.
    assert d == Deadlines(
        sign_off_due=end_of(2025, 9, 28),
        due_at=end_of(2025, 9, 30),
        sign_off_basis=DeadlineBasis(counted_from=START, working_days=1),
        due_basis=DeadlineBasis(counted_from=START, working_days=3),
    )


def test_normal_help_and_complaint_over_national_day() -> None:
    # Working days after Fri Sep 26: 28, 29, 30, Oct 9, 10, 11 (Sat), 13, 14, 15, 16, 17, 20, 21, 22, 23.
    help_case = compute_deadlines(CAL, LIMITS, RequestType.HELP, Urgency.NORMAL, START)
    assert help_case.due_at == end_of(2025, 10, 13)
    complaint = compute_deadlines(CAL, LIMITS, RequestType.COMPLAINT, Urgency.NORMAL, START)
    assert complaint.due_at == end_of(2025, 10, 23)


def test_configured_limits_are_used() -> None:
    limits = TimeLimits(
        working_days={t: 7 for t in RequestType} | {RequestType.ENQUIRY: 1},
        sign_off_working_days=2,
    )
    d = compute_deadlines(CAL, limits, RequestType.ENQUIRY, Urgency.NORMAL, START)
    assert d.due_at == end_of(2025, 9, 28)
    assert d.sign_off_due == end_of(2025, 9, 29)


# --- past the published calendar: provisional (2027 is not in chinesecalendar) ------------


def test_enquiry_crossing_into_unknown_year_is_provisional() -> None:
    start = datetime(2026, 12, 30, 10, tzinfo=LOCAL_TZ)
    d = compute_deadlines(CAL, LIMITS, RequestType.ENQUIRY, Urgency.NORMAL, start)
    # Sign-off: Thu Dec 31 (published). Completion: Dec 31, Fri Jan 1 (no holiday guessed), Mon Jan 4.
    assert d.sign_off_due == end_of(2026, 12, 31)
    assert d.due_at == end_of(2027, 1, 4)
    assert d.sign_off_basis == DeadlineBasis(counted_from=start, working_days=1, provisional=False)
    assert d.due_basis == DeadlineBasis(counted_from=start, working_days=3, provisional=True)
    assert d.provisional is True


def test_complaint_from_before_christmas_counts_weekdays_into_january() -> None:
    start = datetime(2026, 12, 21, 10, tzinfo=LOCAL_TZ)  # a Monday
    d = compute_deadlines(CAL, LIMITS, RequestType.COMPLAINT, Urgency.NORMAL, start)
    # Dec 22-25 (4), 28-31 (8), Jan 1 (9), Jan 4-8 (14), Mon Jan 11 (15).
    assert d.due_at == end_of(2027, 1, 11)
    assert d.sign_off_due == end_of(2026, 12, 22)
    assert d.due_basis is not None and d.due_basis.provisional
    assert d.sign_off_basis is not None and not d.sign_off_basis.provisional


def test_deadline_inside_the_published_calendar_is_not_provisional() -> None:
    d = compute_deadlines(CAL, LIMITS, RequestType.COMPLAINT, Urgency.NORMAL, START)
    assert d.provisional is False


def test_urgent_deadlines_have_no_basis() -> None:
    d = compute_deadlines(CAL, LIMITS, RequestType.HELP, Urgency.URGENT, datetime(2026, 12, 31, 10, tzinfo=LOCAL_TZ))
    assert d.sign_off_basis is None and d.due_basis is None and d.provisional is False


# A made-up 2027 import: Jan 1-3 off (元旦), Sat Feb 6 worked.
IMPORTED = WorkingCalendar(years={2027: {date(2027, 1, 1): False, date(2027, 1, 2): False, date(2027, 1, 3): False, date(2027, 2, 6): True}})


def test_recount_on_the_imported_year_moves_and_confirms_the_deadline() -> None:
    start = datetime(2026, 12, 30, 10, tzinfo=LOCAL_TZ)
    basis = DeadlineBasis(counted_from=start, working_days=3, provisional=True)
    # Dec 31 (1), Jan 1 now off, Jan 4 (2), Jan 5 (3).
    at, new = recount(IMPORTED, basis)
    assert at == end_of(2027, 1, 5)
    assert new == DeadlineBasis(counted_from=start, working_days=3, provisional=False)


def test_extension_adds_to_the_count_and_stays_provisional() -> None:
    start = datetime(2026, 12, 21, 10, tzinfo=LOCAL_TZ)
    due, basis = count_basis(CAL, start, 15)  # Mon Jan 11 2027, provisional
    at, extended = extend_basis(CAL, due, basis, 2)
    assert at == end_of(2027, 1, 13)
    assert extended == DeadlineBasis(counted_from=start, working_days=17, provisional=True)


def test_extension_of_a_deadline_on_the_clock_counts_after_its_day() -> None:
    due = datetime(2026, 12, 31, 14, tzinfo=LOCAL_TZ)
    at, basis = extend_basis(CAL, due, None, 1)
    assert at == end_of(2027, 1, 1)
    assert basis == DeadlineBasis(counted_from=due, working_days=1, provisional=True)


# --- compute_deadlines: urgent cases on the clock -----------------------------------------


def test_urgent_runs_on_natural_hours_through_the_holiday() -> None:
    start = datetime(2025, 10, 1, 10, 0, tzinfo=LOCAL_TZ)  # National Day itself
    d = compute_deadlines(CAL, LIMITS, RequestType.HELP, Urgency.URGENT, start)
    assert d.sign_off_due == datetime(2025, 10, 1, 12, 0, tzinfo=LOCAL_TZ)
    assert d.due_at == datetime(2025, 10, 2, 10, 0, tzinfo=LOCAL_TZ)


def test_critical_hours() -> None:
    start = datetime(2025, 11, 15, 22, 30, tzinfo=LOCAL_TZ)  # a Saturday night
    d = compute_deadlines(CAL, LIMITS, RequestType.REPORT, Urgency.CRITICAL, start)
    assert d.sign_off_due == datetime(2025, 11, 15, 23, 30, tzinfo=LOCAL_TZ)
    assert d.due_at == datetime(2025, 11, 16, 2, 30, tzinfo=LOCAL_TZ)
    assert d.due_at.utcoffset() == timedelta(0)  # returned in UTC like normal deadlines


def test_urgent_needs_no_calendar_data() -> None:
    # Hours do not consult the calendar, so an unpublished year is no obstacle.
    start = datetime(2027, 1, 2, 8, 0, tzinfo=LOCAL_TZ)
    d = compute_deadlines(CAL, LIMITS, RequestType.HELP, Urgency.CRITICAL, start)
    assert d.due_at == start + timedelta(hours=4)


# --- extend_deadline -------------------------------------------------------------------


def test_extension_adds_working_days_after_due_day() -> None:
    # Due Tue Sep 30; +3 working days skips Oct 1-8: Oct 9, 10, Sat 11.
    assert extend_deadline(CAL, end_of(2025, 9, 30), 3) == end_of(2025, 10, 11)
    # Complaint due Thu Oct 23; +15: Oct 24, 27-31, Nov 3-7, 10-13 -> Thu Nov 13.
    assert extend_deadline(CAL, end_of(2025, 10, 23), 15) == end_of(2025, 11, 13)


def test_extension_below_one_day_rejected() -> None:
    with pytest.raises(ValueError):
        extend_deadline(CAL, end_of(2025, 9, 30), 0)


def test_extension_honours_overrides() -> None:
    cal = WorkingCalendar({date(2025, 11, 17): False})
    # Due Fri Nov 14; Mon 17 declared a holiday -> Tue 18.
    assert extend_deadline(cal, end_of(2025, 11, 14), 1) == end_of(2025, 11, 18)


# --- warning_at ------------------------------------------------------------------------


def test_warning_at_share_of_the_limit() -> None:
    start = datetime(2025, 11, 17, 0, 0, tzinfo=UTC)
    due = start + timedelta(hours=10)
    assert warning_at(start, due, 0.8) == start + timedelta(hours=8)
    assert warning_at(start, due, 0.5) == start + timedelta(hours=5)


def test_warning_at_with_real_deadline() -> None:
    d = compute_deadlines(CAL, LIMITS, RequestType.ENQUIRY, Urgency.NORMAL, START)
    w = warning_at(START, d.due_at, LIMITS.warning_share)
    assert START < w < d.due_at
    assert w - START == (d.due_at - START) * 0.8


@pytest.mark.parametrize("share", [0, 1])
def test_warning_at_rejects_bad_share(share: float) -> None:
    with pytest.raises(ValueError):
        warning_at(START, START + timedelta(hours=1), share)


# --- the bounds of the settings, at their edges ---------------------------------------------


def test_limits_are_accepted_up_to_their_bounds_and_refused_past_them() -> None:
    assert TimeLimits(working_days={t: 90 for t in RequestType}).working_days[RequestType.HELP] == 90
    assert TimeLimits(sign_off_working_days=90).sign_off_working_days == 90
    with pytest.raises(ValidationError):
        TimeLimits(sign_off_working_days=91)
    assert TimeLimits(max_extension_working_days=0).max_extension_working_days == 0  # no extensions at all
    assert TimeLimits(max_extension_working_days=90).max_extension_working_days == 90
    for bad in (-1, 91):
        with pytest.raises(ValidationError):
            TimeLimits(max_extension_working_days=bad)
    assert TimeLimits(warning_share=0.01).warning_share == 0.01
    assert TimeLimits(warning_share=0.99).warning_share == 0.99


def test_urgent_hours_may_be_short_and_sign_off_may_be_due_with_completion() -> None:
    assert UrgentLimit(sign_off_hours=0.5, complete_hours=1) == UrgentLimit(sign_off_hours=0.5, complete_hours=1.0)
    assert UrgentLimit(sign_off_hours=4, complete_hours=4).sign_off_hours == 4
    with pytest.raises(ValidationError):
        UrgentLimit(sign_off_hours=1, complete_hours=0)


def test_a_bad_working_day_limit_is_named() -> None:
    days = {t: 7 for t in RequestType} | {RequestType.COMPLAINT: 0}
    with pytest.raises(ValidationError, match=r"working days must be 1\.\.90: \{'complaint': 0\}"):
        TimeLimits(working_days=days)


def test_a_misspelt_urgent_setting_is_refused_too() -> None:
    with pytest.raises(ValidationError, match="complete_hour"):
        UrgentLimit.model_validate({"sign_off_hours": 2, "complete_hours": 24, "complete_hour": 12})


def test_one_working_day_to_sign_off_may_be_set_explicitly_and_deadlines_are_fixed() -> None:
    assert TimeLimits(sign_off_working_days=1).sign_off_working_days == 1
    d = compute_deadlines(CAL, LIMITS, RequestType.ENQUIRY, Urgency.NORMAL, START)
    with pytest.raises(AttributeError):
        d.due_at = START  # type: ignore[misc]
