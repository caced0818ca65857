"""One year's official schedule (放假安排), as the State Council's notice gives it each autumn.

The notice lists, per festival, the days off as a range and the weekend days worked in
exchange (调休上班). An operator transcribes it into one file and imports it as a whole
(`hotline-hub calendar import FILE`, or PUT /api/v1/calendar/years/{year}). A schedule
that is wrong or half transcribed is refused as a whole, every problem named by its place
in the file, because a silently wrong holiday moves every deadline around it.

The shape (YAML; the API takes the same fields as JSON):

    year: 2027
    source: 国务院办公厅关于2027年部分节假日安排的通知
    sample: false          # true: not the official notice (test or example data)
    holidays:
      - {name: 元旦, from: 2027-01-01, to: 2027-01-03}
    workdays:
      - {name: 春节调休上班, date: 2027-02-07}
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from pydantic import BaseModel, ConfigDict, Field

# Every notice since 2008 gives days off for these seven festivals (two may share one
# range, e.g. "中秋节、国庆节"). A file without one of them is half transcribed.
FESTIVALS: tuple[tuple[str, str], ...] = (
    ("元旦", "元旦"),
    ("春节", "春节"),
    ("清明", "清明节"),
    ("劳动", "劳动节"),
    ("端午", "端午节"),
    ("中秋", "中秋节"),
    ("国庆", "国庆节"),
)

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

Loc = tuple[str | int, ...]


class Holiday(BaseModel):
    """Days off, both ends included (`to` may be left out for a single day)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=50)
    first: date = Field(alias="from")
    last: date | None = Field(default=None, alias="to")

    @property
    def end(self) -> date:
        return self.last or self.first

    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.end - self.first).days + 1)]


class MakeUpDay(BaseModel):
    """A Saturday or Sunday worked in exchange for a holiday (调休上班)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=50)
    date: date


class YearSchedule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=2000, le=2100)
    source: str = Field(min_length=1, max_length=300, description="the notice transcribed (title and number)")
    sample: bool = Field(default=False, description="true when this is not the official notice (example or test data)")
    holidays: list[Holiday] = Field(min_length=1)
    workdays: list[MakeUpDay] = Field(default_factory=list)

    def days(self) -> dict[date, bool]:
        """The days that differ from Monday-Friday: holidays False, make-up days True."""
        table = {d: False for h in self.holidays for d in h.days()}
        table.update({w.date: True for w in self.workdays})
        return table


def schedule_problems(schedule: YearSchedule) -> list[tuple[Loc, str]]:
    """Every reason to refuse the schedule, each with where it is (a pydantic-style loc).

    An empty list means the year may be loaded.
    """
    problems: list[tuple[Loc, str]] = []
    year = schedule.year
    taken: dict[date, int] = {}  # day off -> index of the holiday that gave it
    for i, h in enumerate(schedule.holidays):
        if h.end < h.first:
            problems.append((("holidays", i, "to"), f"{h.end} is before from {h.first}"))
            continue
        outside = [(key, d) for key, d in (("from", h.first), ("to", h.end)) if d.year != year]
        for key, d in outside:
            problems.append((("holidays", i, key), f"{d} is outside the year {year}"))
        if outside:
            continue
        if len(h.days()) > 14:
            problems.append((("holidays", i, "to"), f"{len(h.days())} days off in a row: no notice gives more than 14"))
            continue
        if all(d.weekday() >= 5 for d in h.days()):
            # Only weekend days: it gives no day off, so the range was mistyped.
            problems.append((("holidays", i), f"{h.name} {h.first}..{h.end} falls only on a weekend: it gives no day off"))
        for d in h.days():
            if d in taken:
                j = taken[d]
                other = schedule.holidays[j]
                problems.append((("holidays", i, "from"), f"{h.name} overlaps holidays[{j}] {other.name} ({other.first}..{other.end}) on {d}"))
                break
        for d in h.days():
            taken.setdefault(d, i)
    seen: dict[date, int] = {}
    for i, w in enumerate(schedule.workdays):
        loc: Loc = ("workdays", i, "date")
        if w.date.year != year:
            problems.append((loc, f"{w.date} is outside the year {year}"))
        elif w.date.weekday() < 5:
            problems.append((loc, f"{w.date} is a {_WEEKDAYS[w.date.weekday()]}: a make-up working day (调休上班) is a Saturday or Sunday"))
        elif w.date in seen:
            problems.append((loc, f"{w.date} is listed twice (first as workdays[{seen[w.date]}])"))
        elif w.date in taken:
            other = schedule.holidays[taken[w.date]]
            problems.append((loc, f"{w.date} is also a day off of {other.name} ({other.first}..{other.end})"))
        seen.setdefault(w.date, i)
    missing = [full for key, full in FESTIVALS if not any(key in h.name for h in schedule.holidays)]
    if missing:
        problems.append((("holidays",), f"no days off for {'、'.join(missing)}: the notice covers all seven festivals (half-transcribed file?)"))
    return problems


def describe_loc(loc: Sequence[str | int]) -> str:
    """holidays[2].from, the way the API names a field."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
