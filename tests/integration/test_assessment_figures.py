"""考核 on a hand-built month: eight cases taken through the engine as the clock moves
across the National Day holiday and its make-up days, every expected figure counted by
hand below, and the assessment must match exactly, case by case."""

from __future__ import annotations

from datetime import datetime, timedelta

from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.model import Role
from supervision.assessment import Assessment, Period
from supervision.scheduler import Scheduler
from supervision.service import Supervision
from tests.integration.test_supervision_scheduler import AGENT, SUPERVISOR, dispatched, local, register

S = "ZY-SCJGJ"  # 市场监督管理局
R = "ZY-RSJ"  # 人力资源和社会保障局
AS_S = Actor(S, Role.UNIT, unit_code=S)
AS_R = Actor(R, Role.UNIT, unit_code=R)
YANJIANG, ANYUE = "512002", "512021"


def follow_up(hub, number: str, resolved: bool, satisfaction: str) -> None:
    hub.cases.act(number, c.FollowUpCmd(reached=True, resolved=resolved, satisfaction=satisfaction), AGENT)


def reply_and_review(hub, clock, number: str, unit: Actor, when: datetime) -> None:
    clock.set(when)
    hub.cases.act(number, c.ReplyCmd(text="已办理"), unit)
    clock.set(when + timedelta(hours=1))
    hub.cases.act(number, c.ReviewReply(approved=True), AGENT)


def build_october(hub, clock) -> dict[str, str]:
    """The month, in time order. Deadlines (working days, 调休: Sep 28 and Oct 11 worked,
    Oct 1-8 off) are in the comments; tests/unit/test_calendar.py checks the calendar."""
    n: dict[str, str] = {}
    # C7: enquiry to S on Fri Sep 26 10:00; sign-off due Sun Sep 28 (make-up day), completion Sep 30.
    n["C7"] = dispatched(hub, "enquiry", unit=S)
    clock.set(local(2025, 9, 28, 10))
    hub.cases.act(n["C7"], c.SignOff(), AS_S)
    # C5: answered directly from the knowledge base on Oct 9 (安岳): a follow-up need of no unit.
    clock.set(local(2025, 10, 9, 9))
    n["C5"] = register(hub, "enquiry", **{"place.division_code": ANYUE})
    hub.cases.act(n["C5"], c.AnswerDirectly(answer="依据知识库答复"), AGENT)
    reply_and_review(hub, clock, n["C7"], AS_S, local(2025, 10, 9, 9, 30))  # late, and due in September
    # Thu Oct 9 10:00: C1, C2 (enquiry to S: sign-off Oct 10, completion Mon Oct 13 via Sat Oct 11),
    # C3 (complaint to S in 安岳: sign-off Oct 10, completion Oct 29), C4 (help to R: Oct 10, Oct 17).
    clock.set(local(2025, 10, 9, 10))
    n["C1"] = dispatched(hub, "enquiry", unit=S)
    n["C2"] = dispatched(hub, "enquiry", unit=S)
    n["C3"] = dispatched(hub, "complaint", unit=S, **{"place.division_code": ANYUE})
    n["C4"] = dispatched(hub, "help", unit=R)
    # C4: R asks to return it before signing, approved; re-dispatched to S on Fri Oct 10 10:00:
    # sign-off due Sat Oct 11 (make-up day), completion 7 working days -> Mon Oct 20.
    clock.set(local(2025, 10, 10, 8))
    hub.cases.act(n["C4"], c.RequestReturn(reason="不属于本单位职责"), AS_R)
    clock.set(local(2025, 10, 10, 9))
    hub.cases.act(n["C4"], c.DecideReturn(approved=True), SUPERVISOR)
    hub.cases.act(n["C1"], c.SignOff(), AS_S)
    hub.cases.act(n["C3"], c.SignOff(), AS_S)
    follow_up(hub, n["C5"], True, "satisfied")
    # C7: reached, satisfied enough but not resolved -> redo required; the supervisor accepts it.
    follow_up(hub, n["C7"], False, "basically_satisfied")
    hub.cases.act(n["C7"], c.Close(note="不合理诉求"), SUPERVISOR)
    clock.set(local(2025, 10, 10, 10))
    hub.cases.act(n["C4"], c.Redispatch(lead_unit=S), AGENT)
    clock.set(local(2025, 10, 11, 9))
    hub.cases.act(n["C2"], c.SignOff(), AS_S)  # late: due Oct 10
    reply_and_review(hub, clock, n["C1"], AS_S, local(2025, 10, 12, 10))  # on time, on a Sunday
    clock.set(local(2025, 10, 13, 9))
    hub.cases.act(n["C4"], c.SignOff(), AS_S)  # late: due Sat Oct 11
    clock.set(local(2025, 10, 14, 9))
    follow_up(hub, n["C1"], True, "satisfied")
    reply_and_review(hub, clock, n["C2"], AS_S, local(2025, 10, 14, 10))  # late: due Oct 13
    # C2: unsatisfied -> redo -> dispatched to R on Wed Oct 15 14:00: sign-off Oct 16, completion Oct 20.
    clock.set(local(2025, 10, 15, 10))
    follow_up(hub, n["C2"], False, "unsatisfied")
    clock.set(local(2025, 10, 15, 12))
    hub.cases.act(n["C2"], c.Redo(), AGENT)
    clock.set(local(2025, 10, 15, 14))
    hub.cases.act(n["C2"], c.Dispatch(lead_unit=R), AGENT)
    clock.set(local(2025, 10, 16, 9))
    hub.cases.act(n["C2"], c.SignOff(), AS_R)
    reply_and_review(hub, clock, n["C2"], AS_R, local(2025, 10, 17, 10))
    clock.set(local(2025, 10, 20, 10))
    follow_up(hub, n["C2"], True, "basically_satisfied")
    # Tue Oct 21: C4 passed its completion deadline (Oct 20) unreplied: the scheduler supervises it.
    clock.set(local(2025, 10, 21, 9))
    assert Scheduler(hub, holder="assessment").sweep().supervised == [n["C4"]]
    # C3: one working day more, approved: due Thu Oct 30 instead of Wed Oct 29.
    clock.set(local(2025, 10, 27, 10))
    hub.cases.act(n["C3"], c.RequestExtension(working_days=1, reason="需现场核查"), AS_S)
    hub.cases.act(n["C3"], c.DecideExtension(approved=True), SUPERVISOR)
    # C6: complaint to R on Tue Oct 28: sign-off Oct 29, completion Nov 18; supervised by hand.
    clock.set(local(2025, 10, 28, 10))
    n["C6"] = dispatched(hub, "complaint", unit=R)
    clock.set(local(2025, 10, 28, 11))
    hub.cases.act(n["C6"], c.SignOff(), AS_R)
    clock.set(local(2025, 10, 30, 10))
    hub.cases.act(n["C6"], c.Supervise(reason="群众反映强烈", response_due=local(2025, 10, 31, 17)), SUPERVISOR)
    # C8: enquiry to R on Thu Oct 30: sign-off due Fri Oct 31, never signed in October.
    n["C8"] = dispatched(hub, "enquiry", unit=R)
    reply_and_review(hub, clock, n["C3"], AS_S, local(2025, 10, 30, 15))  # after Oct 29, by Oct 30: on time
    clock.set(local(2025, 10, 31, 10))
    hub.cases.act(n["C3"], c.FollowUpCmd(reached=False), AGENT)
    return n


