"""不合理诉求 (issue #20) on a real SQLite file and a real PostgreSQL: the lead unit applies
with its reply, a supervisor approves, and the month's assessment leaves the case out of
满意率 and 解决率 and counts it apart. Two cases dispatched Fri 2025-09-26 to ZY-SCJGJ, both
followed up reached in October: A 满意 and resolved; B 不满意 and unresolved, judged
unreasonable. October for ZY-SCJGJ: 满意率 1/1 (A only), 解决率 1/1, 不合理诉求件数 1 (B);
without the approval it would have been 1/2."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.errors import AccessDenied, ActionNotAllowed, RuleViolation
from hub.domain.model import Role
from supervision.assessment import Period
from supervision.service import Supervision
from tests.integration.test_supervision_scheduler import AGENT, SUPERVISOR, UNIT, dispatched, event_types, local

OTHER_UNIT = Actor("ZY-RSJ", Role.UNIT, unit_code="ZY-RSJ")


def _to_follow_up(hub, clock, number: str, unreasonable: bool) -> None:
    hub.cases.act(number, c.SignOff(), UNIT)
    if unreasonable:
        hub.cases.act(number, c.RequestUnreasonable(reason="诉求人要求赔偿超出政策规定"), UNIT)
    hub.cases.act(number, c.ReplyCmd(text="已按政策答复"), UNIT)
    hub.cases.act(number, c.ReviewReply(approved=True), AGENT)


def test_an_approved_unreasonable_request_leaves_the_satisfaction_figures(hub, clock) -> None:
    a, b = dispatched(hub), dispatched(hub)
    _to_follow_up(hub, clock, a, unreasonable=False)
    _to_follow_up(hub, clock, b, unreasonable=True)
    with pytest.raises(AccessDenied):  # only the lead unit applies
        hub.cases.act(b, c.RequestUnreasonable(reason="另一单位"), OTHER_UNIT)
    assert hub.cases.get(b, AGENT).flags.unreasonable_requested is True
    with pytest.raises(ActionNotAllowed):  # the decision is a supervisor's
        hub.cases.act(b, c.DecideUnreasonable(approved=True), AGENT)

    clock.set(local(2025, 10, 10, 10))
    hub.cases.act(a, c.FollowUpCmd(reached=True, resolved=True, satisfaction="satisfied"), AGENT)
    hub.cases.act(b, c.FollowUpCmd(reached=True, resolved=False, satisfaction="unsatisfied"), AGENT)
    october = Period.parse("2025-10")
    before = hub.handles.get(Supervision).assess(october, unit="ZY-SCJGJ")
    assert (before.figure("satisfaction_rate").numerator, before.figure("satisfaction_rate").denominator) == (1, 2)

    clock.advance(timedelta(hours=1))
    hub.cases.act(b, c.DecideUnreasonable(approved=True, note="经核实诉求超出政策范围"), SUPERVISOR)
    case = hub.cases.get(b, AGENT)
    assert (case.flags.unreasonable, case.flags.unreasonable_requested) == (True, False)
    assert event_types(hub, b)[-1] == "case.unreasonable_decided"
    assert "case.unreasonable_requested" in event_types(hub, b)
    with pytest.raises(RuleViolation, match="no pending"):
        hub.cases.act(b, c.DecideUnreasonable(approved=False), SUPERVISOR)

    clock.set(local(2025, 11, 5, 10))
    after = hub.handles.get(Supervision).assess(october, unit="ZY-SCJGJ")
    sat, res, unr = after.figure("satisfaction_rate"), after.figure("resolution_rate"), after.figure("unreasonable")
    assert (sat.numerator, sat.denominator, sat.denominator_cases) == (1, 1, [a])
    assert (res.numerator, res.denominator) == (1, 1)
    assert (unr.numerator, unr.cases) == (1, [b])
