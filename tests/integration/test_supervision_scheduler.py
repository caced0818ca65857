"""The scheduler on a real database: 预警, 超期 and 督办 as time moves through the manual
clock across the 2025 National Day holiday, exactly once, even with several schedulers."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from hub.db.models import EventRow
from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.clock import LOCAL_TZ
from hub.domain.model import CaseDraft, Role
from supervision.scheduler import Scheduler
from tests.support.factories import draft

AGENT = Actor("centre-agent", Role.AGENT)
SUPERVISOR = Actor("centre-supervisor", Role.SUPERVISOR)
UNIT = Actor("ZY-SCJGJ", Role.UNIT, unit_code="ZY-SCJGJ")
OTHER_UNIT = Actor("ZY-RSJ", Role.UNIT, unit_code="ZY-RSJ")


def local(y: int, m: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, s, tzinfo=LOCAL_TZ)


def register(hub, request_type: str = "complaint", **changes) -> str:
    case = hub.cases.register(CaseDraft.model_validate(draft(request_type=request_type, **changes)), AGENT).case
    hub.cases.act(case.number, c.Accept(), AGENT)
    return case.number


def dispatched(hub, request_type: str = "complaint", unit: str = "ZY-SCJGJ", **changes) -> str:
    number = register(hub, request_type, **changes)
    hub.cases.act(number, c.Dispatch(lead_unit=unit), AGENT)
    return number


def lines(hub, number: str, action: str) -> list:
    return [h for h in hub.cases.history(number, AGENT) if h.action == action]


def event_types(hub, number: str) -> list[str]:
    with hub.db.read() as s:
        return list(s.execute(select(EventRow.type).where(EventRow.case_number == number).order_by(EventRow.id)).scalars())


def test_warn_overdue_and_supervise_across_the_national_day_holiday(hub, clock) -> None:
    # Friday 2025-09-26 10:00: an enquiry (咨询, 3 working days) to ZY-SCJGJ.
    number = dispatched(hub, "enquiry")
    case = hub.cases.get(number, AGENT)
    # Sign-off: 1 working day. Saturday 27th is off, Sunday 28th a make-up working day (调休).
    assert case.handling.sign_off_due == local(2025, 9, 28, 23, 59, 59)
    # Completion: 28th (Sun, make-up), 29th, 30th; Oct 1-8 is the holiday.
    assert case.handling.due_at == local(2025, 9, 30, 23, 59, 59)
    scheduler = Scheduler(hub, holder="only")

    # The sign-off warning falls at 0.8 of 26th 10:00 -> 28th 23:59:59 = 28th 11:35:59.2.
    clock.set(local(2025, 9, 28, 11, 35))
    assert scheduler.run_once().changes == 0
    clock.set(local(2025, 9, 28, 11, 37))
    result = scheduler.run_once()
    assert result.warned == [f"{number}:sign_off"] and not result.overdue and not result.supervised
    assert scheduler.run_once().changes == 0  # idempotent
    assert hub.cases.get(number, AGENT).flags.warned is False  # the flag is about completion

    clock.set(local(2025, 9, 28, 14, 0))
    hub.cases.act(number, c.SignOff(), UNIT)
    # Completion warning: 0.8 of 26th 10:00 -> 30th 23:59:59 = 30th 01:59:59.2.
    clock.set(local(2025, 9, 30, 1, 59))
    assert scheduler.run_once().changes == 0
    clock.set(local(2025, 9, 30, 2, 0))
    assert scheduler.run_once().warned == [f"{number}:completion"]
    assert hub.cases.get(number, AGENT).flags.warned is True

    # One second after the deadline, in the holiday: overdue and supervised in one run.
    clock.set(local(2025, 10, 1, 0, 0, 0))
    result = scheduler.run_once()
    assert result.overdue == [f"{number}:completion"] and result.supervised == [number]
    version = hub.cases.get(number, AGENT).version
    for _ in range(3):
        clock.advance(timedelta(hours=7))
        assert scheduler.run_once().changes == 0
    case = hub.cases.get(number, AGENT)
    assert case.version == version and case.flags.overdue and case.flags.supervised
    sup = lines(hub, number, "supervise")
    assert len(sup) == 1 and sup[0].role is Role.SYSTEM
    # The unit answers by the end of the next working day: Oct 9, after the holiday.
    assert datetime.fromisoformat(sup[0].data["response_due"]) == local(2025, 10, 9, 23, 59, 59)
    assert [h.data["deadline"] for h in lines(hub, number, "warn")] == ["sign_off", "completion"]
    # Each step is an event in the case transaction, for the outbox to deliver to the unit.
    assert event_types(hub, number)[-4:] == ["case.signed_off", "case.warned", "case.overdue", "case.supervised"]
    assert [t for t in event_types(hub, number) if t == "case.warned"] == ["case.warned", "case.warned"]

    # The overdue list reads the flag the scheduler set.
    from hub.db.repository import CaseQuery

    listed, _ = hub.cases.list(CaseQuery(overdue=True), AGENT)
    assert [x.number for x in listed] == [number]


def test_unsigned_case_is_marked_late_for_sign_off_without_supervision(hub, clock) -> None:
    number = dispatched(hub, "complaint")
    scheduler = Scheduler(hub, holder="only")
    clock.set(local(2025, 9, 29, 0, 0, 1))  # Monday: the Sunday make-up day has ended
    result = scheduler.run_once()
    assert result.overdue == [f"{number}:sign_off"] and result.supervised == []
    case = hub.cases.get(number, AGENT)
    assert not case.flags.overdue and not case.flags.supervised  # completion is due Oct 23
    assert scheduler.run_once().changes == 0
    # Signing late stops the sign-off limit; nothing more happens until the completion warning.
    hub.cases.act(number, c.SignOff(), UNIT)
    assert lines(hub, number, "sign_off")[0].data["on_time"] is False
    assert scheduler.run_once().changes == 0


def test_an_approved_extension_sets_a_new_deadline_that_is_warned_again(hub, clock) -> None:
    number = dispatched(hub, "help")  # 求助: 7 working days -> Oct 13 (Oct 11 is a make-up Saturday)
    assert hub.cases.get(number, AGENT).handling.due_at == local(2025, 10, 13, 23, 59, 59)
    clock.set(local(2025, 9, 28, 9, 0))
    hub.cases.act(number, c.SignOff(), UNIT)
    scheduler = Scheduler(hub, holder="only")
    clock.set(local(2025, 10, 12, 12, 0))  # past 0.8 of 17.6 days
    assert scheduler.run_once().warned == [f"{number}:completion"]
    hub.cases.act(number, c.RequestExtension(working_days=2, reason="需现场核查"), UNIT)
    hub.cases.act(number, c.DecideExtension(approved=True), SUPERVISOR)
    case = hub.cases.get(number, AGENT)
    assert case.handling.due_at == local(2025, 10, 15, 23, 59, 59) and not case.flags.warned
    assert scheduler.run_once().warned == [f"{number}:completion"]  # the new deadline's warning
    assert scheduler.run_once().changes == 0
    clock.set(local(2025, 10, 15, 20, 0))
    hub.cases.act(number, c.ReplyCmd(text="已协调解决"), UNIT)
    clock.set(local(2025, 10, 20))
    assert scheduler.run_once().changes == 0  # replied in time: nothing runs any more


def test_the_engine_refuses_a_premature_or_repeated_mark(hub, clock) -> None:
    from hub.domain.access import SYSTEM_ACTOR
    from hub.domain.errors import RuleViolation

    number = dispatched(hub, "enquiry")
    with pytest.raises(RuleViolation, match="not overdue"):
        hub.cases.act(number, c.MarkOverdue(deadline=c.Deadline.COMPLETION), SYSTEM_ACTOR)
    with pytest.raises(RuleViolation, match="too early"):
        hub.cases.act(number, c.Warn(deadline=c.Deadline.SIGN_OFF), SYSTEM_ACTOR)
    clock.set(local(2025, 10, 2))
    hub.cases.act(number, c.MarkOverdue(deadline=c.Deadline.COMPLETION), SYSTEM_ACTOR)
    with pytest.raises(RuleViolation, match="already marked"):
        hub.cases.act(number, c.MarkOverdue(deadline=c.Deadline.COMPLETION), SYSTEM_ACTOR)
    with pytest.raises(RuleViolation, match="has passed"):
        hub.cases.act(number, c.Warn(deadline=c.Deadline.COMPLETION), SYSTEM_ACTOR)


@pytest.mark.parametrize("bypass_lease", [False, True], ids=["with-lease", "without-lease"])
def test_supervision_opened_exactly_once_with_concurrent_schedulers(hub, clock, bypass_lease: bool) -> None:
    numbers = [dispatched(hub, "enquiry", unit=unit) for unit in ("ZY-SCJGJ", "ZY-RSJ", "ZY-SCJGJ", "ZY-RSJ")]
    clock.set(local(2025, 10, 2, 9, 0))  # every one past sign-off and completion
    schedulers = [Scheduler(hub, holder=f"scheduler-{i}") for i in range(4)]
    start = threading.Barrier(len(schedulers))
    errors: list[BaseException] = []

    def run(s: Scheduler) -> None:
        try:
            start.wait(timeout=10)
            for _ in range(3):
                # Without the lease, only the case versions and the engine keep it to once.
                s.sweep() if bypass_lease else s.run_once()
        except BaseException as exc:  # surfaced below with its type
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    for number in numbers:
        assert len(lines(hub, number, "supervise")) == 1
        overdue = lines(hub, number, "mark_overdue")
        assert sorted(h.data["deadline"] for h in overdue) == ["completion", "sign_off"]
        assert [t for t in event_types(hub, number) if t == "case.supervised"] == ["case.supervised"]
    # One more run by anyone changes nothing.
    assert schedulers[0].sweep().changes == 0


def test_the_worker_runs_in_the_background_and_stops(hub, clock) -> None:
    number = dispatched(hub, "enquiry")
    clock.set(local(2025, 10, 2))
    worker = next(w for w in hub.workers if isinstance(w, Scheduler))
    assert worker.name == "scheduler"
    worker.start()
    try:
        for _ in range(100):  # bounded wait for the first run (a few ms in practice)
            if hub.cases.get(number, AGENT).flags.supervised:
                break
            threading.Event().wait(0.05)
    finally:
        worker.stop()
    assert hub.cases.get(number, AGENT).flags.supervised
    # stop() released the lease: another holder takes it at once.
    assert Scheduler(hub, holder="next").lease.acquire()


def test_a_sweep_reads_running_cases_a_page_at_a_time_and_misses_none(hub, clock, monkeypatch) -> None:
    from supervision import queries

    numbers = [dispatched(hub) for _ in range(5)]
    register(hub)  # registered, not dispatched: its time limits do not run
    pages = list(queries.running_cases(hub.db, page=2))
    assert [len(cases) for cases, _ in pages] == [2, 2, 1]
    assert [case.number for cases, _ in pages for case in cases] == numbers

    clock.set(clock.now() + timedelta(days=60))  # every deadline long past
    original = queries.running_cases
    queries_pages: list[int] = []

    def small_pages(db, page=2):  # noqa: ANN001, ANN202 - the scheduler's reader with tiny pages
        for cases, markers in original(db, page=2):
            queries_pages.append(len(cases))
            yield cases, markers

    monkeypatch.setattr("supervision.scheduler.running_cases", small_pages)
    result = Scheduler(hub).sweep()
    assert queries_pages == [2, 2, 1]
    assert set(numbers) <= {entry.split(":")[0] for entry in result.overdue}
