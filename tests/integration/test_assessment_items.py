"""The assessment from the stored items (issue 21, target 6; migration 0024): each case's items are
written with its history lines, a period reads those dated in it and in force at its end. Four
cases built by hand, their figures counted by hand below; the same figures as walking the
lines (the reading of 0023); the rows the write path keeps are the ones rebuilt from the
history (the migration's backfill); the read goes through the items' date index.

Deadlines (working days, no holiday in the span, each due at the end of its day): a complaint
has 15, an enquiry 3, sign-off 1.
- A, complaint to S, dispatched Tue Oct 28 10:00: sign-off due Oct 29 (signed Oct 29 09:00),
  completion due Tue Nov 18, never replied. S asks to return it on Nov 10; the
  centre agrees only on Dec 2. Judged at the end of November it was S's and overdue; the
  approval after the period does not reach back (with it, a return asked in time leaves A out).
- C, enquiry to S, dispatched Mon Nov 3 10:00 (sign-off due Nov 4, completion Nov 6):
  signed and replied Nov 4, reply approved Nov 4: a follow-up need of S in November, reached
  only on Dec 2 (satisfied, resolved): not reached at the end of November, a December follow-up.
- D, enquiry to R, dispatched Nov 3 10:00: supervised and chased twice on Nov 5 before it was
  signed (late) at 09:00, replied 10:00 (on time), reply approved; reached Nov 6, 基本满意, resolved.
- E, complaint to S, dispatched Thu Nov 20 10:00: signed 11:00 (sign-off due Nov 21), completion
  due Thu Dec 11: in December, still running on Dec 5 (now): no close item yet.
"""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from sqlalchemy import select

from hub.db.migrate import alembic_config
from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.model import Role
from supervision.assessment import Assessment, Period, compute, units_in
from supervision.items import rebuild
from supervision.queries import assessment_lines, items_in_period
from supervision.service import Supervision
from supervision.tables import AssessmentItemRow
from tests.integration.test_scale_reads import plan
from tests.integration.test_supervision_scheduler import AGENT, SUPERVISOR, dispatched, local

S, R = "ZY-SCJGJ", "ZY-RSJ"
AS_S, AS_R = Actor(S, Role.UNIT, unit_code=S), Actor(R, Role.UNIT, unit_code=R)


def build(hub, clock) -> dict[str, str]:
    n: dict[str, str] = {}
    clock.set(local(2025, 10, 28, 10))
    n["A"] = dispatched(hub, "complaint", unit=S)
    clock.set(local(2025, 10, 29, 9))
    hub.cases.act(n["A"], c.SignOff(), AS_S)
    clock.set(local(2025, 11, 3, 10))
    n["C"] = dispatched(hub, "enquiry", unit=S)
    n["D"] = dispatched(hub, "enquiry", unit=R)
    clock.set(local(2025, 11, 4, 9))
    hub.cases.act(n["C"], c.SignOff(), AS_S)
    clock.set(local(2025, 11, 4, 9, 30))
    hub.cases.act(n["C"], c.ReplyCmd(text="已答复"), AS_S)
    clock.set(local(2025, 11, 4, 10, 30))
    hub.cases.act(n["C"], c.ReviewReply(approved=True), AGENT)
    clock.set(local(2025, 11, 5, 8))
    hub.cases.act(n["D"], c.Supervise(reason="群众反映强烈"), SUPERVISOR)
    for minute in (30, 40):
        clock.set(local(2025, 11, 5, 8, minute))
        hub.cases.act(n["D"], c.Chase(reason="请尽快签收"), SUPERVISOR)
    clock.set(local(2025, 11, 5, 9))
    hub.cases.act(n["D"], c.SignOff(), AS_R)
    clock.set(local(2025, 11, 5, 10))
    hub.cases.act(n["D"], c.ReplyCmd(text="已办理"), AS_R)
    clock.set(local(2025, 11, 5, 11))
    hub.cases.act(n["D"], c.ReviewReply(approved=True), AGENT)
    clock.set(local(2025, 11, 6, 9))
    hub.cases.act(n["D"], c.FollowUpCmd(reached=True, resolved=True, satisfaction="basically_satisfied"), AGENT)
    clock.set(local(2025, 11, 10, 9))
    hub.cases.act(n["A"], c.RequestReturn(reason="不属于本单位职责"), AS_S)
    clock.set(local(2025, 11, 20, 10))
    n["E"] = dispatched(hub, "complaint", unit=S)
    clock.set(local(2025, 11, 20, 11))
    hub.cases.act(n["E"], c.SignOff(), AS_S)
    clock.set(local(2025, 12, 2, 9))
    hub.cases.act(n["A"], c.DecideReturn(approved=True), SUPERVISOR)
    hub.cases.act(n["C"], c.FollowUpCmd(reached=True, resolved=True, satisfaction="satisfied"), AGENT)
    clock.set(local(2025, 12, 5, 9))
    return n


