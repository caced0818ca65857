"""考核申诉 (issue #20) on a real SQLite file and a real PostgreSQL. A complaint dispatched
Fri 2025-09-26 to ZY-SCJGJ is due in October; the unit replies a day late, the caller is
unsatisfied. In November the unit appeals the 超期 and a supervisor upholds it: October's
按期办结率 for ZY-SCJGJ moves from 0/1 to 1/1, its 超期件数 from 1 to 0, and the item shows
the appeal; November counts one appeal made and one upheld. Its appeal on the 不满意 is
refused: October's 满意率 stays 0/1 with the refusal beside the item."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.errors import AccessDenied, ActionNotAllowed, RuleViolation
from hub.domain.model import CaseState, Role
from supervision.assessment import Period
from supervision.service import Supervision
from tests.integration.test_supervision_scheduler import AGENT, SUPERVISOR, UNIT, dispatched, event_types, local

OTHER_UNIT = Actor("ZY-RSJ", Role.UNIT, unit_code="ZY-RSJ")
OCTOBER, NOVEMBER = Period.parse("2025-10"), Period.parse("2025-11")


def test_an_upheld_appeal_moves_the_figure_it_contests(hub, clock) -> None:
    late, timely = dispatched(hub), dispatched(hub)
    due = hub.cases.get(late, AGENT).handling.due_at
    assert due is not None and (due.year, due.month) == (2025, 10)  # the complaint's limit ends in October
    for number in (late, timely):
        hub.cases.act(number, c.SignOff(), UNIT)
    hub.cases.act(timely, c.ReplyCmd(text="已处理"), UNIT)
    clock.set(due + timedelta(days=1))
    hub.cases.act(late, c.ReplyCmd(text="已责令整改"), UNIT)
    hub.cases.act(late, c.ReviewReply(approved=True), AGENT)
    hub.cases.act(late, c.FollowUpCmd(reached=True, resolved=False, satisfaction="unsatisfied"), AGENT)
    assert hub.cases.get(late, AGENT).state is CaseState.REDO_REQUIRED

    clock.set(local(2025, 11, 3, 10))
    with pytest.raises(RuleViolation, match="nothing to appeal"):  # replied on time
        hub.cases.act(timely, c.AppealAssessment(grounds="overdue", reason="无"), UNIT)
    with pytest.raises(AccessDenied):  # only the lead unit appeals its own figure
        hub.cases.act(late, c.AppealAssessment(grounds="overdue", reason="代为申诉"), OTHER_UNIT)
    with pytest.raises(ActionNotAllowed):  # the centre decides appeals, it does not make them
        hub.cases.act(late, c.AppealAssessment(grounds="overdue", reason="x"), AGENT)
    hub.cases.act(late, c.AppealAssessment(grounds="overdue", reason="派单时办结时限少算了调休日"), UNIT)
    assert hub.cases.get(late, AGENT).flags.appealed is True
    with pytest.raises(RuleViolation, match="already pending"):
        hub.cases.act(late, c.AppealAssessment(grounds="unsatisfied", reason="x"), UNIT)
    pending = hub.handles.get(Supervision).assess(OCTOBER, unit="ZY-SCJGJ").figure("on_time_rate")
    assert [(i.case, i.counted, i.appeal) for i in pending.items if i.case == late] == [(late, False, "pending")]
    with pytest.raises(ActionNotAllowed):
        hub.cases.act(late, c.DecideAppeal(upheld=True), AGENT)

    clock.advance(timedelta(days=1))
    hub.cases.act(late, c.DecideAppeal(upheld=True, note="核实时限设置有误"), SUPERVISOR)
    case = hub.cases.get(late, AGENT)
    assert case.flags.appealed is False
    assert [(a.grounds, a.unit, a.upheld) for a in case.flags.appeals] == [("overdue", "ZY-SCJGJ", True)]
    assert event_types(hub, late)[-2:] == ["case.assessment_appealed", "case.appeal_decided"]
    with pytest.raises(RuleViolation, match="no pending"):
        hub.cases.act(late, c.DecideAppeal(upheld=False), SUPERVISOR)
    with pytest.raises(RuleViolation, match="already appealed"):
        hub.cases.act(late, c.AppealAssessment(grounds="overdue", reason="再次申诉"), UNIT)

    october = hub.handles.get(Supervision).assess(OCTOBER, unit="ZY-SCJGJ")
    on_time = october.figure("on_time_rate")
    assert (on_time.numerator, on_time.denominator) == (2, 2)
    assert {i.case: i.appeal for i in on_time.items} == {late: "upheld", timely: None}
    assert october.figure("overdue").numerator == 0
    november = hub.handles.get(Supervision).assess(NOVEMBER, unit="ZY-SCJGJ")
    assert (november.figure("appealed").cases, november.figure("appeals_upheld").cases) == ([late], [late])

    hub.cases.act(late, c.AppealAssessment(grounds="unsatisfied", reason="已依政策答复"), UNIT)
    hub.cases.act(late, c.DecideAppeal(upheld=False), SUPERVISOR)
    satisfaction = hub.handles.get(Supervision).assess(OCTOBER, unit="ZY-SCJGJ").figure("satisfaction_rate")
    assert (satisfaction.numerator, satisfaction.denominator) == (0, 1)
    assert [i.appeal for i in satisfaction.items] == ["refused"]
