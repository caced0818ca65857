"""Import a year's official schedule and count provisional deadlines again, in one transaction.

Deadlines past the known calendar were counted Mon-Fri (provisional). Once the year is
imported, every case whose deadline basis is provisional is counted on the new calendar;
a case whose deadlines moved (or became known) gets a history line. Either the year and
all the recounts are stored, or nothing is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from hub.db.models import CalendarYearRow, CaseRow
from hub.db.repository import CaseRepository
from hub.domain.access import Actor
from hub.domain.calendar_year import Loc, YearSchedule, describe_loc, schedule_problems
from hub.domain.clock import LOCAL_TZ
from hub.domain.engine import Engine
from hub.domain.errors import RuleViolation, StaleCase
from hub.domain.model import Case
from hub.mappings.loader import load_yaml_mapping, raise_all

if TYPE_CHECKING:
    from hub.service import CaseService


class ScheduleRefused(RuleViolation):
    """The schedule is wrong as a whole; nothing was stored. `problems`: (loc, reason)."""

    def __init__(self, year: int | None, problems: list[tuple[Loc, str]]) -> None:
        self.year, self.problems = year, problems
        lines = "; ".join(f"{describe_loc(loc)}: {reason}" for loc, reason in problems)
        super().__init__(f"calendar of {year} refused, nothing loaded: {lines}")


class YearAlreadyLoaded(RuleViolation):
    def __init__(self, year: int) -> None:
        self.year = year
        super().__init__(f"the calendar of {year} is already loaded; import with replace to load it again")


@dataclass
class YearImport:
    year: int
    replaced: bool
    sample: bool
    moved: list[str] = field(default_factory=list)  # cases whose deadlines moved
    confirmed: list[str] = field(default_factory=list)  # provisional deadlines that stayed, now known


def load_schedule_file(path: Path) -> YearSchedule:
    """Parse and validate a schedule file; MappingError(s) with the file, the line and why.

    The whole-year checks (schedule_problems) are reported the same way, all at once.
    """
    loaded = load_yaml_mapping(path, YearSchedule, entry_key="name")
    raise_all([loaded.error(loc, f"{describe_loc(loc)}: {reason}", entry_key="name") for loc, reason in schedule_problems(loaded.model)])
    return loaded.model


def import_year(cases: CaseService, schedule: YearSchedule, actor: Actor, replace: bool = False) -> YearImport:
    problems = schedule_problems(schedule)
    if problems:
        raise ScheduleRefused(schedule.year, problems)
    now = cases.clock.now()
    result = YearImport(schedule.year, replaced=False, sample=schedule.sample)
    with cases.db.write() as s:
        row = s.get(CalendarYearRow, schedule.year)
        if row is not None and not replace:
            raise YearAlreadyLoaded(schedule.year)
        doc = schedule.model_dump(mode="json", by_alias=True)
        if row is None:
            s.add(CalendarYearRow(year=schedule.year, source=schedule.source, sample=schedule.sample, schedule=doc, loaded_at=now, loaded_by=actor.party))
        else:
            result.replaced = True
            row.source, row.sample, row.schedule, row.loaded_at, row.loaded_by = (schedule.source, schedule.sample, doc, now, actor.party)
        s.flush()
        engine = Engine(cases.calendars.calendar_in(s), cases.settings.time_limits, cases.catalogue)
        repo = CaseRepository(s)
        # A provisional deadline lies past the known calendar, so no earlier than this year.
        first_day = datetime(schedule.year, 1, 1, tzinfo=LOCAL_TZ)
        candidates = s.execute(select(CaseRow.number, CaseRow.doc).where(CaseRow.due_at >= first_day).order_by(CaseRow.id)).all()
        for number, doc_ in candidates:
            handling = doc_.get("handling") or {}
            if not any((handling.get(k) or {}).get("provisional") for k in ("sign_off_basis", "due_basis")):
                continue
            case = repo.get(number)
            new = engine.recount_deadlines(case, actor, now)
            if new is None:
                continue
            repo.save(new, case.version)
            (result.moved if new.history[-1].data.get("moved") else result.confirmed).append(number)
    cases.calendars.invalidate()
    return result


def recount_case(cases: CaseService, case: Case, actor: Actor) -> Case | None:
    """Count one case's provisional deadlines again on the current calendar (the scheduler
    does this for cases an import did not see: dispatched by a process whose cached calendar
    was a few seconds older than the import). None when there is no news; StaleCase when
    the case changed since it was read."""
    now = cases.clock.now()
    engine = cases.engine()
    if engine.recount_deadlines(case, actor, now) is None:  # in memory first: most sweeps find no news
        return None
    with cases.db.write() as s:
        repo = CaseRepository(s)
        current = repo.get(case.number)
        if current.version != case.version:
            raise StaleCase(case.number, case.version, current.version)
        new = engine.recount_deadlines(current, actor, now)
        if new is not None:
            repo.save(new, current.version)
        return new
