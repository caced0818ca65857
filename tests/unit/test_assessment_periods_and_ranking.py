"""Assessment periods beyond months and the 三率排名, on hand-written history lines (#20).
Every expected boundary and figure below is worked out by hand in the comments."""

from __future__ import annotations

from datetime import datetime

import pytest

from hub.domain.clock import LOCAL_TZ
from supervision.assessment import PERIOD_FORMS, CaseLines, Line, Period, compute, rank_units

AFTER = datetime(2025, 12, 1, tzinfo=LOCAL_TZ)


@pytest.mark.parametrize(
    ("label", "start", "end"),
    [
        ("2025-10-01", "2025-10-01T00:00:00+08:00", "2025-10-02T00:00:00+08:00"),  # a day
        ("2024-02-29", "2024-02-29T00:00:00+08:00", "2024-03-01T00:00:00+08:00"),  # a leap day
        ("2025-W40", "2025-09-29T00:00:00+08:00", "2025-10-06T00:00:00+08:00"),  # ISO week 40 of 2025: Mon 29 Sep
        ("2026-W01", "2025-12-29T00:00:00+08:00", "2026-01-05T00:00:00+08:00"),  # week 1 of 2026 starts in 2025
        ("2020-W53", "2020-12-28T00:00:00+08:00", "2021-01-04T00:00:00+08:00"),  # 2020 had 53 weeks
        ("2025-Q1", "2025-01-01T00:00:00+08:00", "2025-04-01T00:00:00+08:00"),
        ("2025-Q2", "2025-04-01T00:00:00+08:00", "2025-07-01T00:00:00+08:00"),
        ("2025-Q3", "2025-07-01T00:00:00+08:00", "2025-10-01T00:00:00+08:00"),
        ("2025-Q4", "2025-10-01T00:00:00+08:00", "2026-01-01T00:00:00+08:00"),
        ("2025", "2025-01-01T00:00:00+08:00", "2026-01-01T00:00:00+08:00"),
        ("2025-09-26..2025-10-08", "2025-09-26T00:00:00+08:00", "2025-10-09T00:00:00+08:00"),  # both days included
        ("2025-10-01..2025-10-01", "2025-10-01T00:00:00+08:00", "2025-10-02T00:00:00+08:00"),
        ("2025-10", "2025-10-01T00:00:00+08:00", "2025-11-01T00:00:00+08:00"),  # months as before
    ],
)
def test_periods_of_days_weeks_quarters_years_and_ranges(label: str, start: str, end: str) -> None:
    p = Period.parse(label)
    assert (p.label, p.start.isoformat(), p.end.isoformat()) == (label, start, end)


