"""Which cases a period's assessment reads (issue 21, target 6): those with an assessed line in
the period, and those whose deadline set before it falls in it; not every case with history in
the look-back. The figures must be the ones the whole look-back gives (the reading before 0023),
and the reads go through the history's (action, at) index, not every line of seven months."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.model import Role
from supervision.assessment import CaseLines, Line, Period, compute, units_in
from supervision.queries import APPEAL_ACTIONS, ASSESSED_ACTIONS, assessed_cases, assessment_lines
from tests.integration.test_scale_reads import plan
from tests.integration.test_supervision_scheduler import AGENT, dispatched, local

S = "ZY-SCJGJ"
AS_S = Actor(S, Role.UNIT, unit_code=S)
LOOKBACK = timedelta(days=180)


def whole_lookback(hub, numbers: list[str], since, until) -> list[CaseLines]:
    """The reading before 0023, written out here: every case with any history line in
    [since, until), all its assessed lines before `until` (appeals whenever)."""
    out = []
    for number in numbers:
        case = hub.cases.get(number, AGENT)
        if not any(since <= h.at < until for h in case.history):
            continue
        lines = [
            Line(h.seq, h.at, h.action, h.role.value if hasattr(h.role, "value") else h.role, h.data or {})
            for h in case.history
            if h.action in ASSESSED_ACTIONS and (h.at < until or h.action in APPEAL_ACTIONS)
        ]
        out.append(CaseLines(case.number, case.place.division_code[:6], lines))
    return out


def build(hub, clock) -> dict[str, str]:
    n: dict[str, str] = {}
    # B: all in September (dispatched Fri Sep 26, signed and replied by Sep 29): nothing in November.
    n["B"] = dispatched(hub, "enquiry", unit=S)
    clock.set(local(2025, 9, 29, 9))
    hub.cases.act(n["B"], c.SignOff(), AS_S)
    hub.cases.act(n["B"], c.ReplyCmd(text="已办理"), AS_S)
    # A: a complaint dispatched Tue Oct 28, signed the next day, its completion deadline in
    # November (15 working days), never replied and no line written in November.
    clock.set(local(2025, 10, 28, 10))
    n["A"] = dispatched(hub, "complaint", unit=S)
    clock.set(local(2025, 10, 29, 9))
    hub.cases.act(n["A"], c.SignOff(), AS_S)
    # C: dispatched, signed off and replied in November.
    clock.set(local(2025, 11, 3, 10))
    n["C"] = dispatched(hub, "enquiry", unit=S)
    clock.set(local(2025, 11, 4, 9))
    hub.cases.act(n["C"], c.SignOff(), AS_S)
    hub.cases.act(n["C"], c.ReplyCmd(text="已办理"), AS_S)
    clock.set(local(2025, 12, 5, 9))
    return n


def test_the_period_reads_its_cases_and_the_deadlines_falling_in_it(hub, clock) -> None:
    n = build(hub, clock)
    period = Period.parse("2025-11")
    since = period.start - LOOKBACK
    read = assessment_lines(hub.db, since, period.start, period.end, None)
    assert sorted(x.number for x in read) == sorted([n["A"], n["C"]])  # B has nothing in November
    a = next(x for x in read if x.number == n["A"])
    assert [ln.action for ln in a.lines] == ["dispatch", "sign_off"]  # every assessed line of the case, not only November's
    # A's completion deadline is in November and it was never replied: 超期, though A wrote nothing in November.
    figures = compute(read, period, clock.now())
    assert figures.figure("overdue").cases == [n["A"]]
    assert figures.figure("on_time_rate").denominator_cases == sorted([n["A"], n["C"]])
    assert figures.figure("on_time_rate").cases == [n["C"]]
    assert figures.figure("sign_off_rate").cases == [n["C"]]  # A was signed off in October, its sign-off due in October


def test_the_figures_are_those_of_the_whole_lookback(hub, clock) -> None:
    n = build(hub, clock)
    for label in ("2025-09", "2025-10", "2025-11", "2025-Q4", "2025"):
        period = Period.parse(label)
        since = period.start - LOOKBACK
        read = assessment_lines(hub.db, since, period.start, period.end, None)
        before = whole_lookback(hub, list(n.values()), since, period.end)
        now = clock.now()
        assert compute(read, period, now) == compute(before, period, now), label
        units = units_in(before, period, now)
        assert units_in(read, period, now) == units
        for unit in units:
            assert compute(read, period, now, unit) == compute(before, period, now, unit), (label, unit)


def test_the_assessment_finds_its_cases_through_the_action_time_index(hub, clock) -> None:
    period = Period.parse("2025-11")
    stmt = assessed_cases(period.start - LOOKBACK, period.start, period.end)
    if hub.db.is_sqlite:
        found = plan(hub, stmt)
        assert "ix_case_history_action_at" in found, found
        assert "SCAN case_history" not in found, found
    else:  # a tiny table may be scanned by PostgreSQL's choice: the index is there to use
        with hub.db.writer.connect() as conn:
            defined = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_case_history_action_at'")).scalar_one()
        assert defined.endswith("(action, at)")
