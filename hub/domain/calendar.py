"""Working days on the Chinese official calendar (调休 included).

Time limits are counted in working days, and the State Council moves weekends around
holidays every year, so Mon-Fri is wrong several times a year. A day is looked up, in
order, in: the operator-edited overrides (local exceptions and corrections), the years an
operator imported from the State Council's notice (`hotline-hub calendar import`), and the
`chinesecalendar` package (the years it was published with).

A day none of them knows (a year not published yet) is counted *provisionally*: Monday to
Friday working, no holidays. Work is never refused for it; a deadline that crossed such a
day says so (`Counted.provisional`), and is counted again when the year is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import chinese_calendar

from hub.domain.clock import LOCAL_TZ

# A deadline ends when the last working day ends, local time.
_END_OF_DAY = time(23, 59, 59)


@dataclass(frozen=True)
class Counted:
    """The end of a run of working days, and whether an unknown day was counted on the way."""

    at: datetime
    provisional: bool


def _local_date(moment: datetime) -> date:
    # A naive datetime would be read in the server's zone and shift days silently.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("an aware datetime is needed to find its local day")
    return moment.astimezone(LOCAL_TZ).date()


class WorkingCalendar:
    def __init__(self, overrides: Mapping[date, bool] | None = None, years: Mapping[int, Mapping[date, bool]] | None = None) -> None:
        """`overrides`: day -> working, set by an operator. `years`: imported years, each with
        the days that differ from Mon-Fri (holidays off, make-up days on)."""
        self._overrides = _checked_days(overrides or {})
        self._years = {int(year): _checked_days(days) for year, days in (years or {}).items()}
        for year, days in self._years.items():
            stray = [d for d in days if d.year != year]
            if stray:
                raise ValueError(f"imported year {year} holds days of another year: {stray[0].isoformat()}")

    def lookup(self, day: date) -> tuple[bool, bool]:
        """(working, known): `known` is False when the day was counted provisionally."""
        if isinstance(day, datetime):
            raise TypeError("is_workday takes a local date; convert datetimes with LOCAL_TZ first")
        # Overrides win: they are how an operator corrects or extends the published calendar.
        if day in self._overrides:
            return self._overrides[day], True
        # An imported year wins over the package: an operator imported it deliberately
        # (a notice the installed package predates, or a corrected one).
        if day.year in self._years:
            return self._years[day.year].get(day, day.weekday() < 5), True
        try:
            return chinese_calendar.is_workday(day), True
        except NotImplementedError:
            # The package raises for every day of an unpublished year. Provisional rule:
            # weekends off, no holidays, until the year is imported.
            return day.weekday() < 5, False

    def is_workday(self, day: date) -> bool:
        return self.lookup(day)[0]

    def is_known(self, day: date) -> bool:
        return self.lookup(day)[1]

    def knows_year(self, year: int) -> bool:
        """True when the whole year is known: imported, or in the package (overrides of a
        few days do not make a year known)."""
        if year in self._years:
            return True
        try:
            chinese_calendar.is_workday(date(year, 1, 1))
        except NotImplementedError:
            return False
        return True

    def count(self, start: datetime, days: int) -> Counted:
        """End (23:59:59 local) of the `days`-th working day after start's local day, in UTC.

        The start's own day never counts, whether or not it is a working day. Provisional
        when any day walked over was not known (a later import may move the result).
        """
        if days < 1:
            raise ValueError(f"working days must be at least 1, got {days}")
        day = _local_date(start)
        counted = 0
        provisional = False
        # Terminates: every calendar week has working days (the provisional rule has five).
        while counted < days:
            day += timedelta(days=1)
            working, known = self.lookup(day)
            provisional = provisional or not known
            if working:
                counted += 1
        return Counted(datetime.combine(day, _END_OF_DAY, tzinfo=LOCAL_TZ).astimezone(UTC), provisional)

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """As count(), without saying whether the result is provisional."""
        return self.count(start, days).at

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Working days strictly after start's local day up to and including end's (0 if end <= start)."""
        if end <= start:
            return 0
        day, last = _local_date(start), _local_date(end)
        count = 0
        while day < last:
            day += timedelta(days=1)
            if self.is_workday(day):
                count += 1
        return count


def _checked_days(days: Mapping[date, bool]) -> dict[date, bool]:
    table: dict[date, bool] = {}
    for day, working in days.items():
        # datetime is a subclass of date but never equals one: such a key would be
        # silently ignored, so refuse it.
        if isinstance(day, datetime) or not isinstance(day, date):
            raise TypeError(f"calendar override keys must be dates, got {day!r}")
        table[day] = bool(working)
    return table


# From this month on, next year's schedule should be in: the State Council publishes it
# in the autumn (October to December), and deadlines from December reach into January.
WARN_FROM_MONTH = 11


@dataclass(frozen=True)
class CalendarStatus:
    """Whether the calendar is ready for what deadlines will need soon (a console banner)."""

    today: date
    year_known: bool
    next_year: int
    next_year_known: bool

    @property
    def warning(self) -> str | None:
        """Why an operator should import a year now, or None."""
        if not self.year_known:
            return (
                f"the calendar of {self.today.year} is not known: deadlines are provisional (Mon-Fri, "
                f"no holidays); import it with `hotline-hub calendar import FILE`"
            )
        if self.today.month >= WARN_FROM_MONTH and not self.next_year_known:
            return (
                f"the calendar of {self.next_year} is not known yet: deadlines reaching into it are "
                f"provisional (Mon-Fri, no holidays); import the State Council's notice with "
                f"`hotline-hub calendar import FILE`"
            )
        return None


def calendar_status(calendar: WorkingCalendar, now: datetime) -> CalendarStatus:
    today = _local_date(now)
    return CalendarStatus(
        today=today, year_known=calendar.knows_year(today.year), next_year=today.year + 1, next_year_known=calendar.knows_year(today.year + 1)
    )