def _labels(numbers: dict[str, str]) -> dict[str, str]:
    return {v: k for k, v in numbers.items()}


def _items(a: Assessment, key: str, numbers: dict[str, str]) -> list[tuple[str, str | None, bool]]:
    label = _labels(numbers)
    return sorted((label[i.case], i.unit, i.counted) for i in a.figure(key).items)


def _check(a: Assessment, expected: dict[str, list[tuple[str, str | None, bool]]], numbers: dict[str, str]) -> None:
    for key, items in expected.items():
        f = a.figure(key)
        assert _items(a, key, numbers) == sorted(items), key
        hits = [i for i in items if i[2]]
        assert f.numerator == len(hits), key
        assert f.cases == sorted({numbers[i[0]] for i in hits}), key
        if f.denominator is None:
            assert f.value == len(hits), key
        else:
            assert f.denominator == len(items), key
            assert f.value == (round(len(hits) / len(items), 4) if items else None), key


# The city's October, judged at the end of the month (a later line is never read).
CITY = {
    # 签收率 = 4 / 7 = 0.5714. C4's first dispatch (R) is out: returned, asked before its deadline.
    # C7's sign-off fell in September. C8's fell on Oct 31 unsigned.
    "sign_off_rate": [("C1", S, True), ("C2", S, False), ("C2", R, True), ("C3", S, True), ("C4", S, False), ("C6", R, True), ("C8", R, False)],
    # 按时办结率 = 3 / 5 = 0.6. C3 counts on time through its approved extension (Oct 29 -> Oct 30).
    # C6 and C8 are due in November, C7 was due in September.
    "on_time_rate": [("C1", S, True), ("C2", S, False), ("C2", R, True), ("C3", S, True), ("C4", S, False)],
    # 回访率 = 5 / 6 = 0.8333. C3's need arose Oct 30; its person was reached only on Nov 3.
    "follow_up_rate": [("C1", S, True), ("C2", S, True), ("C2", R, True), ("C3", S, False), ("C5", None, True), ("C7", S, True)],
    # 满意率 = 4 / 5 = 0.8 (C2's first follow-up was 不满意).
    "satisfaction_rate": [("C1", S, True), ("C2", S, False), ("C2", R, True), ("C5", None, True), ("C7", S, True)],
    # 解决率 = 3 / 5 = 0.6 (C2's first and C7's were unresolved).
    "resolution_rate": [("C1", S, True), ("C2", S, False), ("C2", R, True), ("C5", None, True), ("C7", S, False)],
    "overdue": [("C2", S, True), ("C4", S, True)],  # = 5 due to close - 3 on time
    "returned": [("C4", R, True)],
    "redone": [("C2", S, True)],
    "supervised": [("C4", S, True), ("C6", R, True)],  # by the scheduler, by a supervisor
}