@pytest.mark.parametrize(
    ("label", "says"),
    [
        ("2025-02-29", "day is out of range"),
        ("2025-W53", "week"),
        ("2025-W00", "YYYY-Www"),
        ("2025-Q5", "YYYY-Qn"),
        ("2025-10-08..2025-10-01", "before the first"),
        ("2024-01-01..2026-01-01", "at most 731 days"),
        ("2025-10-01..", "YYYY-MM-DD..YYYY-MM-DD"),
        ("25", "YYYY-MM"),
        ("2025-10-1", "YYYY-MM"),
    ],
)
def test_a_period_that_is_none_of_these_is_refused_saying_why(label: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        Period.parse(label)


def _lines(number: str, unit: str, signed: bool, replied_on_time: bool, pleased: bool | None) -> CaseLines:
    """A case dispatched to `unit` on 1 Oct, due to sign by 2 Oct and to close by 10 Oct."""
    at = lambda day, hour=10: datetime(2025, 10, day, hour, tzinfo=LOCAL_TZ)  # noqa: E731
    lines = [Line(1, at(1), "dispatch", "agent", {"lead_unit": unit, "sign_off_due": at(2, 18).isoformat(), "due_at": at(10, 18).isoformat()})]
    lines.append(Line(2, at(2) if signed else at(3), "sign_off", "unit", {}))
    lines.append(Line(3, at(9) if replied_on_time else at(12), "reply", "unit", {}))
    if pleased is not None:
        lines.append(Line(4, at(13), "review_reply", "agent", {"approved": True}))
        lines.append(Line(5, at(14), "follow_up", "agent", {"reached": True, "resolved": True, "satisfaction": "satisfied" if pleased else "unsatisfied"}))
    return CaseLines(number, "512002", lines)


def test_units_are_ranked_by_the_mean_of_the_three_rates_ties_sharing_a_rank() -> None:
    cases = [
        # U-A: signed 2/2, on time 2/2, satisfied 1/2 -> (1 + 1 + 0.5) / 3 = 0.8333
        _lines("A1", "U-A", True, True, True),
        _lines("A2", "U-A", True, True, False),
        # U-B: signed 1/2, on time 1/2, satisfied 1/1 -> (0.5 + 0.5 + 1) / 3 = 0.6667
        _lines("B1", "U-B", True, True, True),
        _lines("B2", "U-B", False, False, None),
        # U-C: the same figures as U-B -> 0.6667, the same rank
        _lines("C1", "U-C", False, False, None),
        _lines("C2", "U-C", True, True, True),
        # U-D: signed 1/1, on time 0/1, no follow-up -> (1 + 0) / 2 = 0.5 (满意率 left out, not 0)
        _lines("D1", "U-D", True, False, None),
    ]
    r = rank_units(cases, Period.parse("2025-10"), AFTER, unit_names={"U-A": "甲局", "U-B": "乙局"})
    assert [(row.rank, row.unit, row.unit_name, row.score) for row in r.rows] == [
        (1, "U-A", "甲局", 0.8333),
        (2, "U-B", "乙局", 0.6667),
        (2, "U-C", None, 0.6667),
        (4, "U-D", None, 0.5),
    ]
    d = r.rows[3]
    assert ((d.sign_off_rate.numerator, d.sign_off_rate.denominator), (d.on_time_rate.numerator, d.on_time_rate.denominator), d.satisfaction_rate.value) == (
        (1, 1),
        (0, 1),
        None,
    )


def test_a_week_a_day_and_a_range_hold_only_their_own_deadlines() -> None:
    cases = [_lines("A1", "U-A", True, True, None), _lines("E1", "U-E", True, True, None)]
    # Week 40 (29 Sep - 5 Oct) holds the sign-off deadlines (2 Oct) but not the completion ones (10 Oct).
    wk = compute(cases, Period.parse("2025-W40"), AFTER)
    assert (wk.figure("sign_off_rate").denominator, wk.figure("on_time_rate").denominator) == (2, 0)
    day = compute(cases, Period.parse("2025-10-10"), AFTER)  # the day of the completion deadlines
    assert (day.figure("sign_off_rate").denominator, day.figure("on_time_rate").denominator) == (0, 2)
    # Week 42 (13-19 Oct): none of these cases' deadlines, follow-ups or lines: nobody to rank.
    assert rank_units(cases, Period.parse("2025-W42"), AFTER).rows == []
    # A range of the 1st to the 3rd: only 签收率, both on time.
    r = rank_units(cases, Period.parse("2025-10-01..2025-10-03"), AFTER)
    assert [(row.rank, row.unit, row.score) for row in r.rows] == [(1, "U-A", 1.0), (1, "U-E", 1.0)]


def test_rows_are_listed_best_first_whatever_their_codes_and_a_unit_without_rates_last() -> None:
    """The mutation run (tests/MUTATION.md) found the order untested: in the test above the codes
    happen to sort as the scores do. Here the codes run against the scores."""
    returned_only = CaseLines(
        "R1",
        "512002",
        [
            Line(1, datetime(2025, 10, 1, 10, tzinfo=LOCAL_TZ), "request_return", "unit", {"unit": "U-0"}),
            Line(2, datetime(2025, 10, 1, 11, tzinfo=LOCAL_TZ), "decide_return", "agent", {"approved": True, "unit": "U-0"}),
        ],
    )  # U-0 appears only in 退回件数: none of the three rates, no score, listed last
    cases = [
        _lines("A1", "U-A", False, False, None),  # U-A: (0 + 0) / 2 = 0.0
        _lines("B1", "U-B", True, False, None),  # U-B: (1 + 0) / 2 = 0.5
        _lines("C1", "U-C", True, True, True),  # U-C: (1 + 1 + 1) / 3 = 1.0
        returned_only,
    ]
    r = rank_units(cases, Period.parse("2025-10"), AFTER)
    assert [(row.rank, row.unit, row.score) for row in r.rows] == [(1, "U-C", 1.0), (2, "U-B", 0.5), (3, "U-A", 0.0), (None, "U-0", None)]
    # A rate with nothing due is 0 / 0 with no value, never a denominator of 1.
    rates = lambda row: [(x.numerator, x.denominator, x.value) for x in (row.sign_off_rate, row.on_time_rate, row.satisfaction_rate)]  # noqa: E731
    assert rates(r.rows[3]) == [(0, 0, None)] * 3
    assert rates(r.rows[2]) == [(0, 1, 0.0), (0, 1, 0.0), (0, 0, None)]


def test_a_range_of_exactly_the_longest_length_is_taken_and_overflowing_days_are_refused() -> None:
    # 2024-01-01..2025-12-31: 366 days of 2024 + 365 of 2025 = 731 days, the most allowed.
    p = Period.parse("2024-01-01..2025-12-31")
    assert (p.start.isoformat(), p.end.isoformat()) == ("2024-01-01T00:00:00+08:00", "2026-01-01T00:00:00+08:00")
    with pytest.raises(ValueError, match="at most 731 days"):
        Period.parse("2024-01-01..2026-01-01")  # 732 days
    # The day after 9999-12-31 does not exist: said as a bad period, not an OverflowError.
    with pytest.raises(ValueError, match="outside the calendar"):
        Period.parse("9999-12-31")
    # Two '..' are no range: the forms are listed (not a Python unpacking message).
    with pytest.raises(ValueError, match="YYYY-MM-DD..YYYY-MM-DD") as err:
        Period.parse("2025-10-01..2025-10-02..2025-10-03")
    assert "unpack" not in str(err.value)


def test_the_refusal_says_the_forms_alone_or_the_label_and_what_is_wrong_with_it() -> None:
    with pytest.raises(ValueError) as err:
        Period.parse("October")
    assert str(err.value) == PERIOD_FORMS  # no label before it: the forms are the whole answer
    with pytest.raises(ValueError) as err:
        Period.parse("2025-02-30")
    assert str(err.value) == "2025-02-30: day is out of range for month"
