"""Late December with next year unknown: work goes on with provisional deadlines, and
importing the year counts them again, on SQLite and PostgreSQL.

chinesecalendar (as installed) knows 2026, not 2027. The imported 2027 is the sample file
examples/calendar/2027.sample.yaml: Jan 1-3 off (元旦). Weekdays: 2026-12-28 is a Monday,
2027-01-01 a Friday.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.calendar_import import ScheduleRefused, YearAlreadyLoaded, import_year, load_schedule_file
from hub.db.models import CalendarYearRow
from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.calendar_year import YearSchedule
from hub.domain.clock import LOCAL_TZ
from hub.domain.model import CaseDraft, Role
from hub.settings import REPO_ROOT
from tests.support.factories import draft

AGENT = Actor("centre-agent", Role.AGENT)
SUPERVISOR = Actor("centre-supervisor", Role.SUPERVISOR)
UNIT = Actor("ZY-SCJGJ", Role.UNIT, unit_code="ZY-SCJGJ")
SAMPLE = REPO_ROOT / "examples" / "calendar" / "2027.sample.yaml"


def end_of(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 23, 59, 59, tzinfo=LOCAL_TZ)


def dispatched(hub, request_type: str) -> str:
    case = hub.cases.register(CaseDraft.model_validate(draft(request_type=request_type)), AGENT).case
    hub.cases.act(case.number, c.Accept(), AGENT)
    hub.cases.act(case.number, c.Dispatch(lead_unit="ZY-SCJGJ"), AGENT)
    return case.number


@pytest.fixture
def december(clock):
    clock.set(datetime(2026, 12, 28, 10, tzinfo=LOCAL_TZ))
    return clock


def test_late_december_work_goes_on_and_the_import_recounts(hub, december) -> None:
    # A complaint (15 working days): Dec 29-31 (3), Jan 1 (4: no holiday guessed), Jan 4-8 (9),
    # Jan 11-15 (14), Mon Jan 18 (15).
    complaint = dispatched(hub, "complaint")
    case = hub.cases.get(complaint, AGENT)
    assert case.handling.due_at == end_of(2027, 1, 18)
    assert case.handling.due_basis is not None and case.handling.due_basis.provisional
    assert case.handling.sign_off_basis is not None and not case.handling.sign_off_basis.provisional  # Dec 29
    assert [h.data.get("provisional") for h in case.history if h.action == "dispatch"] == [True]

    # An enquiry due Thu Dec 31, extended by 2 working days: Jan 1 and Jan 4, provisionally.
    enquiry = dispatched(hub, "enquiry")
    assert hub.cases.get(enquiry, AGENT).handling.due_at == end_of(2026, 12, 31)
    hub.cases.act(enquiry, c.SignOff(), UNIT)
    hub.cases.act(enquiry, c.RequestExtension(working_days=2, reason="需现场核查"), UNIT)
    extended = hub.cases.act(enquiry, c.DecideExtension(approved=True), SUPERVISOR)
    assert extended.handling.due_at == end_of(2027, 1, 4)
    assert extended.handling.due_basis is not None and extended.handling.due_basis.provisional

    # An enquiry dispatched now is due within 2026: known, never recounted.
    known = dispatched(hub, "enquiry")
    assert hub.cases.get(known, AGENT).handling.due_basis.provisional is False
    versions = {n: hub.cases.get(n, AGENT).version for n in (complaint, enquiry, known)}

    done = import_year(hub.cases, load_schedule_file(SAMPLE), SUPERVISOR)

    assert sorted(done.moved) == sorted([complaint, enquiry])
    assert done.confirmed == [] and done.replaced is False and done.sample is True
    # With Jan 1-3 off: Dec 29-31 (3), Jan 4-8 (8), Jan 11-15 (13), Jan 18, 19 (15).
    after = hub.cases.get(complaint, AGENT)
    assert after.handling.due_at == end_of(2027, 1, 19)
    assert after.handling.due_basis.provisional is False
    assert after.version == versions[complaint] + 1
    line = after.history[-1]
    assert (line.action, line.actor) == ("recount_deadlines", "centre-supervisor")
    assert line.data == {"moved": {"due_at": {"from": "2027-01-18T15:59:59+00:00", "to": "2027-01-19T15:59:59+00:00"}}, "provisional": []}
    # The extension counted from the dispatch: 3 + 2 working days = Dec 29, 30, 31, Jan 4, 5.
    assert hub.cases.get(enquiry, AGENT).handling.due_at == end_of(2027, 1, 5)
    untouched = hub.cases.get(known, AGENT)
    assert untouched.version == versions[known]
    assert [h for h in untouched.history if h.action == "recount_deadlines"] == []

    # New work is counted on the imported year at once (the store's cache was dropped).
    fresh = dispatched(hub, "complaint")
    assert hub.cases.get(fresh, AGENT).handling.due_at == end_of(2027, 1, 19)
    assert hub.cases.get(fresh, AGENT).handling.due_basis.provisional is False

    # Loading the year again needs replace; with it, nothing provisional is left to recount.
    with pytest.raises(YearAlreadyLoaded):
        import_year(hub.cases, load_schedule_file(SAMPLE), SUPERVISOR)
    again = import_year(hub.cases, load_schedule_file(SAMPLE), SUPERVISOR, replace=True)
    assert (again.replaced, again.moved, again.confirmed) == (True, [], [])
    assert [r.year for r in hub.calendars.years()] == [2027]
    assert hub.calendars.schedule(2027) == load_schedule_file(SAMPLE)


def test_a_wrong_year_is_refused_whole_and_nothing_is_written(hub, december) -> None:
    complaint = dispatched(hub, "complaint")
    before = hub.cases.get(complaint, AGENT)
    doc = load_schedule_file(SAMPLE).model_dump(by_alias=True)
    doc["workdays"].append({"name": "错误", "date": "2027-03-01"})  # a Monday
    with pytest.raises(ScheduleRefused) as caught:
        import_year(hub.cases, YearSchedule.model_validate(doc), SUPERVISOR)
    assert caught.value.problems == [(("workdays", 4, "date"), "2027-03-01 is a Monday: a make-up working day (调休上班) is a Saturday or Sunday")]
    with hub.db.read() as s:
        assert s.execute(select(func.count()).select_from(CalendarYearRow)).scalar_one() == 0
    assert hub.cases.get(complaint, AGENT) == before
    assert hub.calendars.calendar().knows_year(2027) is False


def test_a_failure_while_recounting_rolls_the_year_back(hub, december, monkeypatch) -> None:
    dispatched(hub, "complaint")

    def broken(self, case, actor, now):
        raise RuntimeError("disk full")

    monkeypatch.setattr("hub.domain.engine.Engine.recount_deadlines", broken)
    with pytest.raises(RuntimeError):
        import_year(hub.cases, load_schedule_file(SAMPLE), SUPERVISOR)
    with hub.db.read() as s:
        assert s.execute(select(func.count()).select_from(CalendarYearRow)).scalar_one() == 0


def test_schedule_file_errors_name_the_line(tmp_path: Path) -> None:
    from hub.mappings import MappingError

    bad = tmp_path / "2027.yaml"
    text = SAMPLE.read_text(encoding="utf-8").replace("{name: 国庆节调休上班, date: 2027-10-09}", "{name: 国庆节调休上班, date: 2027-10-08}")
    bad.write_text(text, encoding="utf-8")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "2027-10-08" in t)
    with pytest.raises(MappingError) as caught:
        load_schedule_file(bad)
    assert str(caught.value) == (
        f"{bad}:{line}: entry '国庆节调休上班': workdays[3].date: 2027-10-08 is a Friday: a make-up working day (调休上班) is a Saturday or Sunday"
    )


def test_the_scheduler_recounts_a_case_dispatched_with_an_older_cached_calendar(hub, december, settings) -> None:
    from hub.runtime import build_hub
    from supervision.scheduler import Scheduler

    other = build_hub(settings, december)  # another process: its calendar cached before the import
    try:
        assert other.calendars.calendar().knows_year(2027) is False
        import_year(hub.cases, load_schedule_file(SAMPLE), SUPERVISOR)
        case = other.cases.register(CaseDraft.model_validate(draft(request_type="complaint")), AGENT).case
        other.cases.act(case.number, c.Accept(), AGENT)
        other.cases.act(case.number, c.Dispatch(lead_unit="ZY-SCJGJ"), AGENT)
    finally:
        other.close()
    assert hub.cases.get(case.number, AGENT).handling.due_at == end_of(2027, 1, 18)  # counted Mon-Fri

    result = Scheduler(hub, holder="only").run_once()

    assert result.recounted == [case.number]
    after = hub.cases.get(case.number, AGENT)
    assert after.handling.due_at == end_of(2027, 1, 19)
    assert after.handling.due_basis.provisional is False
    assert (after.history[-1].action, after.history[-1].actor) == ("recount_deadlines", "hub")
    assert Scheduler(hub, holder="only").run_once().recounted == []  # nothing left to count


def test_the_scheduler_warns_once_a_day_while_next_year_is_missing(hub, clock, caplog) -> None:
    import logging
    from datetime import timedelta

    from supervision.scheduler import Scheduler

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "hub.calendar" and r.levelno == logging.WARNING]

    caplog.set_level(logging.WARNING, logger="hub.calendar")
    scheduler = Scheduler(hub, holder="only")
    clock.set(datetime(2026, 10, 31, 10, tzinfo=LOCAL_TZ))  # October: not yet
    scheduler.run_once()
    assert warnings() == []
    clock.set(datetime(2026, 11, 1, 10, tzinfo=LOCAL_TZ))
    scheduler.run_once()
    scheduler.run_once()
    assert len(warnings()) == 1 and "2027" in warnings()[0] and "calendar import" in warnings()[0]
    clock.advance(timedelta(days=1))
    scheduler.run_once()
    assert len(warnings()) == 2
    import_year(hub.cases, load_schedule_file(SAMPLE), SUPERVISOR)
    clock.advance(timedelta(days=1))
    scheduler.run_once()
    assert len(warnings()) == 2