def counts(a: Assessment) -> dict[str, tuple[int, int | None, list[str]]]:
    """Every figure with something in it: (numerator, denominator, the denominator's cases or the counted cases)."""
    return {f.key: (f.numerator, f.denominator, f.denominator_cases or f.cases) for f in a.figures if f.items}


def test_a_month_read_from_the_items_as_they_stood_at_its_end(hub, clock) -> None:
    n = build(hub, clock)
    A, C, D, E = n["A"], n["C"], n["D"], n["E"]
    due = {k: hub.cases.get(v, AGENT).handling for k, v in n.items() if k != "A"}
    assert (due["C"].sign_off_due, due["C"].due_at) == (local(2025, 11, 4, 23, 59, 59), local(2025, 11, 6, 23, 59, 59))
    assert (due["D"].sign_off_due, due["E"].sign_off_due, due["E"].due_at) == (
        local(2025, 11, 4, 23, 59, 59),
        local(2025, 11, 21, 23, 59, 59),
        local(2025, 12, 11, 23, 59, 59),
    )
    service = hub.handles.get(Supervision)
    november = Period.parse("2025-11")
    assert counts(service.assess(november, unit=S)) == {
        "sign_off_rate": (2, 2, sorted([C, E])),  # A's sign-off was due in October
        "on_time_rate": (1, 2, sorted([A, C])),  # A: due Nov 18, not replied, its return agreed only in December
        "overdue": (1, None, [A]),
        "follow_up_rate": (0, 1, [C]),  # C reached on Dec 2, after the month's end
    }
    assert counts(service.assess(november, unit=R)) == {
        "sign_off_rate": (0, 1, [D]),  # signed a day late
        "on_time_rate": (1, 1, [D]),
        "follow_up_rate": (1, 1, [D]),
        "satisfaction_rate": (1, 1, [D]),
        "resolution_rate": (1, 1, [D]),
        "supervised": (1, None, [D]),
        "chased": (1, None, [D]),  # twice, counted once per case
    }
    city = counts(service.assess(november))
    assert (city["sign_off_rate"][:2], city["on_time_rate"][:2], city["follow_up_rate"][:2], city["overdue"][:2]) == ((2, 3), (2, 3), (1, 2), (1, None))
    december = Period.parse("2025-12")
    assert counts(service.assess(december, unit=S)) == {
        "returned": (1, None, [A]),
        "satisfaction_rate": (1, 1, [C]),
        "resolution_rate": (1, 1, [C]),
    }  # E's completion (Dec 11) is still running on Dec 5: not judged yet
    assert counts(service.assess(december, unit=R)) == {}


def test_the_items_give_the_figures_of_the_lines_walked(hub, clock) -> None:
    n = build(hub, clock)
    service, now = hub.handles.get(Supervision), clock.now()
    for label in ("2025-10", "2025-11", "2025-12", "2025-Q4", "2025-11-04", "2025-W45"):
        period = Period.parse(label)
        lines = assessment_lines(hub.db, period.start - timedelta(days=180), period.start, period.end, None)
        assert service.assess(period) == compute(lines, period, now), label
        for unit in units_in(lines, period, now):
            assert service.assess(period, unit=unit) == compute(lines, period, now, unit), (label, unit)
        assert service.assess(period, county="512002") == compute(lines, period, now, county="512002"), label
    assert len(n) == 4


def _rows(hub) -> list[tuple]:
    columns = [c for c in AssessmentItemRow.__table__.columns if c.name != "id"]
    with hub.db.read() as s:
        return sorted((tuple(r) for r in s.execute(select(*columns))), key=repr)


def test_the_rows_kept_at_each_write_are_those_rebuilt_from_the_history(hub, clock) -> None:
    build(hub, clock)
    written = _rows(hub)
    assert {r[3] for r in written} >= {"sign_off", "close", "need", "follow_up", "returned", "supervised", "chased"}
    with hub.db.writer.begin() as conn:
        conn.execute(AssessmentItemRow.__table__.delete())
        assert rebuild(conn, batch=2) > 0  # batches of two cases
    assert _rows(hub) == written


def test_the_migration_fills_the_items_of_the_cases_stored_before_it(hub, clock) -> None:
    build(hub, clock)
    written = _rows(hub)
    november = hub.handles.get(Supervision).assess(Period.parse("2025-11"))
    cfg = alembic_config(hub.db.writer)
    command.downgrade(cfg, "0023_scale_reads")
    command.upgrade(cfg, "heads")
    assert _rows(hub) == written
    assert hub.handles.get(Supervision).assess(Period.parse("2025-11")) == november


def test_a_period_finds_its_items_through_their_date(hub) -> None:
    stmt = items_in_period(Period.parse("2025-11"), None)
    found = plan(hub, stmt)
    assert "ix_assessment_items_at" in found, found
