"""The assessment formulas on hand-written history lines (no database): the edges the
month in tests/integration/test_assessment_figures.py does not reach."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.domain.clock import LOCAL_TZ
from supervision.assessment import CaseLines, Line, Period, compute

OCT = Period.parse("2025-10")
AFTER = datetime(2025, 11, 10, tzinfo=LOCAL_TZ)


def t(day: int, hour: int = 10, month: int = 10) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=LOCAL_TZ)


def due(day: int, month: int = 10) -> str:
    return datetime(2025, month, day, 23, 59, 59, tzinfo=LOCAL_TZ).isoformat()


def case(number: str, *lines: tuple[str, datetime, dict]) -> CaseLines:
    return CaseLines(number, "512002", [Line(i + 1, at, action, "agent", data) for i, (action, at, data) in enumerate(lines)])


def dispatch(at: datetime, unit: str, sign: str, complete: str) -> tuple[str, datetime, dict]:
    return ("dispatch", at, {"lead_unit": unit, "sign_off_due": sign, "due_at": complete})


def test_periods_are_local_months() -> None:
    dec = Period.parse("2025-12")
    assert (dec.start.isoformat(), dec.end.isoformat()) == ("2025-12-01T00:00:00+08:00", "2026-01-01T00:00:00+08:00")
    assert OCT.holds(datetime(2025, 9, 30, 16, 0, tzinfo=UTC))  # 00:00 Oct 1 local
    assert not OCT.holds(datetime(2025, 9, 30, 15, 59, 59, tzinfo=UTC))
    for bad in ("2025-13", "2025-1", "25-10", "2025/10", ""):
        with pytest.raises(ValueError, match="YYYY-MM"):
            Period.parse(bad)


def test_nothing_due_gives_no_rate_and_zero_counts() -> None:
    a = compute([], OCT, AFTER)
    assert all(f.value is None and f.denominator == 0 for f in a.figures if f.key.endswith("_rate"))
    assert all(f.value == 0 and f.denominator is None for f in a.figures if not f.key.endswith("_rate"))


def test_a_return_asked_after_the_deadline_does_not_excuse_the_unit() -> None:
    late = case(
        "C-LATE",
        dispatch(t(9), "U1", due(10), due(13)),
        ("request_return", t(11), {"unit": "U1"}),
        ("decide_return", t(11, 12), {"approved": True, "unit": "U1"}),
    )
    timely = case(
        "C-TIMELY",
        dispatch(t(9), "U1", due(10), due(13)),
        ("request_return", t(10), {"unit": "U1"}),
        ("decide_return", t(11), {"approved": True, "unit": "U1"}),
    )
    a = compute([late, timely], OCT, AFTER)
    # 签收率 0 / 1: C-LATE asked on the 11th, after its sign-off deadline (the 10th)...
    assert [(i.case, i.counted) for i in a.figure("sign_off_rate").items] == [("C-LATE", False)]
    # ...but before its completion deadline (the 13th): neither is due to close.
    assert a.figure("on_time_rate").items == []
    assert a.figure("returned").numerator == 2


def test_the_last_reply_of_an_obligation_is_judged_and_extensions_move_the_deadline() -> None:
    sent_back = case(
        "C-BACK",
        dispatch(t(9), "U1", due(10), due(13)),
        ("sign_off", t(10, 9), {}),
        ("reply", t(13), {}),
        ("review_reply", t(13, 11), {"approved": False}),
        ("reply", t(14), {}),
    )  # the accepted reply came a day late
    extended = case(
        "C-EXT",
        dispatch(t(9), "U1", due(10), due(13)),
        ("sign_off", t(10, 9), {}),
        ("decide_extension", t(11), {"approved": False}),
        ("decide_extension", t(12), {"approved": True, "due_at": due(15)}),
        ("reply", t(15), {}),
    )
    a = compute([sent_back, extended], OCT, AFTER)
    assert sorted((i.case, i.counted, i.at.astimezone(LOCAL_TZ).day) for i in a.figure("on_time_rate").items) == [("C-BACK", False, 13), ("C-EXT", True, 15)]
    assert a.figure("overdue").cases == ["C-BACK"]


def test_supervised_once_per_case_and_judged_at_the_cutoff() -> None:
    twice = case("C-SUP", dispatch(t(20), "U1", due(21), due(30)), ("supervise", t(22), {"reason": "a"}), ("supervise", t(23), {"reason": "b"}))
    a = compute([twice], OCT, t(21, 12))  # before the sign-off deadline, unsigned: not yet due
    assert a.figure("sign_off_rate").denominator == 0 and a.as_of == t(21, 12)
    a = compute([twice], OCT, AFTER)
    assert a.figure("supervised").numerator == 1 and a.figure("supervised").items[0].seq == 2
    assert (a.figure("sign_off_rate").numerator, a.figure("sign_off_rate").denominator) == (0, 1)
    assert compute([twice], OCT, AFTER, unit="U2").figure("supervised").numerator == 0
    assert compute([twice], OCT, AFTER, county="512021").figure("sign_off_rate").denominator == 0


def test_lines_are_read_in_history_order_and_the_first_sign_off_is_judged() -> None:
    shuffled = CaseLines(
        "C-ORDER",
        "512002",
        [
            Line(3, t(11), "sign_off", "unit", {}),  # a repeated sign-off (a county feed sent it twice), late
            Line(1, t(9), "dispatch", "agent", {"lead_unit": "U1", "sign_off_due": due(10), "due_at": due(13)}),
            Line(2, t(10), "sign_off", "unit", {}),
        ],
    )
    a = compute([shuffled], OCT, AFTER)
    assert [(i.case, i.seq, i.counted) for i in a.figure("sign_off_rate").items] == [("C-ORDER", 1, True)]


def test_a_unit_that_signed_and_then_gave_the_case_back_is_judged_on_its_sign_off() -> None:
    signed = case(
        "C-SIGNED",
        dispatch(t(9), "U1", due(10), due(13)),
        ("sign_off", t(10, 9), {}),
        ("request_return", t(10, 10), {"unit": "U1"}),
        ("decide_return", t(10, 11), {"approved": True}),
    )
    a = compute([signed], OCT, AFTER)
    assert [(i.case, i.counted) for i in a.figure("sign_off_rate").items] == [("C-SIGNED", True)]
    assert a.figure("on_time_rate").items == []  # asked before the completion deadline
    # The return names the unit of the obligation when the line does not.
    assert [(i.case, i.unit) for i in a.figure("returned").items] == [("C-SIGNED", "U1")]


def test_a_deadline_reached_exactly_at_the_cutoff_is_due() -> None:
    open_case = case("C-OPEN", dispatch(t(9), "U1", due(10), due(13)))
    at_sign_due = datetime.fromisoformat(due(10))
    a = compute([open_case], OCT, at_sign_due)
    assert [(i.case, i.counted) for i in a.figure("sign_off_rate").items] == [("C-OPEN", False)]
    assert a.figure("on_time_rate").items == []  # the 13th is still ahead
    b = compute([open_case], OCT, datetime.fromisoformat(due(13)))
    assert [(i.case, i.counted) for i in b.figure("on_time_rate").items] == [("C-OPEN", False)]
    assert b.figure("overdue").numerator == 1
    # Replied before its deadline while the deadline is still ahead: due, and on time.
    early = case("C-EARLY", dispatch(t(9), "U1", due(10), due(13)), ("sign_off", t(9, 11), {}), ("reply", t(11), {}))
    c = compute([early], OCT, t(12))
    assert [(i.case, i.counted) for i in c.figure("on_time_rate").items] == [("C-EARLY", True)]
    assert [(i.case, i.counted) for i in c.figure("sign_off_rate").items] == [("C-EARLY", True)]


def test_lines_outside_an_obligation_count_for_no_unit_and_break_nothing() -> None:
    stray = case(
        "C-STRAY",
        ("request_return", t(8), {"unit": "U9"}),  # before any dispatch: no obligation to excuse
        ("reply", t(8, 11), {}),
        ("decide_extension", t(8, 12), {"approved": True, "due_at": due(20)}),
        ("follow_up", t(8, 13), {"reached": True, "resolved": True, "satisfaction": "satisfied"}),
        ("supervise", t(8, 14), {"reason": "督办", "unit": "U7"}),
        ("decide_return", t(8, 15), {"approved": True}),
    )
    a = compute([stray], OCT, AFTER)
    assert [(i.case, i.unit) for i in a.figure("satisfaction_rate").items] == [("C-STRAY", None)]
    assert [(i.case, i.unit) for i in a.figure("supervised").items] == [("C-STRAY", "U7")]
    assert [(i.case, i.unit) for i in a.figure("returned").items] == [("C-STRAY", None)]
    assert a.figure("on_time_rate").items == [] and a.figure("sign_off_rate").items == []


def test_an_extension_without_a_new_deadline_moves_nothing_and_a_redo_ends_the_obligation() -> None:
    kept = case(
        "C-KEPT", dispatch(t(9), "U1", due(10), due(13)), ("sign_off", t(10), {}), ("decide_extension", t(11), {"approved": True}), ("reply", t(14), {})
    )
    redone = case(
        "C-REDO",
        dispatch(t(9), "U2", due(10), due(13)),
        ("sign_off", t(10), {}),
        ("reply", t(12), {}),
        ("review_reply", t(12, 11), {"approved": True}),
        ("redo", t(12, 12), {}),  # no previous_unit on the line: the obligation's unit
        ("reply", t(20), {}),  # outside any obligation after the redo: judged nowhere
        ("follow_up", t(21), {"reached": True, "resolved": False, "satisfaction": "unsatisfied"}),
    )
    a = compute([kept, redone], OCT, AFTER)
    assert sorted((i.case, i.counted) for i in a.figure("on_time_rate").items) == [("C-KEPT", False), ("C-REDO", True)]
    assert [(i.case, i.unit) for i in a.figure("redone").items] == [("C-REDO", "U2")]
    # The follow-up after the redo belongs to no need and no obligation.
    assert [(i.case, i.unit) for i in a.figure("satisfaction_rate").items] == [("C-REDO", None)]
    assert a.figure("follow_up_rate").items[0].counted is False


def test_only_what_happened_in_the_period_counts_and_items_come_sorted() -> None:
    late_october = case(
        "C-B",
        dispatch(t(28), "U1", due(29), due(3, 11)),
        ("sign_off", t(29), {}),
        ("request_return", t(2, 10, 11), {"unit": "U1"}),
        ("decide_return", t(3, 10, 11), {"approved": True, "unit": "U1"}),
        ("supervise", t(3, 11, 11), {"reason": "督办"}),
    )
    early = case("C-A", dispatch(t(9), "U2", due(10), due(13)), ("sign_off", t(10), {}), ("reply", t(13), {}))
    a = compute([late_october, early], OCT, AFTER)
    assert [i.case for i in a.figure("sign_off_rate").items] == ["C-A", "C-B"]
    assert a.figure("sign_off_rate").denominator_cases == ["C-A", "C-B"]
    assert a.figure("returned").items == [] and a.figure("supervised").items == []  # both in November
    assert [i.case for i in a.figure("on_time_rate").items] == ["C-A"]  # C-B's deadline is in November
    nov = compute([late_october, early], Period.parse("2025-11"), datetime(2025, 12, 5, tzinfo=LOCAL_TZ))
    assert (nov.figure("returned").numerator, nov.figure("supervised").numerator) == (1, 1)
    assert nov.figure("on_time_rate").items == []  # asked to return before the deadline: excused
    from supervision.assessment import units_in

    assert units_in([late_october, early], OCT, AFTER) == ["U1", "U2"]
    assert units_in([late_october, early], OCT, AFTER, county="512021") == []


def test_satisfied_and_basically_satisfied_both_please() -> None:
    lines = [
        case(f"C-{answer}", ("answer_directly", t(9), {}), ("follow_up", t(10), {"reached": True, "resolved": True, "satisfaction": answer}))
        for answer in ("satisfied", "basically_satisfied", "unsatisfied")
    ]
    a = compute(lines, OCT, AFTER)
    assert a.figure("satisfaction_rate").cases == ["C-basically_satisfied", "C-satisfied"]
    assert (a.figure("satisfaction_rate").numerator, a.figure("satisfaction_rate").denominator) == (2, 3)


def test_a_refused_return_excuses_nothing_and_a_missing_deadline_is_no_deadline() -> None:
    refused = case(
        "C-REFUSED", dispatch(t(9), "U1", due(10), due(13)), ("request_return", t(9, 12), {"unit": "U1"}), ("decide_return", t(9, 15), {"approved": False})
    )
    undated = case("C-UNDATED", ("dispatch", t(9), {"lead_unit": "U2", "sign_off_due": ""}))
    november = case("C-NOV", dispatch(t(27), "U3", due(28), due(4, 11)))
    a = compute([refused, undated, november], OCT, AFTER)
    assert [(i.case, i.counted) for i in a.figure("sign_off_rate").items] == [("C-NOV", False), ("C-REFUSED", False)]
    assert [(i.case, i.counted) for i in a.figure("on_time_rate").items] == [("C-REFUSED", False)]
    assert a.figure("returned").items == []


def test_history_lines_and_periods_cannot_be_changed_once_read() -> None:
    from dataclasses import FrozenInstanceError

    line = Line(1, t(9), "dispatch", "agent", {})
    for obj, attr in ((line, "action"), (CaseLines("C-1", "512002", [line]), "number"), (OCT, "end")):
        with pytest.raises(FrozenInstanceError):
            setattr(obj, attr, None)


def test_a_redispatch_opens_the_next_units_obligation() -> None:
    moved = case(
        "C-MOVED",
        dispatch(t(9), "U1", due(10), due(13)),
        ("request_return", t(9, 12), {"unit": "U1"}),
        ("decide_return", t(9, 15), {"approved": True, "unit": "U1"}),
        ("redispatch", t(9, 16), {"lead_unit": "U2", "sign_off_due": due(10), "due_at": due(14)}),
        ("sign_off", t(10), {}),
        ("reply", t(14), {}),
    )
    a = compute([moved], OCT, AFTER)
    assert [(i.unit, i.seq, i.counted) for i in a.figure("sign_off_rate").items] == [("U2", 4, True)]
    assert [(i.unit, i.counted) for i in a.figure("on_time_rate").items] == [("U2", True)]


def test_a_return_asked_exactly_at_the_completion_deadline_excuses_it() -> None:
    at_due = case(
        "C-AT-DUE",
        dispatch(t(9), "U1", due(10), due(13)),
        ("sign_off", t(10), {}),
        ("request_return", datetime.fromisoformat(due(13)), {"unit": "U1"}),
        ("decide_return", t(14), {"approved": True, "unit": "U1"}),
    )
    a = compute([at_due], OCT, AFTER)
    assert a.figure("on_time_rate").items == []
    assert [(i.case, i.counted) for i in a.figure("sign_off_rate").items] == [("C-AT-DUE", True)]


def test_only_an_approved_review_or_a_direct_answer_needs_a_follow_up() -> None:
    sent_back = case(
        "C-SENT-BACK", dispatch(t(9), "U1", due(10), due(13)), ("sign_off", t(10), {}), ("reply", t(11), {}), ("review_reply", t(11, 12), {"approved": False})
    )
    extended_early = case("C-EXT-EARLY", ("decide_extension", t(9), {"approved": True, "due_at": due(20)}))
    a = compute([sent_back, extended_early], OCT, AFTER)
    assert a.figure("follow_up_rate").items == []


def test_chasing_is_counted_once_per_case_in_the_period() -> None:
    """催办件数 (issue #20): C-CH1 chased three times in October (counted once, at its first
    chase, for U1); C-CH2 chased in September and October (counted once in each month, for U2
    after its re-dispatch); C-CH3 never chased. October: 2 cases, U1 1, U2 1."""
    ch1 = case("C-CH1", dispatch(t(9), "U1", due(10), due(20)), ("chase", t(10), {}), ("chase", t(11), {}), ("chase", t(12), {}))
    ch2 = case(
        "C-CH2",
        dispatch(t(25, month=9), "U1", due(26, 9), due(20)),
        ("chase", t(26, month=9), {}),
        ("redispatch", t(29, month=9), {"lead_unit": "U2", "sign_off_due": due(30, 9), "due_at": due(20)}),
        ("chase", t(15), {}),
    )
    ch3 = case("C-CH3", dispatch(t(9), "U1", due(10), due(20)), ("sign_off", t(9, 11), {}))
    a = compute([ch1, ch2, ch3], OCT, AFTER)
    chased = a.figure("chased")
    assert (chased.numerator, chased.cases) == (2, ["C-CH1", "C-CH2"])
    assert [(i.case, i.seq, i.unit) for i in chased.items] == [("C-CH1", 2, "U1"), ("C-CH2", 4, "U2")]
    assert compute([ch1, ch2, ch3], OCT, AFTER, unit="U1").figure("chased").cases == ["C-CH1"]
    sep = compute([ch1, ch2, ch3], Period.parse("2025-09"), AFTER).figure("chased")
    assert [(i.case, i.unit) for i in sep.items] == [("C-CH2", "U1")]


def test_approved_unreasonable_requests_leave_the_satisfaction_figures() -> None:
    """不合理诉求 (issue #20). Four reached follow-ups in October: C-OK 满意 and resolved;
    C-UNR 不满意 and unresolved, its unit's application approved; C-REF 不满意, application
    refused; C-LATE 不满意, application approved in November. October as at its end: C-UNR is
    left out, so 满意率 1/3 (C-OK of C-OK, C-REF, C-LATE) and 解决率 1/3; 不合理诉求件数 1 (C-UNR).
    November: C-LATE counted apart (1); it had no October-judged change (read at October's end)."""

    def closed(number: str, pleased: bool, *extra):
        satisfaction, resolved = ("satisfied", True) if pleased else ("unsatisfied", False)
        return case(
            number,
            dispatch(t(9), "U1", due(10), due(20)),
            ("sign_off", t(9, 11), {}),
            ("reply", t(12), {}),
            ("review_reply", t(13), {"approved": True}),
            ("follow_up", t(14), {"reached": True, "resolved": resolved, "satisfaction": satisfaction}),
            *extra,
        )

    ok = closed("C-OK", True)
    unr = closed("C-UNR", False, ("decide_unreasonable", t(15), {"approved": True, "unit": "U1"}))
    ref = closed("C-REF", False, ("decide_unreasonable", t(15), {"approved": False, "unit": "U1"}))
    late = closed("C-LATE", False, ("decide_unreasonable", t(3, month=11), {"approved": True, "unit": "U1"}))
    # As the service reads a period: lines after its end are not read (queries.assessment_lines).
    late_in_october = CaseLines(late.number, late.county_code, [ln for ln in late.lines if ln.at < OCT.end])
    a = compute([ok, unr, ref, late_in_october], OCT, AFTER)
    sat, res = a.figure("satisfaction_rate"), a.figure("resolution_rate")
    assert (sat.numerator, sat.denominator, sat.denominator_cases) == (1, 3, ["C-LATE", "C-OK", "C-REF"])
    assert (res.numerator, res.denominator) == (1, 3)
    assert (a.figure("unreasonable").numerator, a.figure("unreasonable").cases) == (1, ["C-UNR"])
    assert a.figure("unreasonable").items[0].unit == "U1"
    nov = compute([ok, unr, ref, late], Period.parse("2025-11"), datetime(2025, 12, 10, tzinfo=LOCAL_TZ))
    assert nov.figure("unreasonable").cases == ["C-LATE"] and nov.figure("satisfaction_rate").denominator == 0


def test_an_upheld_overdue_appeal_counts_the_reply_on_time_and_a_refused_one_is_shown() -> None:
    """考核申诉 on 超期 (issue #20). Three cases of U1, each due to reply by Oct 12 and each
    replied on the 14th (late). C-UP appealed and upheld; C-NO appealed and refused; C-WAIT
    appealed, not yet decided. 按期办结率 1/3 (C-UP only), 超期件数 2 (C-NO, C-WAIT); the
    items carry upheld / refused / pending; 考核申诉件数 3, 申诉成立件数 1 (C-UP)."""

    def late(number: str, *extra):
        return case(
            number,
            dispatch(t(9), "U1", due(10), due(12)),
            ("sign_off", t(9, 11), {}),
            ("reply", t(14), {}),
            ("appeal_assessment", t(15), {"grounds": "overdue", "unit": "U1", "reason": "时限设置错误"}),
            *extra,
        )

    up = late("C-UP", ("decide_appeal", t(16), {"upheld": True, "grounds": "overdue", "unit": "U1"}))
    no = late("C-NO", ("decide_appeal", t(16), {"upheld": False, "grounds": "overdue", "unit": "U1"}))
    wait = late("C-WAIT")
    a = compute([up, no, wait], OCT, AFTER)
    on_time = a.figure("on_time_rate")
    assert (on_time.numerator, on_time.denominator, on_time.cases) == (1, 3, ["C-UP"])
    assert {i.case: i.appeal for i in on_time.items} == {"C-UP": "upheld", "C-NO": "refused", "C-WAIT": "pending"}
    assert sorted(a.figure("overdue").cases) == ["C-NO", "C-WAIT"]
    assert (a.figure("appealed").numerator, a.figure("appeals_upheld").cases) == (3, ["C-UP"])


def test_an_upheld_unsatisfied_appeal_takes_the_units_follow_up_out_of_both_rates() -> None:
    """考核申诉 on 不满意. C-OK 满意 and resolved; C-UP 不满意, unit U1's appeal upheld; C-NO
    不满意, appeal refused. 满意率 1/2 (C-OK of C-OK, C-NO), 解决率 1/2; C-NO's item shows the
    refusal. An appeal decided in November changes the October figure it contests (the
    service reads appeal lines past the period's end) and is counted in November."""

    def followed(number: str, pleased: bool, *extra):
        satisfaction, resolved = ("satisfied", True) if pleased else ("unsatisfied", False)
        return case(
            number,
            dispatch(t(9), "U1", due(10), due(20)),
            ("sign_off", t(9, 11), {}),
            ("reply", t(12), {}),
            ("review_reply", t(13), {"approved": True}),
            ("follow_up", t(14), {"reached": True, "resolved": resolved, "satisfaction": satisfaction}),
            *extra,
        )

    appeal = ("appeal_assessment", t(15), {"grounds": "unsatisfied", "unit": "U1", "reason": "已依政策答复"})
    ok = followed("C-OK", True)
    up = followed("C-UP", False, appeal, ("decide_appeal", t(16), {"upheld": True, "grounds": "unsatisfied", "unit": "U1"}))
    no = followed("C-NO", False, appeal, ("decide_appeal", t(16), {"upheld": False, "grounds": "unsatisfied", "unit": "U1"}))
    a = compute([ok, up, no], OCT, AFTER)
    sat, res = a.figure("satisfaction_rate"), a.figure("resolution_rate")
    assert (sat.numerator, sat.denominator, sat.denominator_cases) == (1, 2, ["C-NO", "C-OK"])
    assert (res.numerator, res.denominator) == (1, 2)
    assert {i.case: i.appeal for i in sat.items} == {"C-OK": None, "C-NO": "refused"}
    assert a.figure("appeals_upheld").cases == ["C-UP"]
    # Decided in November: October's 满意率 leaves C-LATE out; the count is November's.
    late = followed(
        "C-LATE",
        False,
        ("appeal_assessment", t(3, month=11), {"grounds": "unsatisfied", "unit": "U1", "reason": "x"}),
        ("decide_appeal", t(4, month=11), {"upheld": True, "grounds": "unsatisfied", "unit": "U1"}),
    )
    october = compute([ok, late], OCT, datetime(2025, 11, 5, tzinfo=LOCAL_TZ))
    assert (october.figure("satisfaction_rate").denominator_cases, october.figure("appeals_upheld").cases) == (["C-OK"], [])
    assert compute([late], Period.parse("2025-11"), datetime(2025, 12, 10, tzinfo=LOCAL_TZ)).figure("appeals_upheld").cases == ["C-LATE"]


def test_a_return_asked_at_the_very_deadline_is_in_time() -> None:
    """'Asked in time' includes the deadline's own second (docs/supervision.md: by the deadline),
    for the sign-off and for the completion deadline alike."""
    at_sign_due = case(
        "C-SIGN",
        dispatch(t(9), "U1", due(10), due(13)),
        ("request_return", datetime.fromisoformat(due(10)), {"unit": "U1"}),
        ("decide_return", t(11), {"approved": True, "unit": "U1"}),
    )
    at_close_due = case(
        "C-CLOSE",
        dispatch(t(9), "U1", due(10), due(13)),
        ("sign_off", t(10), {}),
        ("request_return", datetime.fromisoformat(due(13)), {"unit": "U1"}),
        ("decide_return", t(14), {"approved": True, "unit": "U1"}),
    )
    a = compute([at_sign_due, at_close_due], OCT, AFTER)
    # C-SIGN: not judged on signing; C-CLOSE signed on time (1 / 1).
    assert [(i.case, i.counted) for i in a.figure("sign_off_rate").items] == [("C-CLOSE", True)]
    # Neither is judged on closing: both gave the case back by the deadline.
    assert a.figure("on_time_rate").items == [] and a.figure("overdue").numerator == 0


def test_an_upheld_unsatisfied_appeal_takes_out_only_the_units_unpleased_follow_ups() -> None:
    """The same unit replied twice (a redo between): its first follow-up unsatisfied, its second
    satisfied and resolved. Its upheld 不满意 appeal removes the first only: 满意率 1 / 1."""
    lines = case(
        "C-APPEAL",
        dispatch(t(1), "U1", due(2), due(9)),
        ("reply", t(3), {}),
        ("review_reply", t(3, 11), {"approved": True}),
        ("follow_up", t(4), {"reached": True, "resolved": False, "satisfaction": "unsatisfied"}),
        ("redo", t(4, 11), {"previous_unit": "U1"}),
        dispatch(t(5), "U1", due(6), due(12)),
        ("reply", t(6), {}),
        ("review_reply", t(6, 11), {"approved": True}),
        ("follow_up", t(7), {"reached": True, "resolved": True, "satisfaction": "satisfied"}),
        ("appeal_assessment", t(8), {"unit": "U1", "grounds": "unsatisfied"}),
        ("decide_appeal", t(9), {"unit": "U1", "grounds": "unsatisfied", "upheld": True}),
    )
    a = compute([lines], OCT, AFTER)
    assert [(i.seq, i.counted) for i in a.figure("satisfaction_rate").items] == [(9, True)]
    assert [(i.seq, i.counted) for i in a.figure("resolution_rate").items] == [(9, True)]


def test_items_are_no_co_units_part_unless_they_are_one() -> None:
    """Item.part marks a 协办 part only: the lead's obligations and the counts say False."""
    lines = case(
        "C-LEAD",
        dispatch(t(1), "U1", due(2), due(9)),
        ("sign_off", t(2), {}),
        ("reply", t(3), {}),
        ("review_reply", t(3, 11), {"approved": True}),
        ("follow_up", t(4), {"reached": True, "resolved": True, "satisfaction": "satisfied"}),
        ("chase", t(4, 12), {"unit": "U1"}),
    )
    a = compute([lines], OCT, AFTER)
    for key in ("sign_off_rate", "on_time_rate", "follow_up_rate", "satisfaction_rate", "chased"):
        assert [i.part for i in a.figure(key).items] == [False], key


def test_a_pending_unsatisfied_appeal_shows_on_the_follow_up_and_an_unreached_one_counts_nowhere() -> None:
    appealed = case(
        "C-PENDING",
        dispatch(t(1), "U1", due(2), due(9)),
        ("reply", t(3), {}),
        ("review_reply", t(3, 11), {"approved": True}),
        ("follow_up", t(4), {"reached": False}),  # nobody answered: the need stays open
        ("follow_up", t(5), {"reached": True, "resolved": False, "satisfaction": "unsatisfied"}),
        ("appeal_assessment", t(6), {"unit": "U1", "grounds": "unsatisfied"}),  # not decided yet
    )
    a = compute([appealed], OCT, AFTER)
    # The reached follow-up alone, still counted against U1 while the appeal waits, marked pending.
    assert [(i.seq, i.counted, i.appeal) for i in a.figure("satisfaction_rate").items] == [(5, False, "pending")]
    assert [(i.seq, i.counted, i.appeal) for i in a.figure("resolution_rate").items] == [(5, False, "pending")]
    need = a.figure("follow_up_rate").items
    assert [(i.seq, i.counted) for i in need] == [(3, True)]  # the need of the approved reply, reached on the 5th


def test_an_approved_unreasonable_request_is_counted_for_the_unit_that_applied() -> None:
    """A co-unit (协办) may apply: the count goes to it, not to the lead of the moment."""
    lines = case(
        "C-UNREASONABLE",
        ("dispatch", t(1), {"lead_unit": "U1", "sign_off_due": due(2), "due_at": due(9), "parts": [{"unit": "U2", "sign_off_due": due(2), "due_at": due(8)}]}),
        ("decide_unreasonable", t(3), {"approved": True, "unit": "U2"}),
    )
    a = compute([lines], OCT, AFTER)
    assert [(i.case, i.unit) for i in a.figure("unreasonable").items] == [("C-UNREASONABLE", "U2")]


def test_a_part_waived_at_the_very_deadline_is_not_due_for_it() -> None:
    """docs/supervision.md: a part the centre waived at or before a deadline, and not met by
    then, is not due for that deadline; the lead's obligation is judged as usual."""
    with_part = {"lead_unit": "U1", "sign_off_due": due(2), "due_at": due(9), "parts": [{"unit": "U2", "sign_off_due": due(2), "due_at": due(9)}]}
    at_sign_due = case(
        "C-W1",
        ("dispatch", t(1), with_part),
        ("sign_off", t(2), {}),
        ("waive_part", datetime.fromisoformat(due(2)), {"unit": "U2"}),
        ("reply", t(8), {}),
    )
    at_close_due = case(
        "C-W2",
        ("dispatch", t(1), with_part),
        ("sign_off", t(2), {}),
        ("sign_off_part", t(2, 11), {"unit": "U2"}),
        ("waive_part", datetime.fromisoformat(due(9)), {"unit": "U2"}),
        ("reply", t(8), {}),
    )
    a = compute([at_sign_due, at_close_due], OCT, AFTER)
    assert [(i.case, i.unit, i.counted) for i in a.figure("sign_off_rate").items] == [("C-W1", "U1", True), ("C-W2", "U1", True), ("C-W2", "U2", True)]
    assert [(i.case, i.unit, i.counted) for i in a.figure("on_time_rate").items] == [("C-W1", "U1", True), ("C-W2", "U1", True)]


def test_an_upheld_unsatisfied_appeal_also_takes_out_a_satisfied_but_unresolved_follow_up() -> None:
    """docs/supervision.md: the unpleased follow-ups are those 不满意 *or unresolved*."""
    lines = case(
        "C-UNRESOLVED",
        dispatch(t(1), "U1", due(2), due(9)),
        ("reply", t(3), {}),
        ("review_reply", t(3, 11), {"approved": True}),
        ("follow_up", t(4), {"reached": True, "resolved": False, "satisfaction": "satisfied"}),
        ("appeal_assessment", t(5), {"unit": "U1", "grounds": "unsatisfied"}),
        ("decide_appeal", t(6), {"unit": "U1", "grounds": "unsatisfied", "upheld": True}),
    )
    a = compute([lines], OCT, AFTER)
    assert a.figure("satisfaction_rate").items == [] and a.figure("resolution_rate").items == []
