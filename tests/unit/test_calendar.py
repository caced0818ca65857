"""Working-day arithmetic on the official calendar.

Expected dates are facts of the published State Council calendar (checked by hand and
against chinesecalendar 1.11), hard-coded here rather than computed by the code under test.
2025 National Day: Oct 1-8 off; Sun Sep 28 and Sat Oct 11 are make-up working days.
2026 Spring Festival: Feb 15-23 off; Sat Feb 14 and Sat Feb 28 are make-up working days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from hub.domain.calendar import WorkingCalendar, calendar_status
from hub.domain.clock import LOCAL_TZ


def local(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LOCAL_TZ)


def end_of(y: int, m: int, d: int) -> datetime:
    """23:59:59 Shanghai of that day, as UTC (the shape add_working_days returns)."""
    return datetime(y, m, d, 23, 59, 59, tzinfo=LOCAL_TZ).astimezone(UTC)


CAL = WorkingCalendar()


# --- is_workday on the published calendar --------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 9, 27), False),  # Saturday
        (date(2025, 9, 28), True),  # Sunday, make-up working day
        (date(2025, 10, 1), False),  # National Day
        (date(2025, 10, 8), False),  # last day of the holiday (a Wednesday)
        (date(2025, 10, 11), True),  # Saturday, make-up working day
        (date(2025, 11, 15), False),  # ordinary Saturday
        (date(2025, 11, 17), True),  # ordinary Monday
        (date(2026, 2, 14), True),  # Saturday, Spring Festival make-up
        (date(2026, 2, 16), False),  # Monday in the Spring Festival holiday
        (date(2026, 2, 28), True),  # Saturday, Spring Festival make-up
    ],
)
def test_is_workday_follows_the_official_calendar(day: date, working: bool) -> None:
    assert CAL.is_workday(day) is working


# --- add_working_days ------------------------------------------------------------------


def test_national_day_make_up_sunday_counts() -> None:
    # Fri Sep 26 -> Sun 28 (1), Mon 29 (2), Tue 30 (3); a Mon-Fri count would give Oct 1.
    assert CAL.add_working_days(local(2025, 9, 26), 3) == end_of(2025, 9, 30)


def test_national_day_holiday_skipped_and_make_up_saturday_counts() -> None:
    # Tue Sep 30 -> Oct 1-8 off -> Thu 9 (1), Fri 10 (2), Sat 11 (3, make-up).
    assert CAL.add_working_days(local(2025, 9, 30), 3) == end_of(2025, 10, 11)
    assert CAL.add_working_days(local(2025, 9, 30), 1) == end_of(2025, 10, 9)


def test_spring_festival_2026() -> None:
    # Thu Feb 12 -> Fri 13 (1), Sat 14 make-up (2), holiday Feb 15-23, Tue 24 (3).
    assert CAL.add_working_days(local(2026, 2, 12), 3) == end_of(2026, 2, 24)
    # Fri Feb 13 -> 14 (1), 24..27 (2-5), Sat 28 make-up (6), Sun Mar 1 off, Mon Mar 2 (7).
    assert CAL.add_working_days(local(2026, 2, 13), 7) == end_of(2026, 3, 2)


def test_ordinary_weekend_is_skipped() -> None:
    # Fri 2025-11-14: Sat 15 and Sun 16 are off.
    assert CAL.add_working_days(local(2025, 11, 14), 1) == end_of(2025, 11, 17)
    assert CAL.add_working_days(local(2025, 11, 14), 3) == end_of(2025, 11, 19)


def test_start_day_is_its_local_day_not_its_utc_day() -> None:
    # 2025-09-29 16:30 UTC is 2025-09-30 00:30 in Shanghai: counting starts after Sep 30,
    # so the first working day is Oct 9 (a UTC-date count would give Sep 30).
    start = datetime(2025, 9, 29, 16, 30, tzinfo=UTC)
    assert CAL.add_working_days(start, 1) == end_of(2025, 10, 9)


def test_start_day_is_not_counted_even_late_at_night() -> None:
    assert CAL.add_working_days(local(2025, 11, 17, 23, 59), 1) == end_of(2025, 11, 18)


def test_result_is_end_of_day_shanghai_returned_in_utc() -> None:
    result = CAL.add_working_days(local(2025, 9, 26), 3)
    assert result.utcoffset() is not None and result.utcoffset().total_seconds() == 0
    assert result == datetime(2025, 9, 30, 15, 59, 59, tzinfo=UTC)
    in_shanghai = result.astimezone(LOCAL_TZ)
    assert in_shanghai.date() == date(2025, 9, 30)
    assert in_shanghai.time() == time(23, 59, 59)


@pytest.mark.parametrize("days", [0, -1])
def test_days_below_one_rejected(days: int) -> None:
    with pytest.raises(ValueError):
        CAL.add_working_days(local(2025, 9, 26), days)


def test_naive_start_rejected() -> None:
    with pytest.raises(ValueError):
        CAL.add_working_days(datetime(2025, 9, 26, 10, 0), 1)


# --- overrides ---------------------------------------------------------------------------


def test_overrides_win_over_the_package() -> None:
    cal = WorkingCalendar({date(2025, 11, 19): False, date(2025, 11, 15): True, date(2025, 9, 28): False})
    assert cal.is_workday(date(2025, 11, 19)) is False  # a Wednesday made a holiday
    assert cal.is_workday(date(2025, 11, 15)) is True  # a Saturday made a working day
    assert cal.is_workday(date(2025, 9, 28)) is False  # a make-up Sunday cancelled
    # Fri Nov 14 + 1 is now Sat 15, not Mon 17.
    assert cal.add_working_days(local(2025, 11, 14), 1) == end_of(2025, 11, 15)
    # Mon Nov 17 + 2: Tue 18 (1), Wed 19 skipped, Thu 20 (2).
    assert cal.add_working_days(local(2025, 11, 17), 2) == end_of(2025, 11, 20)


def test_datetime_override_key_refused() -> None:
    # It would never match a date lookup and be silently ignored.
    with pytest.raises(TypeError):
        WorkingCalendar({datetime(2025, 11, 19, tzinfo=LOCAL_TZ): False})


# --- years the package does not know: provisional, never refused ------------------------
# chinesecalendar (as installed) knows up to 2026; 2027 is unpublished. Provisional rule:
# Monday-Friday working, no holidays. 2027-01-01 is a Friday, 01-02/03 a weekend.


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2027, 1, 4), True),  # Monday
        (date(2027, 1, 1), True),  # Friday: New Year's Day, but no holidays are guessed
        (date(2027, 1, 2), False),  # Saturday
        (date(2027, 1, 3), False),  # Sunday
    ],
)
def test_unpublished_year_is_counted_mon_to_fri_and_marked_unknown(day: date, working: bool) -> None:
    assert CAL.is_workday(day) is working
    assert CAL.is_known(day) is False
    assert CAL.lookup(day) == (working, False)


def test_published_days_are_known() -> None:
    assert CAL.lookup(date(2026, 12, 31)) == (True, True)
    assert CAL.lookup(date(2025, 10, 1)) == (False, True)


def test_deadline_crossing_into_unpublished_year_is_provisional() -> None:
    # Wed 2026-12-30 -> Thu 31 (1, published), Fri Jan 1 2027 (2, provisional), Mon Jan 4 (3).
    counted = CAL.count(local(2026, 12, 30), 3)
    assert counted.at == end_of(2027, 1, 4)
    assert counted.provisional is True
    assert CAL.add_working_days(local(2026, 12, 30), 3) == end_of(2027, 1, 4)


def test_deadline_inside_the_published_calendar_is_not_provisional() -> None:
    # Mon 2026-12-14 -> 15, 16, 17.
    counted = CAL.count(local(2026, 12, 14), 3)
    assert counted.at == end_of(2026, 12, 17)
    assert counted.provisional is False


def test_an_unknown_weekend_walked_over_makes_it_provisional() -> None:
    # Thu 2026-12-31 -> Fri Jan 1 2027 is day 1 (provisional).
    assert CAL.count(local(2026, 12, 31), 1).provisional is True


def test_partly_overridden_unpublished_year_is_still_provisional() -> None:
    cal = WorkingCalendar({date(2027, 1, 1): False})
    # Dec 31 (1), Jan 1 off by override, Jan 2-3 weekend (unknown), Jan 4 (2), Jan 5 (3).
    counted = cal.count(local(2026, 12, 30), 3)
    assert counted.at == end_of(2027, 1, 5)
    assert counted.provisional is True


def test_unpublished_year_is_known_when_every_needed_day_is_overridden() -> None:
    cal = WorkingCalendar(
        {
            date(2027, 1, 1): False,
            date(2027, 1, 2): False,
            date(2027, 1, 3): False,
            date(2027, 1, 4): True,
            date(2027, 1, 5): True,
        }
    )
    # Thu Dec 31 2026 (1, package), Mon Jan 4 (2), Tue Jan 5 (3).
    assert cal.count(local(2026, 12, 30), 3) == type(cal.count(local(2026, 12, 30), 3))(end_of(2027, 1, 5), False)
    assert cal.knows_year(2027) is False  # a few overrides do not make the year known


# --- imported years ------------------------------------------------------------------

# A made-up 2027: Jan 1-3 off, Sat Jan 9 worked (not the official schedule).
IMPORTED = WorkingCalendar(years={2027: {date(2027, 1, 1): False, date(2027, 1, 2): False, date(2027, 1, 3): False, date(2027, 1, 9): True}})


def test_imported_year_is_known_and_counts_its_holidays_and_make_up_days() -> None:
    # Dec 31 (1), Jan 1 off, Jan 4 (2), Jan 5 (3): known.
    counted = IMPORTED.count(local(2026, 12, 30), 3)
    assert (counted.at, counted.provisional) == (end_of(2027, 1, 5), False)
    # Fri Jan 8 -> Sat Jan 9, a make-up working day.
    assert IMPORTED.count(local(2027, 1, 8), 1).at == end_of(2027, 1, 9)
    # Days the import does not list follow Mon-Fri: Sat Jan 16 off, Mon Jan 18 on.
    assert IMPORTED.lookup(date(2027, 1, 16)) == (False, True)
    assert IMPORTED.lookup(date(2027, 1, 18)) == (True, True)


def test_knows_year() -> None:
    assert CAL.knows_year(2026) is True
    assert CAL.knows_year(2027) is False
    assert IMPORTED.knows_year(2027) is True
    assert IMPORTED.knows_year(2028) is False


def test_override_wins_over_imported_year() -> None:
    cal = WorkingCalendar({date(2027, 1, 9): False}, years={2027: {date(2027, 1, 9): True}})
    assert cal.lookup(date(2027, 1, 9)) == (False, True)


def test_imported_year_holding_another_years_day_is_refused() -> None:
    with pytest.raises(ValueError, match="2026-12-31"):
        WorkingCalendar(years={2027: {date(2026, 12, 31): False}})


# --- working_days_between ------------------------------------------------------------


def test_working_days_between_counts_after_start_through_end() -> None:
    # Sep 28, 29, 30, Oct 9, 10, 11.
    assert CAL.working_days_between(local(2025, 9, 26), local(2025, 10, 11, 12)) == 6
    # Over the holiday only: nothing.
    assert CAL.working_days_between(local(2025, 9, 30), local(2025, 10, 8, 18)) == 0
    # Ordinary week: Fri 14 -> Mon 17, Tue 18.
    assert CAL.working_days_between(local(2025, 11, 14), local(2025, 11, 18)) == 2


def test_working_days_between_is_zero_for_same_day_or_reversed() -> None:
    assert CAL.working_days_between(local(2025, 11, 17, 9), local(2025, 11, 17, 18)) == 0
    assert CAL.working_days_between(local(2025, 11, 20), local(2025, 11, 17)) == 0
    assert CAL.working_days_between(local(2025, 11, 17), local(2025, 11, 17)) == 0


def test_working_days_between_agrees_with_add_working_days() -> None:
    start = local(2026, 2, 12)
    assert CAL.working_days_between(start, CAL.add_working_days(start, 7)) == 7


# --- the warning while next year is missing ----------------------------------------------


def test_no_warning_in_october_even_with_next_year_missing() -> None:
    status = calendar_status(CAL, local(2026, 10, 31, 23, 0))
    assert (status.year_known, status.next_year, status.next_year_known) == (True, 2027, False)
    assert status.warning is None


def test_warning_from_november_while_next_year_is_missing() -> None:
    # 2026-10-31 16:30 UTC is already November 1 in Shanghai.
    status = calendar_status(CAL, datetime(2026, 10, 31, 16, 30, tzinfo=UTC))
    assert status.today == date(2026, 11, 1)
    assert status.warning is not None
    assert "2027" in status.warning and "hotline-hub calendar import" in status.warning


def test_no_warning_once_next_year_is_imported() -> None:
    cal = WorkingCalendar(years={2027: {date(2027, 1, 1): False}})
    assert calendar_status(cal, local(2026, 12, 28)).warning is None


def test_warning_all_year_when_this_year_is_unknown() -> None:
    status = calendar_status(CAL, local(2027, 3, 1))
    assert status.year_known is False
    assert status.warning is not None and "2027" in status.warning and "provisional" in status.warning


def test_a_start_whose_zone_does_not_know_its_offset_is_rejected_too() -> None:
    from datetime import tzinfo

    class NoOffset(tzinfo):
        def utcoffset(self, dt):
            return None

    with pytest.raises(ValueError, match="aware datetime"):
        CAL.add_working_days(datetime(2025, 9, 26, 10, 0, tzinfo=NoOffset()), 1)


def test_is_workday_takes_a_date_not_a_datetime() -> None:
    with pytest.raises(TypeError, match="local date"):
        CAL.is_workday(local(2025, 9, 28))
    assert CAL.is_workday(date(2025, 9, 28)) is True  # the make-up Sunday
