"""The assessment formulas on hand-written history lines (no database): the edges the
month in tests/integration/test_assessment_figures.py does not reach."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from hub.domain.clock import LOCAL_TZ
from hub.supervision.assessment import CaseLines, Line, Period, compute

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
    assert OCT.holds(datetime(2025, 9, 30, 16, 0, tzinfo=timezone.utc))  # 00:00 Oct 1 local
    assert not OCT.holds(datetime(2025, 9, 30, 15, 59, 59, tzinfo=timezone.utc))
    for bad in ("2025-13", "2025-1", "25-10", "2025/10", ""):
        with pytest.raises(ValueError, match="YYYY-MM"):
            Period.parse(bad)


def test_nothing_due_gives_no_rate_and_zero_counts() -> None:
    a = compute([], OCT, AFTER)
    assert all(f.value is None and f.denominator == 0 for f in a.figures if f.key.endswith("_rate"))
    assert all(f.value == 0 and f.denominator is None for f in a.figures if not f.key.endswith("_rate"))


def test_a_return_asked_after_the_deadline_does_not_excuse_the_unit() -> None:
    late = case("C-LATE", dispatch(t(9), "U1", due(10), due(13)),
                ("request_return", t(11), {"unit": "U1"}), ("decide_return", t(11, 12), {"approved": True, "unit": "U1"}))
    timely = case("C-TIMELY", dispatch(t(9), "U1", due(10), due(13)),
                  ("request_return", t(10), {"unit": "U1"}), ("decide_return", t(11), {"approved": True, "unit": "U1"}))
    a = compute([late, timely], OCT, AFTER)
    # 签收率 0 / 1: C-LATE asked on the 11th, after its sign-off deadline (the 10th)...
    assert [(i.case, i.counted) for i in a.figure("sign_off_rate").items] == [("C-LATE", False)]
    # ...but before its completion deadline (the 13th): neither is due to close.
    assert a.figure("on_time_rate").items == []
    assert a.figure("returned").numerator == 2


def test_the_last_reply_of_an_obligation_is_judged_and_extensions_move_the_deadline() -> None:
    sent_back = case("C-BACK", dispatch(t(9), "U1", due(10), due(13)), ("sign_off", t(10, 9), {}),
                     ("reply", t(13), {}), ("review_reply", t(13, 11), {"approved": False}),
                     ("reply", t(14), {}))  # the accepted reply came a day late
    extended = case("C-EXT", dispatch(t(9), "U1", due(10), due(13)), ("sign_off", t(10, 9), {}),
                    ("decide_extension", t(11), {"approved": False}),
                    ("decide_extension", t(12), {"approved": True, "due_at": due(15)}), ("reply", t(15), {}))
    a = compute([sent_back, extended], OCT, AFTER)
    assert sorted((i.case, i.counted, i.at.astimezone(LOCAL_TZ).day) for i in a.figure("on_time_rate").items) == [
        ("C-BACK", False, 13), ("C-EXT", True, 15)]
    assert a.figure("overdue").cases == ["C-BACK"]


def test_supervised_once_per_case_and_judged_at_the_cutoff() -> None:
    twice = case("C-SUP", dispatch(t(20), "U1", due(21), due(30)),
                 ("supervise", t(22), {"reason": "a"}), ("supervise", t(23), {"reason": "b"}))
    a = compute([twice], OCT, t(21, 12))  # before the sign-off deadline, unsigned: not yet due
    assert a.figure("sign_off_rate").denominator == 0 and a.as_of == t(21, 12)
    a = compute([twice], OCT, AFTER)
    assert a.figure("supervised").numerator == 1 and a.figure("supervised").items[0].seq == 2
    assert (a.figure("sign_off_rate").numerator, a.figure("sign_off_rate").denominator) == (0, 1)
    assert compute([twice], OCT, AFTER, unit="U2").figure("supervised").numerator == 0
    assert compute([twice], OCT, AFTER, county="512021").figure("sign_off_rate").denominator == 0
