"""考核 of the townships (二次派单, issue #20) on hand-written history lines: a township unit's
签收率 and 按时办结率 over the steps its county dispatched on to it. Every expectation below is
counted by hand from the lines (docs/supervision.md, "Townships")."""

from __future__ import annotations

from datetime import datetime

from hub.domain.clock import LOCAL_TZ
from supervision.assessment import CaseLines, Line, Period, compute, rank_units

OCT = Period.parse("2025-10")
AFTER = datetime(2025, 11, 10, tzinfo=LOCAL_TZ)
LEAD, T1, T2 = "YJ-GOV", "YJ-STZ", "YJ-BTZ"


def t(day: int, hour: int = 10) -> datetime:
    return datetime(2025, 10, day, hour, tzinfo=LOCAL_TZ)


def due(day: int) -> str:
    return datetime(2025, 10, day, 23, 59, 59, tzinfo=LOCAL_TZ).isoformat()


def case(number: str, *lines: tuple[str, datetime, dict]) -> CaseLines:
    head = [("dispatch", t(8), {"lead_unit": LEAD, "sign_off_due": due(9), "due_at": due(24)}), ("sign_off", t(9), {})]
    return CaseLines(number, "512002", [Line(i + 1, at, action, "yanjiang", data) for i, (action, at, data) in enumerate([*head, *lines])])


def forward(at: datetime, unit: str, sign: int, complete: int) -> tuple[str, datetime, dict]:
    return ("forward", at, {"unit": unit, "by_unit": LEAD, "sign_off_due": due(sign), "due_at": due(complete)})


CASES = [
    # A: T1 signs in time, asks for time, its county grants 2 days (15th -> 17th), it replies on the 16th: met.
    case(
        "C-A",
        forward(t(10), T1, 11, 15),
        ("sign_off_forward", t(11, 9), {"unit": T1}),
        ("request_forward_extension", t(14), {"unit": T1, "working_days": 2}),
        ("decide_forward_extension", t(14, 12), {"unit": T1, "approved": True, "due_at": due(17)}),
        ("reply_forward", t(16), {"unit": T1}),
        ("reply", t(17), {}),
    ),
    # B: T1 signs a day late; the extension is refused; it replies the day after its deadline.
    case(
        "C-B",
        forward(t(10), T1, 11, 13),
        ("sign_off_forward", t(12), {"unit": T1}),
        ("request_forward_extension", t(13), {"unit": T1, "working_days": 3}),
        ("decide_forward_extension", t(13, 12), {"unit": T1, "approved": False}),
        ("reply_forward", t(14), {"unit": T1}),
    ),
    # C: T2 gives it back before its sign-off deadline (not judged); the county sends it on to T1,
    # which never signs nor replies (both deadlines passed by the time judged).
    case("C-C", forward(t(10), T2, 11, 15), ("return_forward", t(11, 9), {"unit": T2}), forward(t(11, 10), T1, 12, 18)),
    # D: T2 signs in time, then gives it back after its completion deadline: overdue.
    case("C-D", forward(t(10), T2, 11, 13), ("sign_off_forward", t(11, 9), {"unit": T2}), ("return_forward", t(14), {"unit": T2})),
    # E: T1 signs in time; the centre approves the county's return (asked on the 13th, before
    # T1's deadline of the 16th): the case left the county, T1's open step with it, not judged.
    case(
        "C-E",
        forward(t(10), T1, 12, 16),
        ("sign_off_forward", t(12, 9), {"unit": T1}),
        ("request_return", t(13), {"unit": LEAD}),
        ("decide_return", t(13, 12), {"approved": True, "unit": LEAD}),
    ),
]


def test_a_townships_sign_off_and_on_time_rates_over_the_steps_forwarded_to_it() -> None:
    a = compute(CASES, OCT, AFTER, unit=T1)
    sign, close = a.figure("sign_off_rate"), a.figure("on_time_rate")
    assert [(i.case, i.counted) for i in sign.items] == [("C-A", True), ("C-B", False), ("C-C", False), ("C-E", True)]
    assert (sign.numerator, sign.denominator, sign.value) == (2, 4, 0.5)
    assert [(i.case, i.counted) for i in close.items] == [("C-A", True), ("C-B", False), ("C-C", False)]
    assert (close.numerator, close.denominator, close.value) == (1, 3, 0.3333)
    assert a.figure("overdue").cases == ["C-B", "C-C"]
    assert all(i.township and not i.part for i in sign.items + close.items)

    b = compute(CASES, OCT, AFTER, unit=T2)
    assert [(i.case, i.counted) for i in b.figure("sign_off_rate").items] == [("C-D", True)]
    assert [(i.case, i.counted) for i in b.figure("on_time_rate").items] == [("C-D", False)]
    assert b.figure("overdue").cases == ["C-D"]


def test_the_county_lead_is_judged_on_the_case_not_on_its_townships() -> None:
    a = compute(CASES, OCT, AFTER, unit=LEAD)
    # Five dispatches signed on the 9th (due the 9th): 5 / 5. Due to close on the 24th: A replied
    # on the 17th; E went back in time (excused); B, C, D never replied: 1 / 4.
    assert (a.figure("sign_off_rate").numerator, a.figure("sign_off_rate").denominator) == (5, 5)
    assert [(i.case, i.counted) for i in a.figure("on_time_rate").items] == [("C-A", True), ("C-B", False), ("C-C", False), ("C-D", False)]
    assert not any(i.township for f in a.figures for i in f.items)
    # The county's figure holds both: 5 lead sign-offs and 5 township sign-off steps.
    whole = compute(CASES, OCT, AFTER, county="512002")
    assert sum(i.township for i in whole.figure("sign_off_rate").items) == 5
    assert whole.figure("sign_off_rate").denominator == 10


def test_townships_are_ranked_beside_their_county() -> None:
    rows = {r.unit: r for r in rank_units(CASES, OCT, AFTER).rows}
    assert set(rows) == {LEAD, T1, T2}
    # T2: 签收率 1/1, 按时办结率 0/1, no follow-ups: score (1 + 0) / 2 = 0.5.
    assert (rows[T2].sign_off_rate.value, rows[T2].on_time_rate.value, rows[T2].score) == (1.0, 0.0, 0.5)
