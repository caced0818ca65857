"""The stored items (supervision.assessment `facts_of`, migration 0024) give every period the
figures the walk of the lines before its end gives: on random histories of every assessed
action (no 考核申诉: a case with one is walked, not read from its items), for months, weeks,
days and a quarter, judged during the period and after it."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from hub.domain.clock import LOCAL_TZ
from supervision.assessment import CaseLines, Fact, FactRow, Line, Period, compute, facts_of, gather, scoped, units_in

UNITS = ("U1", "U2", "U3")
START = datetime(2025, 10, 1, 8, tzinfo=LOCAL_TZ)
PERIODS = ("2025-10", "2025-11", "2025-12", "2025-Q4", "2025-W45", "2025-11-04", "2025-11-05..2025-11-20")
NOWS = (datetime(2025, 11, 12, 15, tzinfo=LOCAL_TZ), datetime(2026, 1, 20, tzinfo=LOCAL_TZ))


def _deadline(rnd: random.Random, after: datetime) -> str:
    return (after + timedelta(hours=rnd.randrange(2, 24 * 20))).isoformat()


def _line(rnd: random.Random, at: datetime) -> tuple[str, dict]:
    unit = rnd.choice(UNITS)
    action = rnd.choice(
        [
            "dispatch",
            "dispatch",
            "redispatch",
            "sign_off",
            "sign_off",
            "reply",
            "reply",
            "review_reply",
            "review_reply",
            "answer_directly",
            "follow_up",
            "follow_up",
            "request_return",
            "decide_return",
            "decide_extension",
            "redo",
            "supervise",
            "chase",
            "decide_unreasonable",
            "sign_off_part",
            "reply_part",
            "waive_part",
            "forward",
            "sign_off_forward",
            "reply_forward",
            "return_forward",
            "decide_forward_extension",
        ]
    )
    if action in ("dispatch", "redispatch"):
        data: dict = {"lead_unit": unit, "sign_off_due": _deadline(rnd, at), "due_at": _deadline(rnd, at)}
        if rnd.random() < 0.3:
            data["parts"] = [{"unit": u, "sign_off_due": _deadline(rnd, at), "due_at": _deadline(rnd, at)} for u in UNITS if u != unit][: rnd.randint(1, 2)]
        if rnd.random() < 0.1:
            data.pop("sign_off_due")  # a deadline missing is no deadline
        return action, data
    if action == "forward":
        return action, {"unit": "T" + unit, "sign_off_due": _deadline(rnd, at), "due_at": _deadline(rnd, at)}
    if action in ("decide_extension", "decide_forward_extension", "decide_return", "decide_unreasonable", "review_reply"):
        return action, {"approved": rnd.random() < 0.7, "due_at": _deadline(rnd, at), "unit": rnd.choice((unit, None))}
    if action == "follow_up":
        satisfaction = rnd.choice(("satisfied", "basically_satisfied", "unsatisfied"))
        return action, {"reached": rnd.random() < 0.8, "resolved": rnd.random() < 0.6, "satisfaction": satisfaction}
    if action in ("sign_off_part", "reply_part", "waive_part", "chase", "supervise"):
        return action, {"unit": unit}
    if action == "redo":
        return action, {"previous_unit": rnd.choice((unit, None))}
    return action, {}


def random_case(rnd: random.Random, number: str) -> CaseLines:
    at, lines = START + timedelta(hours=rnd.randrange(24 * 60)), []
    for seq in range(1, rnd.randint(2, 16)):
        action, data = _line(rnd, at)
        lines.append(Line(seq, at, action, "agent", data))
        # Now and then two lines at one instant (one transaction's), else hours or days apart.
        at += timedelta(0) if rnd.random() < 0.1 else timedelta(hours=rnd.choice((1, 3, 20, 50, 200)))
    return CaseLines(number, rnd.choice(("512002", "512021")), lines)


def stored(cases: list[CaseLines], period: Period) -> list[FactRow]:
    """The facts the read takes: in force at the period's end (since < end <= until), dated in it."""
    out = []
    for case in cases:
        for f in facts_of(case):
            if f.since < period.end and (f.until is None or f.until >= period.end) and period.holds(f.at):
                out.append(_stored(case, f))
    rnd = random.Random(len(out))
    rnd.shuffle(out)  # the database gives them in no particular order
    return out


def _stored(case: CaseLines, f: Fact) -> FactRow:
    return (case.number, case.county_code, f.figure, f.seq, f.ordinal, f.at, f.unit, f.counted, f.resolved, f.open, f.part, f.township)


def before(cases: list[CaseLines], period: Period) -> list[CaseLines]:
    """What the walk reads: each case's lines before the period's end."""
    return [CaseLines(c.number, c.county_code, [ln for ln in c.lines if ln.at < period.end]) for c in cases]


@pytest.mark.parametrize("seed", range(12))
def test_the_stored_items_give_the_figures_of_the_lines_before_the_period_end(seed: int) -> None:
    rnd = random.Random(seed)
    cases = [random_case(rnd, f"C{seed:02d}-{i:03d}") for i in range(40)]
    for label in PERIODS:
        period = Period.parse(label)
        walked = before(cases, period)
        for now in NOWS:
            items = gather([], period, now, stored(cases, period))
            assert scoped(items) == compute(walked, period, now), (label, now)
            units = units_in(walked, period, now)
            assert units_in(items, period, now) == units
            for unit in units:
                assert scoped(items, unit) == compute(walked, period, now, unit), (label, now, unit)
            assert scoped(items, county="512021") == compute(walked, period, now, county="512021")


def test_an_item_changes_at_the_line_that_changes_it() -> None:
    sign, due = datetime(2025, 11, 4, 10, tzinfo=LOCAL_TZ), datetime(2025, 11, 6, 10, tzinfo=LOCAL_TZ)
    at = [datetime(2025, 11, 3, 10, tzinfo=LOCAL_TZ) + timedelta(days=d) for d in range(6)]
    case = CaseLines(
        "C1",
        "512002",
        [
            Line(1, at[0], "dispatch", "agent", {"lead_unit": "U1", "sign_off_due": sign.isoformat(), "due_at": due.isoformat()}),
            Line(2, at[1], "sign_off", "unit", {}),
            Line(3, at[2], "decide_extension", "supervisor", {"approved": True, "due_at": (due + timedelta(days=10)).isoformat()}),
            Line(4, at[3], "chase", "agent", {}),
        ],
    )
    facts = {(f.figure, f.since, f.until, f.at, f.counted, f.open) for f in facts_of(case)}
    assert facts == {
        ("sign_off", at[0], at[1], sign, False, True),  # due, not signed yet
        ("sign_off", at[1], None, sign, True, False),  # signed on the 4th, by its deadline (10:00 that day)
        ("close", at[0], at[2], due, False, True),  # due on the 6th until the extension...
        ("close", at[2], None, due + timedelta(days=10), False, True),  # ...moved it ten days on
        ("chased", at[3], None, at[3], True, False),
    }


def test_a_case_with_an_appeal_is_marked_to_be_walked() -> None:
    at = datetime(2025, 11, 3, 10, tzinfo=LOCAL_TZ)
    case = CaseLines("C1", "512002", [Line(1, at, "redo", "agent", {}), Line(2, at, "appeal_assessment", "unit", {"unit": "U1", "grounds": "overdue"})])
    assert {(f.figure, f.seq, f.unit) for f in facts_of(case)} == {("redone", 1, None), ("appeal", 2, "U1")}
