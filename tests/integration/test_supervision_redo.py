"""回访 and 重办: a case goes round the redo loop; more redos than configured escalate to
督办 by the scheduler, once the redone case is with a unit again."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from hub.db.models import EventRow
from hub.domain import commands as c
from hub.domain.model import CaseState, Role
from hub.runtime import build_hub
from hub.settings import Settings
from supervision.scheduler import Scheduler
from tests.integration.test_supervision_scheduler import AGENT, SUPERVISOR, UNIT, dispatched, lines


def _round(hub, clock, number: str, resolved: bool, satisfaction: str) -> None:
    """Sign off, reply, review and follow up: one turn of the loop, an hour per step."""
    for command, actor in ((c.SignOff(), UNIT), (c.ReplyCmd(text="已处理"), UNIT), (c.ReviewReply(approved=True), AGENT)):
        clock.advance(timedelta(hours=1))
        hub.cases.act(number, command, actor)
    clock.advance(timedelta(hours=1))
    hub.cases.act(number, c.FollowUpCmd(reached=False), AGENT)  # nobody answered: try again later
    assert hub.cases.get(number, AGENT).state is CaseState.AWAITING_FOLLOW_UP
    clock.advance(timedelta(hours=1))
    hub.cases.act(number, c.FollowUpCmd(reached=True, resolved=resolved, satisfaction=satisfaction), AGENT)


def test_the_redo_loop_escalates_after_more_redos_than_configured(hub, clock) -> None:
    assert hub.settings.supervision.max_redos_before_supervision == 1
    scheduler = Scheduler(hub, holder="only")
    number = dispatched(hub, "complaint")

    _round(hub, clock, number, resolved=True, satisfaction="unsatisfied")  # 不满意
    assert hub.cases.get(number, AGENT).state is CaseState.REDO_REQUIRED
    hub.cases.act(number, c.Redo(), AGENT)
    case = hub.cases.get(number, AGENT)
    assert case.state is CaseState.ACCEPTED and case.outcome.redo_count == 1 and case.outcome.reply is None
    hub.cases.act(number, c.Dispatch(lead_unit="ZY-SCJGJ"), AGENT)
    assert scheduler.sweep().supervised == []  # one redo is within the limit

    _round(hub, clock, number, resolved=False, satisfaction="basically_satisfied")  # 未解决
    assert hub.cases.get(number, AGENT).state is CaseState.REDO_REQUIRED
    hub.cases.act(number, c.Redo(), AGENT)
    assert hub.cases.get(number, AGENT).outcome.redo_count == 2
    assert scheduler.sweep().supervised == []  # back at dispatch: no unit to supervise yet
    hub.cases.act(number, c.Dispatch(lead_unit="ZY-SCJGJ"), AGENT)
    assert scheduler.sweep().supervised == [number]
    assert scheduler.sweep().changes == 0
    (sup,) = lines(hub, number, "supervise")
    assert sup.role is Role.SYSTEM and "重办 2 次" in sup.data["reason"] and sup.data["unit"] == "ZY-SCJGJ"

    _round(hub, clock, number, resolved=True, satisfaction="satisfied")
    case = hub.cases.get(number, AGENT)
    assert case.state is CaseState.CLOSED and case.outcome.redo_count == 2
    assert [(f.reached, f.resolved, f.satisfaction) for f in case.outcome.follow_ups] == [
        (False, None, None),
        (True, True, "unsatisfied"),
        (False, None, None),
        (True, False, "basically_satisfied"),
        (False, None, None),
        (True, True, "satisfied"),
    ]
    with hub.db.read() as s:
        types = list(s.execute(select(EventRow.type).where(EventRow.case_number == number)).scalars())
    assert types.count("case.redo") == 2 and types.count("case.supervised") == 1
    hub.cases.act(number, c.Archive(), SUPERVISOR)


def test_the_limit_is_configuration(db_url, clock) -> None:
    hub = build_hub(Settings(database_url=db_url, sqlite_synchronous="NORMAL", supervision={"max_redos_before_supervision": 2}), clock)
    try:
        number = dispatched(hub, "help")
        for _ in range(2):
            _round(hub, clock, number, resolved=False, satisfaction="unsatisfied")
            hub.cases.act(number, c.Redo(), AGENT)
            hub.cases.act(number, c.Dispatch(lead_unit="ZY-SCJGJ"), AGENT)
        assert Scheduler(hub, holder="only").sweep().supervised == []  # 2 redos: not more than 2
    finally:
        hub.close()