def _only(unit: str | None = None, cases: set[str] | None = None) -> dict[str, list]:
    return {k: [i for i in v if (unit is None or i[1] == unit) and (cases is None or i[0] in cases)] for k, v in CITY.items()}


def test_october_matches_the_hand_count(hub, clock) -> None:
    numbers = build_october(hub, clock)
    service = hub.handles.get(Supervision)
    october = Period.parse("2025-10")

    # Judged at Fri Oct 31 12:00: C8's sign-off deadline (23:59:59 tonight) has not passed
    # and it is unsigned, so it is not due yet: 签收率 = 4 / 6.
    clock.set(local(2025, 10, 31, 12))
    midday = service.assess(october)
    assert (midday.figure("sign_off_rate").numerator, midday.figure("sign_off_rate").denominator) == (4, 6)
    assert "C8" not in {_labels(numbers)[i.case] for i in midday.figure("sign_off_rate").items}

    # C3 is reached on Nov 3: a November line, so October's 回访率 does not move.
    clock.set(local(2025, 11, 3, 10))
    follow_up(hub, numbers["C3"], True, "satisfied")
    clock.set(local(2025, 11, 5, 9))
    city = service.assess(october)
    assert city.as_of == october.end
    _check(city, CITY, numbers)
    assert city.figure("sign_off_rate").value == 0.5714 and city.figure("follow_up_rate").value == 0.8333

    # S: 签收率 2/4 = 0.5; 按时办结率 2/4 = 0.5; 回访率 3/4 = 0.75; 满意率 2/3 = 0.6667;
    # 解决率 1/3 = 0.3333; overdue 2, returned 0, redone 1, supervised 1.
    s = service.assess(october, unit=S)
    _check(s, _only(unit=S), numbers)
    assert [
        s.figure(k).value
        for k in ("sign_off_rate", "on_time_rate", "follow_up_rate", "satisfaction_rate", "resolution_rate", "overdue", "returned", "redone", "supervised")
    ] == [0.5, 0.5, 0.75, 0.6667, 0.3333, 2, 0, 1, 1]
    # R: 签收率 2/3 = 0.6667; 按时办结率 1/1; 回访率 1/1; 满意率 1/1; 解决率 1/1; returned 1, supervised 1.
    r = service.assess(october, unit=R)
    _check(r, _only(unit=R), numbers)
    assert [r.figure(k).value for k in ("sign_off_rate", "on_time_rate", "overdue", "returned", "supervised")] == [0.6667, 1.0, 0, 1, 1]
    # 安岳 (512021): C3 and C5 only. 签收率 1/1, 按时办结率 1/1, 回访率 1/2, 满意率 1/1, 解决率 1/1.
    anyue = service.assess(october, county=ANYUE)
    _check(anyue, _only(cases={"C3", "C5"}), numbers)
    assert anyue.figure("follow_up_rate").value == 0.5
    # September: C7 signed on time (Sep 28), replied only on Oct 9, after September ended:
    # 签收率 1/1, 按时办结率 0/1, overdue 1.
    september = service.assess(Period.parse("2025-09"))
    assert [(september.figure(k).numerator, september.figure(k).denominator) for k in ("sign_off_rate", "on_time_rate")] == [(1, 1), (0, 1)]
    assert september.figure("overdue").cases == [numbers["C7"]]

    # The per-unit breakdown is the total then each unit, with the same figures.
    rows = service.breakdown(october)
    assert [(a.unit, a.figure("sign_off_rate").numerator, a.figure("sign_off_rate").denominator) for a in rows] == [(None, 4, 7), (R, 2, 3), (S, 2, 4)]
