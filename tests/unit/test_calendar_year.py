"""A year's schedule as transcribed from the State Council's notice: what is refused, and why.

The good schedule below is made up for 2027 (not the official notice): it has the shape of
the real ones. Weekdays of the dates used: 2027-01-01 Fri, 02-06 Sat, 02-07 Sun, 02-08 Mon,
02-20 Sat, 04-05 Mon, 05-01 Sat, 06-09 Wed, 09-15 Wed, 10-01 Fri, 10-09 Sat.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pydantic import ValidationError

from hub.domain.access import Actor
from hub.domain.calendar import WorkingCalendar
from hub.domain.calendar_year import YearSchedule, describe_loc, schedule_problems
from hub.domain.clock import LOCAL_TZ
from hub.domain.deadlines import TimeLimits
from hub.domain.engine import Engine
from hub.domain.model import Case, CaseState, DeadlineBasis, Role

GOOD = {
    "year": 2027,
    "source": "sample data: not the official notice",
    "sample": True,
    "holidays": [
        {"name": "元旦", "from": "2027-01-01", "to": "2027-01-03"},
        {"name": "春节", "from": "2027-02-06", "to": "2027-02-13"},
        {"name": "清明节", "from": "2027-04-03", "to": "2027-04-05"},
        {"name": "劳动节", "from": "2027-05-01", "to": "2027-05-05"},
        {"name": "端午节", "from": "2027-06-09"},
        {"name": "中秋节", "from": "2027-09-15"},
        {"name": "国庆节", "from": "2027-10-01", "to": "2027-10-07"},
    ],
    "workdays": [
        {"name": "春节调休上班", "date": "2027-02-20"},
        {"name": "国庆节调休上班", "date": "2027-10-09"},
    ],
}


def problems(**changes) -> list[tuple[str, str]]:
    doc = {**GOOD, **changes}
    return [(describe_loc(loc), reason) for loc, reason in schedule_problems(YearSchedule.model_validate(doc))]


def test_good_schedule_has_no_problems_and_lists_its_days() -> None:
    schedule = YearSchedule.model_validate(GOOD)
    assert schedule_problems(schedule) == []
    days = schedule.days()
    assert days[date(2027, 1, 1)] is False
    assert days[date(2027, 6, 9)] is False  # single-day holiday without "to"
    assert days[date(2027, 2, 20)] is True
    assert date(2027, 3, 1) not in days  # ordinary days follow Mon-Fri
    assert len([d for d, w in days.items() if not w]) == 3 + 8 + 3 + 5 + 1 + 1 + 7


def test_holiday_outside_the_year() -> None:
    holidays = [*GOOD["holidays"][:6], {"name": "国庆节", "from": "2027-12-31", "to": "2028-01-01"}]
    assert problems(holidays=holidays) == [("holidays[6].to", "2028-01-01 is outside the year 2027")]


def test_make_up_day_outside_the_year() -> None:
    found = problems(workdays=[{"name": "元旦调休", "date": "2026-12-26"}])
    assert found == [("workdays[0].date", "2026-12-26 is outside the year 2027")]


def test_make_up_day_on_a_weekday() -> None:
    found = problems(workdays=[{"name": "春节调休上班", "date": "2027-02-15"}])
    assert found == [("workdays[0].date", "2027-02-15 is a Monday: a make-up working day (调休上班) is a Saturday or Sunday")]


def test_make_up_day_inside_a_holiday_contradicts_it() -> None:
    found = problems(workdays=[{"name": "春节调休上班", "date": "2027-02-07"}])
    assert found == [("workdays[0].date", "2027-02-07 is also a day off of 春节 (2027-02-06..2027-02-13)")]


def test_make_up_day_listed_twice() -> None:
    twice = [{"name": "a", "date": "2027-02-20"}, {"name": "b", "date": "2027-02-20"}]
    assert problems(workdays=twice) == [("workdays[1].date", "2027-02-20 is listed twice (first as workdays[0])")]


def test_overlapping_holidays() -> None:
    holidays = [*GOOD["holidays"], {"name": "春节补假", "from": "2027-02-13", "to": "2027-02-15"}]
    assert problems(holidays=holidays) == [("holidays[7].from", "春节补假 overlaps holidays[1] 春节 (2027-02-06..2027-02-13) on 2027-02-13")]


def test_holiday_ending_before_it_starts() -> None:
    holidays = [*GOOD["holidays"][:6], {"name": "国庆节", "from": "2027-10-07", "to": "2027-10-01"}]
    assert problems(holidays=holidays) == [("holidays[6].to", "2027-10-01 is before from 2027-10-07")]


def test_holiday_only_on_a_weekend_gives_no_day_off() -> None:
    holidays = [*GOOD["holidays"][:5], {"name": "中秋节", "from": "2027-09-18", "to": "2027-09-19"}, GOOD["holidays"][6]]
    assert problems(holidays=holidays) == [("holidays[5]", "中秋节 2027-09-18..2027-09-19 falls only on a weekend: it gives no day off")]


def test_half_transcribed_file_names_the_missing_festivals() -> None:
    assert problems(holidays=GOOD["holidays"][:3]) == [
        ("holidays", "no days off for 劳动节、端午节、中秋节、国庆节: the notice covers all seven festivals (half-transcribed file?)")
    ]


def test_two_festivals_in_one_range_count_as_both() -> None:
    holidays = [*GOOD["holidays"][:5], {"name": "中秋节、国庆节", "from": "2027-10-01", "to": "2027-10-08"}]
    assert problems(holidays=holidays) == []


def test_every_problem_is_reported_at_once() -> None:
    found = problems(holidays=GOOD["holidays"][:6], workdays=[{"name": "x", "date": "2027-03-01"}])
    assert [loc for loc, _ in found] == ["workdays[0].date", "holidays"]


@pytest.mark.parametrize(
    ("doc", "loc"),
    [
        ({k: v for k, v in GOOD.items() if k != "year"}, ("year",)),
        ({k: v for k, v in GOOD.items() if k != "source"}, ("source",)),
        ({**GOOD, "holidays": []}, ("holidays",)),
        ({**GOOD, "holidays": [{"from": "2027-01-01"}]}, ("holidays", 0, "name")),
        ({**GOOD, "workdays": [{"name": "x"}]}, ("workdays", 0, "date")),
        ({**GOOD, "holiday": []}, ("holiday",)),  # misspelt key
        ({**GOOD, "year": 1999}, ("year",)),
    ],
)
def test_missing_or_misspelt_fields_are_refused(doc: dict, loc: tuple) -> None:
    with pytest.raises(ValidationError) as caught:
        YearSchedule.model_validate(doc)
    assert loc in [tuple(e["loc"]) for e in caught.value.errors()]


# --- recounting a case's provisional deadlines --------------------------------------------


class _Units:
    def unit(self, code: str, field: str = "unit_code") -> object:
        return object()


SYSTEM = Actor(party="hub", role=Role.SYSTEM)
START = datetime(2026, 12, 30, 10, tzinfo=LOCAL_TZ)  # a Wednesday


def _dispatched(due: tuple[int, int, int], sign_off_provisional: bool = False) -> Case:
    return Case.model_validate(
        {
            "number": "512000202612300001",
            "version": 3,
            "state": CaseState.AWAITING_SIGN_OFF,
            "intake": {"channel": "phone", "received_at": START.isoformat()},
            "person": {"name": "张三"},
            "request_type": "enquiry",
            "category_code": "01",
            "title": "t",
            "content": "c",
            "place": {"division_code": "512002"},
            "created_at": START.isoformat(),
            "updated_at": START.isoformat(),
            "handling": {
                "lead_unit": "U",
                "dispatched_at": START.isoformat(),
                "sign_off_due": datetime(2026, 12, 31, 23, 59, 59, tzinfo=LOCAL_TZ).isoformat(),
                "due_at": datetime(*due, 23, 59, 59, tzinfo=LOCAL_TZ).isoformat(),
                "sign_off_basis": {"counted_from": START.isoformat(), "working_days": 1, "provisional": sign_off_provisional},
                "due_basis": {"counted_from": START.isoformat(), "working_days": 3, "provisional": True},
            },
            "flags": {"warned": True},
        }
    )


def test_recount_moves_the_provisional_deadline_and_writes_a_history_line() -> None:
    # 2027 imported with Jan 1-3 off: Dec 31 (1), Jan 4 (2), Jan 5 (3) instead of Jan 4.
    engine = Engine(WorkingCalendar(years={2027: {date(2027, 1, 1): False}}), TimeLimits(), _Units())
    now = datetime(2026, 12, 31, 9, tzinfo=LOCAL_TZ)
    case = _dispatched((2027, 1, 4))
    new = engine.recount_deadlines(case, SYSTEM, now)
    assert new is not None
    assert new.handling.due_at == datetime(2027, 1, 5, 23, 59, 59, tzinfo=LOCAL_TZ)
    assert new.handling.due_basis == DeadlineBasis(counted_from=START, working_days=3, provisional=False)
    assert new.handling.sign_off_due == case.handling.sign_off_due  # was not provisional: untouched
    assert new.version == 4 and new.state is CaseState.AWAITING_SIGN_OFF
    assert new.flags.warned is False  # a new deadline is warned afresh
    line = new.history[-1]
    assert (line.action, line.from_state, line.to_state, line.actor) == ("recount_deadlines", CaseState.AWAITING_SIGN_OFF, CaseState.AWAITING_SIGN_OFF, "hub")
    assert line.data == {"moved": {"due_at": {"from": "2027-01-04T15:59:59+00:00", "to": "2027-01-05T15:59:59+00:00"}}, "provisional": []}
    assert case.handling.due_basis is not None and case.handling.due_basis.provisional  # the input is not changed


def test_recount_that_only_confirms_still_records_it() -> None:
    # 2027 imported with no change near the start: Jan 4 stays, now known.
    engine = Engine(WorkingCalendar(years={2027: {date(2027, 2, 11): False}}), TimeLimits(), _Units())
    new = engine.recount_deadlines(_dispatched((2027, 1, 4)), SYSTEM, datetime(2026, 12, 31, 9, tzinfo=LOCAL_TZ))
    assert new is not None
    assert new.handling.due_at == datetime(2027, 1, 4, 23, 59, 59, tzinfo=LOCAL_TZ)
    assert new.history[-1].data == {"moved": {}, "provisional": []}
    assert new.flags.warned is True  # the deadline did not move: its warning stands


def test_recount_without_news_changes_nothing() -> None:
    engine = Engine(WorkingCalendar(), TimeLimits(), _Units())  # 2027 still unknown
    assert engine.recount_deadlines(_dispatched((2027, 1, 4)), SYSTEM, datetime(2026, 12, 31, 9, tzinfo=LOCAL_TZ)) is None


def test_holiday_longer_than_two_weeks_is_a_typo() -> None:
    holidays = [*GOOD["holidays"][:6], {"name": "国庆节", "from": "2027-10-01", "to": "2027-11-07"}]
    assert problems(holidays=holidays) == [("holidays[6].to", "38 days off in a row: no notice gives more than 14")]
