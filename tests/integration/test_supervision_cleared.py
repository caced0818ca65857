"""解除督办 (issue #20) on a real SQLite file and a real PostgreSQL: a supervisor lifts the
scheduler's supervision of an overdue case with a reason; the flag clears, the open list
drops the case, the event is stored, and the scheduler does not raise it again for the same
dispatch, only after a re-dispatch that runs overdue again. Clock: a complaint dispatched
Fri 2025-09-26 10:00 as an enquiry is due Tue Sep 30 23:59:59 (3rd working day)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.domain import commands as c
from hub.domain.errors import ActionNotAllowed, RuleViolation
from supervision.queries import supervised_cases
from supervision.scheduler import Scheduler
from tests.integration.test_supervision_scheduler import AGENT, SUPERVISOR, UNIT, dispatched, event_types, lines, local


def test_a_cleared_supervision_stays_cleared_until_the_next_dispatch(hub, clock) -> None:
    scheduler = Scheduler(hub, holder="only")
    number = dispatched(hub, "enquiry")
    with pytest.raises(RuleViolation, match="not supervised"):
        hub.cases.act(number, c.ClearSupervision(reason="无督办"), SUPERVISOR)
    clock.set(local(2025, 10, 1, 0, 0, 1))
    assert scheduler.run_once().supervised == [number]
    assert [s.number for s in supervised_cases(hub.db, SUPERVISOR, True, None, 50)] == [number]

    with pytest.raises(ActionNotAllowed):  # an agent does not lift a supervision
        hub.cases.act(number, c.ClearSupervision(reason="单位已说明"), AGENT)
    hub.cases.act(number, c.ClearSupervision(reason="单位已说明情况，节后办理"), SUPERVISOR)
    case = hub.cases.get(number, AGENT)
    assert case.flags.supervised is False and case.flags.overdue is True
    (cleared,) = lines(hub, number, "clear_supervision")
    assert cleared.data == {"reason": "单位已说明情况，节后办理", "unit": "ZY-SCJGJ", "chased": 0}
    assert event_types(hub, number)[-1] == "case.supervision_cleared"
    assert supervised_cases(hub.db, SUPERVISOR, True, None, 50) == []  # not open any more
    assert [s.number for s in supervised_cases(hub.db, SUPERVISOR, False, None, 50)] == [number]  # history keeps it

    for _ in range(3):  # still overdue, but lifted by a person: not raised again
        clock.advance(timedelta(hours=5))
        assert scheduler.run_once().supervised == []

    # Given back and re-dispatched: a new time limit, overdue again, supervised again.
    hub.cases.act(number, c.RequestReturn(reason="不属于本单位职责"), UNIT)
    hub.cases.act(number, c.DecideReturn(approved=True), AGENT)
    hub.cases.act(number, c.Redispatch(lead_unit="ZY-SCJGJ"), AGENT)
    clock.set(local(2025, 10, 20, 0, 0, 1))
    assert scheduler.run_once().supervised == [number]
    assert len(lines(hub, number, "supervise")) == 2
