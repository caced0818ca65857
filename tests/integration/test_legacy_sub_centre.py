"""设分中心: accepted cases in a sub-centre line's domain (12369 environment, categories "04")
are dispatched to its unit (ZY-STHJJ) by the hub itself, through the case engine, once,
after the accept has committed (SQLite file and PostgreSQL)."""

from __future__ import annotations

import time

from sqlalchemy import select

from adapters.legacy_hotlines.config import SubCentreRouting
from adapters.legacy_hotlines.handle import Legacy
from adapters.legacy_hotlines.sub_centre import SubCentreRouter
from hub.db.models import EventRow
from hub.domain.access import Actor
from hub.domain.commands import Accept, Dispatch, FollowUpCmd, Redo, ReplyCmd, ReviewReply, SignOff
from hub.domain.model import CaseDraft, CaseState, Role
from tests.support.factories import draft

AGENT = Actor(party="centre-agent", role=Role.AGENT)
STHJJ = Actor(party="ZY-STHJJ", role=Role.UNIT, unit_code="ZY-STHJJ")


def register(hub, category: str, accept: bool = True) -> str:
    number = hub.cases.register(CaseDraft.model_validate(draft(category_code=category)), AGENT).case.number
    if accept:
        hub.cases.act(number, Accept(), AGENT)
    return number


def router_of(hub) -> SubCentreRouter:
    return hub.handles.get(Legacy).sub_centre


def dispatch_events(hub, number: str) -> list[dict]:
    with hub.db.read() as s:
        rows = s.execute(select(EventRow).where(EventRow.case_number == number, EventRow.type == "case.dispatched").order_by(EventRow.id)).scalars()
        return [r.payload for r in rows]


def test_accepted_cases_of_a_sub_centre_line_go_to_its_unit_once(hub):
    noise = register(hub, "0403")  # 噪声污染: 12369's domain
    water = register(hub, "0402")
    waiting = register(hub, "0401", accept=False)  # not accepted yet: 受理 is the centre's judgement
    streets = register(hub, "0101")  # 城市管理: no sub-centre
    router = router_of(hub)
    first = router.run_once()
    assert sorted(first.dispatched) == sorted([f"{noise} -> ZY-STHJJ (12369)", f"{water} -> ZY-STHJJ (12369)"])
    for number in (noise, water):
        case = hub.cases.get(number, AGENT)
        assert case.state is CaseState.AWAITING_SIGN_OFF and case.handling.lead_unit == "ZY-STHJJ"
        assert case.handling.sign_off_due is not None and case.handling.due_at is not None  # a real dispatch
        last = case.history[-1]
        assert (last.action, last.actor, last.role) == ("dispatch", "hub", Role.SYSTEM)
        (event,) = dispatch_events(hub, number)
        assert (event["actor"], event["role"], event["data"]["lead_unit"]) == ("hub", "system", "ZY-STHJJ")
    assert hub.cases.get(waiting, AGENT).state is CaseState.REGISTERED
    assert hub.cases.get(streets, AGENT).state is CaseState.ACCEPTED
    # Idempotent: another look changes nothing, the unit sees its cases.
    again = router.run_once()
    assert again.dispatched == [] and again.skipped == []
    assert [len(dispatch_events(hub, n)) for n in (noise, water)] == [1, 1]
    assert hub.cases.get(noise, STHJJ).number == noise
    # Accepted later: routed on the next look.
    hub.cases.act(waiting, Accept(), AGENT)
    assert router.run_once().dispatched == [f"{waiting} -> ZY-STHJJ (12369)"]


def test_a_case_someone_else_moved_is_left_alone(hub):
    number = register(hub, "0404")
    router = router_of(hub)
    seen = router.due()
    assert [n for n, _, _ in seen] == [number]
    hub.cases.act(number, Dispatch(lead_unit="YJ-GOV"), AGENT)  # an agent chose otherwise in between
    router.due = lambda: seen  # the router acts on what it read before the agent's change
    result = router.route()
    assert result.dispatched == [] and len(result.skipped) == 1 and number in result.skipped[0]
    case = hub.cases.get(number, AGENT)
    assert case.handling.lead_unit == "YJ-GOV" and [e["actor"] for e in dispatch_events(hub, number)] == ["centre-agent"]


def test_one_router_leads_across_processes(hub):
    register(hub, "0401")
    config = hub.handles.get(Legacy).config
    a, b = SubCentreRouter(hub, config, holder="process-a"), SubCentreRouter(hub, config, holder="process-b")
    assert a.run_once().leased and len(router_of(hub).due()) == 0
    assert b.run_once().leased is False
    a.lease.release()
    assert b.run_once().leased


def test_a_redone_case_goes_back_to_the_sub_centre(hub):
    number = register(hub, "0403")
    router = router_of(hub)
    router.run_once()
    hub.cases.act(number, SignOff(), STHJJ)
    hub.cases.act(number, ReplyCmd(text="已责令整改"), STHJJ)
    hub.cases.act(number, ReviewReply(approved=True), AGENT)
    hub.cases.act(number, FollowUpCmd(reached=True, resolved=False, satisfaction="unsatisfied"), AGENT)
    hub.cases.act(number, Redo(), AGENT)
    assert hub.cases.get(number, AGENT).state is CaseState.ACCEPTED
    assert router.run_once().dispatched == [f"{number} -> ZY-STHJJ (12369)"]
    assert len(dispatch_events(hub, number)) == 2


def test_an_accept_wakes_the_running_router_after_it_commits(hub):
    config = hub.handles.get(Legacy).config
    config.sub_centre = SubCentreRouting(interval_seconds=3600)  # only the doorbell can make it look again soon
    router = SubCentreRouter(hub, config, holder="bell-test")
    hub.cases.sinks.append(router.sink)
    router.start()
    try:
        time.sleep(0.2)  # its first look (nothing due) is done; now it waits on the bell
        number = register(hub, "0402")
        deadline = time.monotonic() + 60
        while hub.cases.get(number, AGENT).state is CaseState.ACCEPTED and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hub.cases.get(number, AGENT).handling.lead_unit == "ZY-STHJJ"
    finally:
        router.stop()
