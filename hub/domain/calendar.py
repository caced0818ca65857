"""Working days on the Chinese official calendar (调休 included).

Time limits are counted in working days, and the State Council moves weekends around
holidays every year, so Mon-Fri is wrong several times a year. The `chinesecalendar`
package holds the published calendar; it has no data for years not yet published. An
operator-edited override table fills those years (and corrects local exceptions). A day
that neither knows is never guessed: CalendarUnknown stops the computation loudly, because
a silently wrong deadline is worse than a refused one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, timezone

import chinese_calendar

from hub.domain.clock import LOCAL_TZ

# A deadline ends when the last working day ends, local time.
_END_OF_DAY = time(23, 59, 59)


class CalendarUnknown(Exception):
    """Neither the overrides nor the official calendar say whether `day` is a working day."""

    def __init__(self, day: date) -> None:
        self.day = day
        super().__init__(
            f"{day.isoformat()}: the official calendar (chinesecalendar) has no data for the year "
            f"{day.year}; an operator must add overrides for it, "
            f"e.g. `hotline-hub calendar set {day.isoformat()} --holiday` (or --workday)"
        )


def _local_date(moment: datetime) -> date:
    # A naive datetime would be read in the server's zone and shift days silently.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("an aware datetime is needed to find its local day")
    return moment.astimezone(LOCAL_TZ).date()


class WorkingCalendar:
    def __init__(self, overrides: Mapping[date, bool] | None = None) -> None:
        table: dict[date, bool] = {}
        for day, working in (overrides or {}).items():
            # datetime is a subclass of date but never equals one: such a key would be
            # silently ignored, so refuse it.
            if isinstance(day, datetime) or not isinstance(day, date):
                raise TypeError(f"calendar override keys must be dates, got {day!r}")
            table[day] = bool(working)
        self._overrides = table

    def is_workday(self, day: date) -> bool:
        if isinstance(day, datetime):
            raise TypeError("is_workday takes a local date; convert datetimes with LOCAL_TZ first")
        # Overrides win: they are how an operator corrects or extends the published calendar.
        if day in self._overrides:
            return self._overrides[day]
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:
            # The package raises for every day of an unpublished year, weekends included:
            # a make-up Saturday can only be known from the published calendar.
            raise CalendarUnknown(day) from None

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """End (23:59:59 local) of the `days`-th working day after start's local day, in UTC.

        The start's own day never counts, whether or not it is a working day.
        """
        if days < 1:
            raise ValueError(f"working days must be at least 1, got {days}")
        day = _local_date(start)
        counted = 0
        # Terminates: published years always contain working days, and the overrides are
        # finite, so the walk either counts `days` or reaches an unknown day and raises.
        while counted < days:
            day += timedelta(days=1)
            if self.is_workday(day):
                counted += 1
        return datetime.combine(day, _END_OF_DAY, tzinfo=LOCAL_TZ).astimezone(timezone.utc)

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
