"""二次派单 (issue #20): a county-level unit that holds a case dispatches it on to one of its
township units with a deadline inside its own; the township signs off and replies up through
the county; returns and extensions go back up the same way; the centre sees the cascade and
who holds the case now. Units and townships are the shipped ones (mappings/, sample codes).

Hand counts on an ordinary November 2025: a complaint in 松涛镇 (512002105) dispatched Mon
Nov 3 10:00 to 雁江区人民政府 (YJ-GOV) is due at the end of Mon Nov 24 (15 working days).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.domain import commands as c
from hub.domain.access import Actor, can_see_case
from hub.domain.calendar import WorkingCalendar
from hub.domain.clock import LOCAL_TZ
from hub.domain.deadlines import TimeLimits
from hub.domain.engine import Engine
from hub.domain.errors import AccessDenied, RuleViolation
from hub.domain.model import CaseDraft, CaseState, ForwardState, Role
from hub.mappings.catalogue import load_catalogue
from hub.settings import REPO_ROOT
from tests.support.factories import draft

ENGINE = Engine(WorkingCalendar(), TimeLimits(), load_catalogue(REPO_ROOT / "mappings"))
AGENT = Actor("A017", Role.AGENT)
YANJIANG = Actor("yanjiang", Role.COUNTY, divisions=("512002",))
YJ_GOV = Actor("YJ-GOV", Role.UNIT, unit_code="YJ-GOV")
SONGTAO = Actor("YJ-STZ", Role.UNIT, unit_code="YJ-STZ")  # 松涛镇人民政府 (512002105)
YUEYANG = Actor("AY-YYZ", Role.UNIT, unit_code="AY-YYZ")  # 岳阳镇人民政府, 安岳县


def end_of(m: int, d: int) -> datetime:
    return datetime(2025, m, d, 23, 59, 59, tzinfo=LOCAL_TZ).astimezone(UTC)


def at(d: int, hour: int = 10) -> datetime:
    return datetime(2025, 11, d, hour, tzinfo=LOCAL_TZ)


def signed(lead: str = "YJ-GOV"):
    body = draft(place={"address": "雁江区松涛镇某村", "division_code": "512002105"})
    case = ENGINE.register(CaseDraft.model_validate(body), "512000202511030002", AGENT, at(3)).case
    case = ENGINE.act(case, c.Accept(), AGENT, at(3)).case
    case = ENGINE.act(case, c.Dispatch(lead_unit=lead), AGENT, at(3)).case
    assert case.handling.due_at == end_of(11, 24)
    return ENGINE.act(case, c.SignOff(), Actor(lead, Role.UNIT, unit_code=lead), at(4, 9)).case


def test_down_to_the_township_and_back_up_through_the_county() -> None:
    case = signed()
    # The county (for its government, the lead) dispatches on to 松涛镇, due Thu Nov 20.
    out = ENGINE.act(case, c.Forward(unit="YJ-STZ", due_at=end_of(11, 20)), YANJIANG, at(4, 10))
    assert [e.type for e in out.events] == ["case.forwarded"]
    case = out.case
    assert (case.state, case.handling.lead_unit, case.handling.holder) == (CaseState.IN_PROGRESS, "YJ-GOV", "YJ-STZ")
    forward = case.handling.cascade[0]
    # Sign-off: one working day after Tue Nov 4, the end of Wed Nov 5.
    assert (forward.by_unit, forward.sign_off_due, forward.due_at) == ("YJ-GOV", end_of(11, 5), end_of(11, 20))
    assert case.model_dump(mode="json")["handling"]["holder"] == "YJ-STZ"
    # The township sees the case now; another county's township does not.
    assert can_see_case(SONGTAO, case) and not can_see_case(YUEYANG, case)
    # While the township holds it, the lead does not reply the case.
    with pytest.raises(RuleViolation, match="with the township unit YJ-STZ"):
        ENGINE.act(case, c.ReplyCmd(text="已处理"), YJ_GOV, at(5))
    case = ENGINE.act(case, c.SignOffForward(), SONGTAO, at(5)).case
    assert case.history[-1].data == {"unit": "YJ-STZ", "on_time": True}
    # The township asks its county for 3 working days: Nov 20 + 3 is Tue Nov 25, past the case's
    # Nov 24, so the county may not grant them without asking the centre; 2 (Mon Nov 24) it may.
    case = ENGINE.act(case, c.RequestForwardExtension(working_days=3, reason="需协调村社"), SONGTAO, at(18)).case
    with pytest.raises(RuleViolation, match="ask the centre for the case's extension first"):
        ENGINE.act(case, c.DecideForwardExtension(approved=True), YJ_GOV, at(18))
    out = ENGINE.act(case, c.DecideForwardExtension(approved=True, working_days=2), YJ_GOV, at(18))
    assert out.case.handling.cascade[0].due_at == end_of(11, 24)
    assert [e.type for e in out.events] == ["case.forward_extension_decided"]
    # It replies up on Fri Nov 21: to the county, on time; the county holds the case again and replies it.
    out = ENGINE.act(out.case, c.ReplyForward(text="已现场协调，问题已解决"), SONGTAO, at(21))
    assert out.events[0].data == {"unit": "YJ-STZ", "to_unit": "YJ-GOV", "text": "已现场协调，问题已解决", "on_time": True}
    case = out.case
    assert (case.handling.holder, case.handling.cascade[0].state) == ("YJ-GOV", ForwardState.REPLIED)
    replied = ENGINE.act(case, c.ReplyCmd(text="经松涛镇现场协调，问题已解决"), YJ_GOV, at(21)).case
    assert replied.state is CaseState.REPLIED and replied.outcome.reply.unit_code == "YJ-GOV"
    # The township keeps seeing the case it handled.
    assert can_see_case(SONGTAO, replied)


def test_a_township_gives_it_back_up_and_the_county_dispatches_on_again() -> None:
    case = ENGINE.act(signed(), c.Forward(unit="YJ-STZ", due_at=end_of(11, 20)), YJ_GOV, at(4, 10)).case
    with pytest.raises(RuleViolation, match="already with the township unit YJ-STZ"):
        ENGINE.act(case, c.Forward(unit="YJ-BTZ", due_at=end_of(11, 20)), YJ_GOV, at(4, 11))
    out = ENGINE.act(case, c.ReturnForward(reason="不属于本镇辖区，属宝台镇"), SONGTAO, at(4, 11))
    assert out.events[0].type == "case.forward_returned" and out.case.handling.holder == "YJ-GOV"
    case = ENGINE.act(out.case, c.Forward(unit="YJ-BTZ", due_at=end_of(11, 20)), YJ_GOV, at(4, 12)).case
    assert [(f.unit_code, f.state) for f in case.handling.cascade] == [("YJ-STZ", ForwardState.RETURNED), ("YJ-BTZ", ForwardState.AWAITING_SIGN_OFF)]
    # The returned township no longer acts on it.
    with pytest.raises(AccessDenied, match="only the township unit YJ-BTZ"):
        ENGINE.act(case, c.SignOffForward(), SONGTAO, at(5))


@pytest.mark.parametrize(
    ("unit", "due", "match"),
    [
        ("AY-YYZ", end_of(11, 20), "not a township unit of the lead YJ-GOV's county"),  # another county's township
        ("YJ-SCJG", end_of(11, 20), "not a township unit"),  # a county department, not a township
        ("YJ-STZ", end_of(11, 25), "inside the case's own"),  # past the case's deadline
        ("YJ-STZ", at(4, 9), "in the future"),
    ],
)
def test_dispatching_on_stays_inside_the_county_and_its_deadline(unit: str, due: datetime, match: str) -> None:
    with pytest.raises(RuleViolation, match=match):
        ENGINE.act(signed(), c.Forward(unit=unit, due_at=due), YJ_GOV, at(4, 10))


def test_only_the_lead_dispatches_on_and_a_city_department_has_no_townships() -> None:
    case = signed()
    with pytest.raises(AccessDenied):  # a township does not dispatch itself a case
        ENGINE.act(case, c.Forward(unit="YJ-STZ", due_at=end_of(11, 20)), SONGTAO, at(4, 10))
    city = signed(lead="ZY-SCJGJ")
    with pytest.raises(RuleViolation, match="not a township unit of the lead ZY-SCJGJ's county"):
        ENGINE.act(city, c.Forward(unit="YJ-STZ", due_at=end_of(11, 20)), Actor("ZY-SCJGJ", Role.UNIT, unit_code="ZY-SCJGJ"), at(4, 10))
    # Another county acts neither as the lead nor for the township.
    anyue = Actor("anyue", Role.COUNTY, divisions=("512021",))
    with pytest.raises(AccessDenied):
        ENGINE.act(case, c.Forward(unit="YJ-STZ", due_at=end_of(11, 20)), anyue, at(4, 10))


def test_a_county_sees_its_townships_cases_by_the_division_prefix() -> None:
    case = signed()
    assert can_see_case(YANJIANG, case)  # 512002105 is under 512002
    assert not can_see_case(Actor("anyue", Role.COUNTY, divisions=("512021",)), case)


def test_a_return_approved_by_the_centre_ends_the_township_step() -> None:
    case = ENGINE.act(signed(), c.Forward(unit="YJ-STZ", due_at=end_of(11, 20)), YJ_GOV, at(4, 10)).case
    case = ENGINE.act(case, c.RequestReturn(reason="不属于区政府职责"), YJ_GOV, at(4, 11)).case
    assert case.handling.holder == "YJ-STZ"  # asked, not yet decided: the township still has it
    case = ENGINE.act(case, c.DecideReturn(approved=True), AGENT, at(4, 12)).case
    forward = case.handling.cascade[0]
    assert (case.state, forward.state, forward.returned_at, case.handling.holder) == (CaseState.RETURNED, ForwardState.RETURNED, at(4, 12), "YJ-GOV")
