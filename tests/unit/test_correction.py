"""改单 (issue #20): correcting what intake got wrong. Dates are hand counts on the published
2025 calendar (National Day Oct 1-8 off, Sun Sep 28 and Sat Oct 11 worked), the same facts
as tests/unit/test_deadlines.py: from Fri Sep 26 10:00 the 1st working day is Sep 28, the
3rd Sep 30, the 7th Oct 13, the 10th Oct 16, the 15th Oct 23."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.calendar import WorkingCalendar
from hub.domain.clock import LOCAL_TZ
from hub.domain.deadlines import TimeLimits
from hub.domain.engine import Engine
from hub.domain.errors import ActionNotAllowed, RuleViolation
from hub.domain.model import CaseDraft, CaseState, Role
from tests.support.factories import draft
from tests.unit.test_lifecycle_table import Units

ENGINE = Engine(WorkingCalendar(), TimeLimits(), Units())
AGENT = Actor("A017", Role.AGENT)
SUPERVISOR = Actor("S001", Role.SUPERVISOR)
UNIT = Actor("ZY-SCJGJ", Role.UNIT, unit_code="ZY-SCJGJ")
DISPATCHED = datetime(2025, 9, 26, 10, 0, tzinfo=LOCAL_TZ)  # a Friday
MONDAY = datetime(2025, 9, 29, 9, 0, tzinfo=LOCAL_TZ)


def end_of(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 23, 59, 59, tzinfo=LOCAL_TZ).astimezone(UTC)


def accepted():
    case = ENGINE.register(CaseDraft.model_validate(draft()), "512000202509260001", AGENT, DISPATCHED).case
    return ENGINE.act(case, c.Accept(), AGENT, DISPATCHED).case


def dispatched():
    return ENGINE.act(accepted(), c.Dispatch(lead_unit="ZY-SCJGJ"), AGENT, DISPATCHED).case


def test_before_dispatch_an_agent_corrects_freely_and_the_history_keeps_both_values() -> None:
    case = accepted()
    out = ENGINE.act(case, c.Correct(request_type="enquiry", title="咨询施工许可"), AGENT, DISPATCHED)
    new = out.case
    assert new.state is CaseState.ACCEPTED
    assert (new.request_type.value, new.title, new.category_code) == ("enquiry", "咨询施工许可", "0101")
    entry = new.history[-1]
    assert entry.action == "correct" and entry.actor == "A017"
    assert entry.data["changes"] == {"request_type": {"from": "complaint", "to": "enquiry"}, "title": {"from": "小区噪音扰民", "to": "咨询施工许可"}}
    assert entry.data["reason"] is None
    assert "deadlines" not in entry.data  # nothing runs before dispatch
    assert [e.type for e in out.events] == ["case.corrected"]
    assert out.events[0].data["changes"] == entry.data["changes"]


def test_a_place_correction_records_the_old_and_new_place() -> None:
    place = {"address": "安岳县岳阳镇1号", "division_code": "512021"}
    new = ENGINE.act(accepted(), c.Correct(place=place), AGENT, DISPATCHED).case
    assert new.place.division_code == "512021"
    assert new.history[-1].data["changes"] == {
        "place": {"from": {"address": "雁江区建设路12号", "division_code": "512002"}, "to": {"address": "安岳县岳阳镇1号", "division_code": "512021"}}
    }


def test_after_dispatch_only_a_supervisor_corrects() -> None:
    with pytest.raises(ActionNotAllowed):
        ENGINE.act(dispatched(), c.Correct(request_type="enquiry", reason="类型错"), AGENT, MONDAY)
    with pytest.raises(ActionNotAllowed):
        ENGINE.act(dispatched(), c.Correct(request_type="enquiry", reason="类型错"), UNIT, MONDAY)


def test_after_dispatch_a_reason_is_required() -> None:
    with pytest.raises(RuleViolation, match=r"^reason: "):
        ENGINE.act(dispatched(), c.Correct(request_type="enquiry"), SUPERVISOR, MONDAY)


def test_a_new_type_recounts_deadlines_from_the_original_dispatch() -> None:
    case = dispatched()
    assert case.handling.due_at == end_of(2025, 10, 23)  # complaint: 15 working days
    out = ENGINE.act(case, c.Correct(request_type="enquiry", reason="登记时类型选错"), SUPERVISOR, MONDAY)
    h = out.case.handling
    # Enquiry: 3 working days from Fri Sep 26 -> Tue Sep 30 (from the correction on Monday it
    # would have been Oct 10), sign-off still 1 working day -> Sun Sep 28.
    assert h.due_at == end_of(2025, 9, 30)
    assert h.sign_off_due == end_of(2025, 9, 28)
    assert h.dispatched_at == DISPATCHED
    data = out.case.history[-1].data
    assert data["reason"] == "登记时类型选错"
    assert data["deadlines"]["from"]["due_at"] == end_of(2025, 10, 23).isoformat()
    assert datetime.fromisoformat(data["deadlines"]["to"]["due_at"]) == end_of(2025, 9, 30)
    assert datetime.fromisoformat(out.events[0].data["due_at"]) == end_of(2025, 9, 30)


def test_approved_extensions_stay_granted_on_the_recounted_deadline() -> None:
    case = ENGINE.act(dispatched(), c.SignOff(), UNIT, DISPATCHED + timedelta(hours=1)).case
    case = ENGINE.act(case, c.RequestExtension(working_days=3, reason="需现场核查"), UNIT, MONDAY).case
    case = ENGINE.act(case, c.DecideExtension(approved=True), SUPERVISOR, MONDAY).case
    assert case.handling.due_at == end_of(2025, 10, 28)  # 15 + 3 = 18th working day
    new = ENGINE.act(case, c.Correct(request_type="help", reason="实为求助"), SUPERVISOR, MONDAY).case
    assert new.handling.due_at == end_of(2025, 10, 16)  # help 7 + 3 = 10th working day


def test_an_urgency_correction_puts_the_case_on_the_clock_from_dispatch() -> None:
    new = ENGINE.act(dispatched(), c.Correct(urgency="urgent", reason="涉及安全隐患"), SUPERVISOR, DISPATCHED + timedelta(hours=3)).case
    # Urgent: sign off within 2 hours, complete within 24, both from the dispatch.
    assert new.handling.sign_off_due == datetime(2025, 9, 26, 12, 0, tzinfo=LOCAL_TZ)
    assert new.handling.due_at == datetime(2025, 9, 27, 10, 0, tzinfo=LOCAL_TZ)


def test_a_recount_clears_warned_and_overdue_for_the_new_deadline() -> None:
    case = dispatched()
    case.flags.warned = case.flags.overdue = True
    new = ENGINE.act(case, c.Correct(request_type="report", reason="实为举报"), SUPERVISOR, MONDAY).case
    assert (new.flags.warned, new.flags.overdue) == (False, False)


def test_a_title_correction_leaves_the_deadlines_alone() -> None:
    case = dispatched()
    new = ENGINE.act(case, c.Correct(title="夜间施工噪音", reason="标题不准确"), SUPERVISOR, MONDAY).case
    assert new.handling.due_at == end_of(2025, 10, 23)
    assert "deadlines" not in new.history[-1].data


def test_a_returned_case_is_corrected_and_the_redispatch_counts_the_new_type() -> None:
    case = ENGINE.act(dispatched(), c.RequestReturn(reason="不属于本单位职责"), UNIT, MONDAY).case
    case = ENGINE.act(case, c.DecideReturn(approved=True), AGENT, MONDAY).case
    case = ENGINE.act(case, c.Correct(request_type="enquiry", category_code="0102", reason="分类错误"), SUPERVISOR, MONDAY).case
    assert case.state is CaseState.RETURNED
    again = ENGINE.act(case, c.Redispatch(lead_unit="ZY-SCJGJ"), AGENT, MONDAY).case
    # Enquiry, 3 working days after Mon Sep 29: Sep 30, Oct 9, Oct 10.
    assert again.handling.due_at == end_of(2025, 10, 10)


def test_a_correction_that_changes_nothing_is_refused() -> None:
    with pytest.raises(RuleViolation, match="nothing to correct"):
        ENGINE.act(accepted(), c.Correct(request_type="complaint", title="小区噪音扰民"), AGENT, DISPATCHED)


def test_a_correction_names_at_least_one_field() -> None:
    with pytest.raises(ValidationError, match="at least one of"):
        c.Correct(reason="无")
    with pytest.raises(ValidationError):
        c.Correct(title="")
