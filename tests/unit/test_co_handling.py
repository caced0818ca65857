"""协办 (issue #20): each co-unit signs off and replies its own part, with its own deadlines;
the lead's reply is the case's and waits for every part replied or waived by the centre.

Dates are hand counts on an ordinary November 2025 (no holiday, no make-up day): dispatched
Mon Nov 3 10:00, the 1st working day after is Tue Nov 4, the 13th Thu Nov 20, the 15th Mon
Nov 24. A complaint is due in 15 working days; a co-unit's part 2 working days earlier (13).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.calendar import WorkingCalendar
from hub.domain.clock import LOCAL_TZ
from hub.domain.deadlines import TimeLimits
from hub.domain.engine import Engine
from hub.domain.errors import AccessDenied, ActionNotAllowed, RuleViolation
from hub.domain.model import CaseDraft, CaseState, PartState, Role
from supervision.assessment import CaseLines, Line, Period, compute
from tests.support.factories import draft
from tests.unit.test_lifecycle_table import Units

ENGINE = Engine(WorkingCalendar(), TimeLimits(), Units())
AGENT = Actor("A017", Role.AGENT)
SUPERVISOR = Actor("S001", Role.SUPERVISOR)
LEAD = Actor("ZY-SCJGJ", Role.UNIT, unit_code="ZY-SCJGJ")
CO_CITY = Actor("ZY-ZJJ", Role.UNIT, unit_code="ZY-ZJJ")
CO_YJ = "YJ-GOV"  # a 雁江区 unit: the county acts for it
YANJIANG = Actor("yanjiang", Role.COUNTY, divisions=("512002",))
DISPATCHED = datetime(2025, 11, 3, 10, 0, tzinfo=LOCAL_TZ)  # a Monday


def end_of(m: int, d: int) -> datetime:
    return datetime(2025, m, d, 23, 59, 59, tzinfo=LOCAL_TZ).astimezone(UTC)


def at(d: int, hour: int = 10) -> datetime:
    return datetime(2025, 11, d, hour, tzinfo=LOCAL_TZ)


def dispatched(co: tuple[str, ...] = ("ZY-ZJJ", CO_YJ), **changes):
    case = ENGINE.register(CaseDraft.model_validate(draft(**changes)), "512000202511030001", AGENT, DISPATCHED).case
    case = ENGINE.act(case, c.Accept(), AGENT, DISPATCHED).case
    return ENGINE.act(case, c.Dispatch(lead_unit="ZY-SCJGJ", co_units=list(co)), AGENT, DISPATCHED)


def test_dispatch_gives_each_co_unit_a_part_with_its_own_deadlines() -> None:
    out = dispatched()
    h = out.case.handling
    assert (h.sign_off_due, h.due_at) == (end_of(11, 4), end_of(11, 24))
    assert [(p.unit_code, p.state, p.sign_off_due, p.due_at) for p in h.parts] == [
        ("ZY-ZJJ", PartState.AWAITING_SIGN_OFF, end_of(11, 4), end_of(11, 20)),
        ("YJ-GOV", PartState.AWAITING_SIGN_OFF, end_of(11, 4), end_of(11, 20)),
    ]
    # The dispatch line carries the parts' deadlines for the assessment.
    assert out.events[0].data["parts"] == [
        {"unit": "ZY-ZJJ", "sign_off_due": end_of(11, 4).isoformat(), "due_at": end_of(11, 20).isoformat()},
        {"unit": "YJ-GOV", "sign_off_due": end_of(11, 4).isoformat(), "due_at": end_of(11, 20).isoformat()},
    ]
    # The case JSON shows each part with its state.
    assert out.case.model_dump(mode="json")["handling"]["parts"][0]["state"] == "awaiting_sign_off"


def test_an_urgent_case_part_runs_on_the_case_clock() -> None:
    h = dispatched(urgency="urgent").case.handling  # 紧急: sign off in 2 hours, complete in 24
    assert h.parts[0].sign_off_due == h.sign_off_due == DISPATCHED + timedelta(hours=2)
    assert h.parts[0].due_at == h.due_at == DISPATCHED + timedelta(hours=24)


def test_the_lead_replies_only_once_every_part_is_replied_or_waived() -> None:
    case = dispatched().case
    case = ENGINE.act(case, c.SignOff(), LEAD, at(4)).case
    # A co-unit signs off and replies its own part; the case stays with the lead.
    out = ENGINE.act(case, c.SignOffPart(), CO_CITY, at(4))
    assert (out.case.state, [e.type for e in out.events]) == (CaseState.IN_PROGRESS, ["case.part_signed_off"])
    assert out.events[0].data == {"unit": "ZY-ZJJ", "on_time": True}
    case = ENGINE.act(out.case, c.ReplyPart(text="已核实施工许可"), CO_CITY, at(21)).case  # after Nov 20: late
    part = case.handling.part("ZY-ZJJ")
    assert (part.state, part.reply, part.replied_at) == (PartState.REPLIED, "已核实施工许可", at(21))
    assert case.history[-1].data == {"unit": "ZY-ZJJ", "text": "已核实施工许可", "on_time": False}
    # YJ-GOV has done nothing: the lead's reply is refused, naming it.
    with pytest.raises(RuleViolation, match=r"co-units YJ-GOV have not replied"):
        ENGINE.act(case, c.ReplyCmd(text="已责令停工"), LEAD, at(21))
    # The centre's supervisor waives YJ-GOV's part; then the lead replies for the case.
    with pytest.raises(ActionNotAllowed):
        ENGINE.act(case, c.WaivePart(unit=CO_YJ, reason="非本单位职责"), AGENT, at(21))
    out = ENGINE.act(case, c.WaivePart(unit=CO_YJ, reason="非本单位职责"), SUPERVISOR, at(21))
    assert [e.type for e in out.events] == ["case.part_waived"]
    waived = out.case.handling.part(CO_YJ)
    assert (waived.state, waived.waived_by, waived.waive_reason) == (PartState.WAIVED, "S001", "非本单位职责")
    replied = ENGINE.act(out.case, c.ReplyCmd(text="已责令停工"), LEAD, at(21)).case
    assert replied.state is CaseState.REPLIED and replied.outcome.reply.unit_code == "ZY-SCJGJ"


def test_a_part_is_its_co_unit_s_own() -> None:
    case = dispatched().case
    # The lead does not sign a part: it signs the case.
    with pytest.raises(RuleViolation, match="is the lead unit"):
        ENGINE.act(case, c.SignOffPart(), LEAD, at(4))
    # A co-unit names only itself.
    with pytest.raises(AccessDenied, match="only its own part"):
        ENGINE.act(case, c.SignOffPart(unit=CO_YJ), CO_CITY, at(4))
    # A unit that is not a co-unit cannot even see the case.
    with pytest.raises(AccessDenied):
        ENGINE.act(case, c.SignOffPart(), Actor("ZY-JTJ", Role.UNIT, unit_code="ZY-JTJ"), at(4))
    # Reply before sign-off, and twice, are refused.
    with pytest.raises(RuleViolation, match="not signed off yet"):
        ENGINE.act(case, c.ReplyPart(text="x"), CO_CITY, at(4))
    case = ENGINE.act(case, c.SignOffPart(), CO_CITY, at(5)).case  # after Nov 4: late
    assert case.history[-1].data == {"unit": "ZY-ZJJ", "on_time": False}
    with pytest.raises(RuleViolation, match="already in_progress"):
        ENGINE.act(case, c.SignOffPart(), CO_CITY, at(5))
    case = ENGINE.act(case, c.ReplyPart(text="已配合"), CO_CITY, at(6)).case
    with pytest.raises(RuleViolation, match="already replied"):
        ENGINE.act(case, c.ReplyPart(text="再次"), CO_CITY, at(6))
    with pytest.raises(RuleViolation, match="already replied"):
        ENGINE.act(case, c.WaivePart(unit="ZY-ZJJ", reason="x"), SUPERVISOR, at(6))
    with pytest.raises(RuleViolation, match="not a co-unit"):
        ENGINE.act(case, c.WaivePart(unit="ZY-JTJ", reason="x"), SUPERVISOR, at(6))


def test_a_county_acts_for_its_own_co_unit_only_and_names_it() -> None:
    case = dispatched().case
    with pytest.raises(RuleViolation, match="name the co-unit"):
        ENGINE.act(case, c.SignOffPart(), YANJIANG, at(4))
    with pytest.raises(AccessDenied, match="not one of this county's units"):
        ENGINE.act(case, c.SignOffPart(unit="ZY-ZJJ"), YANJIANG, at(4))
    case = ENGINE.act(case, c.SignOffPart(unit=CO_YJ), YANJIANG, at(4)).case
    case = ENGINE.act(case, c.ReplyPart(unit=CO_YJ, text="街道已到场"), YANJIANG, at(7)).case
    assert case.handling.part(CO_YJ).state is PartState.REPLIED
    assert case.history[-1].actor == "yanjiang" and case.history[-1].data["on_time"] is True


def test_redo_ends_the_parts_and_a_new_dispatch_opens_new_ones() -> None:
    case = dispatched(co=("ZY-ZJJ",)).case
    case = ENGINE.act(case, c.SignOff(), LEAD, at(4)).case
    case = ENGINE.act(case, c.WaivePart(unit="ZY-ZJJ", reason="主办单位可独立答复"), SUPERVISOR, at(4)).case
    case = ENGINE.act(case, c.ReplyCmd(text="已处理"), LEAD, at(5)).case
    case = ENGINE.act(case, c.ReviewReply(approved=True), AGENT, at(5)).case
    case = ENGINE.act(case, c.FollowUpCmd(reached=True, resolved=False, satisfaction="unsatisfied"), AGENT, at(6)).case
    case = ENGINE.act(case, c.Redo(), AGENT, at(6)).case
    assert (case.handling.co_units, case.handling.parts) == ([], [])
    case = ENGINE.act(case, c.Dispatch(lead_unit="ZY-SCJGJ", co_units=["ZY-JTJ"]), AGENT, at(10)).case
    assert [(p.unit_code, p.state) for p in case.handling.parts] == [("ZY-JTJ", PartState.AWAITING_SIGN_OFF)]


def test_a_corrected_type_recounts_the_open_parts_from_the_dispatch() -> None:
    case = dispatched(co=("ZY-ZJJ",)).case
    # 投诉 -> 求助: 7 working days for the case (Wed Nov 12), 5 for the part (Mon Nov 10).
    case = ENGINE.act(case, c.Correct(request_type="help", reason="登记时诉求类型选错"), SUPERVISOR, at(4)).case
    assert (case.handling.due_at, case.handling.part("ZY-ZJJ").due_at) == (end_of(11, 12), end_of(11, 10))


def test_cases_dispatched_before_parts_were_kept_reply_as_before() -> None:
    case = dispatched(co=("ZY-ZJJ",)).case
    case.handling.parts = []  # stored before this change: co_units without parts
    case = ENGINE.act(case, c.SignOff(), LEAD, at(4)).case
    assert ENGINE.act(case, c.ReplyCmd(text="已处理"), LEAD, at(5)).case.state is CaseState.REPLIED
    # A co-unit acting on such a case gets a part on the case's own deadlines.
    part = ENGINE.act(case, c.SignOffPart(), CO_CITY, at(4)).case.handling.part("ZY-ZJJ")
    assert (part.signed_at, part.due_at) == (at(4), end_of(11, 24))


# -- the assessment counts the parts ---------------------------------------------------------

NOV = Period.parse("2025-11")
AFTER = datetime(2025, 12, 10, tzinfo=LOCAL_TZ)


def lines(number: str, *entries: tuple[str, datetime, dict]) -> CaseLines:
    return CaseLines(number, "512002", [Line(i + 1, when, action, "unit", data) for i, (action, when, data) in enumerate(entries)])


def iso(m: int, d: int) -> str:
    return end_of(m, d).isoformat()


def dispatch_line(*parts: str) -> tuple[str, datetime, dict]:
    return (
        "dispatch",
        at(3),
        {
            "lead_unit": "L",
            "sign_off_due": iso(11, 4),
            "due_at": iso(11, 24),
            "parts": [{"unit": u, "sign_off_due": iso(11, 4), "due_at": iso(11, 20)} for u in parts],
        },
    )


def test_co_units_are_judged_on_their_parts_sign_off_and_reply() -> None:
    # C1: co-unit A signs on time and replies on time; B signs late and replies late.
    c1 = lines(
        "C1",
        dispatch_line("A", "B"),
        ("sign_off", at(4), {}),
        ("sign_off_part", at(4), {"unit": "A"}),
        ("sign_off_part", at(5), {"unit": "B"}),
        ("reply_part", at(18), {"unit": "A"}),
        ("reply_part", at(21), {"unit": "B"}),
        ("reply", at(21), {}),
    )
    # C2: A never signs; the centre waives its part on Nov 12, after its sign-off deadline (still
    # missed) but before its reply deadline (not judged on the reply).
    c2 = lines("C2", dispatch_line("A"), ("sign_off", at(4), {}), ("waive_part", at(12), {"unit": "A"}), ("reply", at(13), {}))
    # C3: A's part is waived on Nov 4 at 10:00, before either deadline: A is not judged at all.
    c3 = lines("C3", dispatch_line("A"), ("waive_part", at(4), {"unit": "A"}), ("sign_off", at(4), {}), ("reply", at(5), {}))
    a = compute([c1, c2, c3], NOV, AFTER, unit="A")
    sign = a.figure("sign_off_rate")
    # 签收率 of A: C1 on time, C2 missed (waived after the deadline); C3 not judged: 1 / 2.
    assert (sign.numerator, sign.denominator) == (1, 2)
    assert [(i.case, i.counted, i.part) for i in sign.items] == [("C1", True, True), ("C2", False, True)]
    close = a.figure("on_time_rate")
    # 按时办结率 of A: only C1 (replied Nov 18, due Nov 20): 1 / 1; no 超期.
    assert (close.numerator, close.denominator, a.figure("overdue").numerator) == (1, 1, 0)
    b = compute([c1, c2, c3], NOV, AFTER, unit="B")
    assert (b.figure("sign_off_rate").numerator, b.figure("sign_off_rate").denominator) == (0, 1)
    assert (b.figure("on_time_rate").numerator, b.figure("on_time_rate").denominator) == (0, 1)
    assert b.figure("overdue").cases == ["C1"]
    lead = compute([c1, c2, c3], NOV, AFTER, unit="L")
    # The lead is judged as before, on the case: signed Nov 4 (3 of 3), replied by Nov 24 (3 of 3).
    assert [(f.numerator, f.denominator) for f in (lead.figure("sign_off_rate"), lead.figure("on_time_rate"))] == [(3, 3), (3, 3)]
    assert not any(i.part for i in lead.figure("sign_off_rate").items)
    # The whole city: lead 3 + A 2 + B 1 sign-offs due, 3 + 1 + 0 on time.
    city = compute([c1, c2, c3], NOV, AFTER)
    assert (city.figure("sign_off_rate").numerator, city.figure("sign_off_rate").denominator) == (4, 6)
    assert (city.figure("on_time_rate").numerator, city.figure("on_time_rate").denominator) == (4, 5)


def test_an_approved_return_ends_the_parts_as_it_ends_the_lead_s_obligation() -> None:
    # The lead asks on Nov 4 09:00 (before every deadline) and the centre agrees: nobody's
    # unsigned part is judged. A new dispatch opens new parts.
    c = lines("C4", dispatch_line("A"), ("request_return", at(4, 9), {"unit": "L"}), ("decide_return", at(4, 11), {"approved": True, "unit": "L"}))
    a = compute([c], NOV, AFTER, unit="A")
    assert (a.figure("sign_off_rate").denominator, a.figure("on_time_rate").denominator) == (0, 0)
