"""The domain's rules as scenarios, each expectation written by hand (dates, counts, texts):
who sees which case, the rows a mutation run found untested, what each step records and
reads back, the edges of the time limits and the assessment period. The engine runs on the
domain objects alone, no store. See tests/MUTATION.md for why each of these exists."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta, tzinfo

import pytest

from hub.domain import commands as c
from hub.domain.access import SYSTEM_ACTOR, Actor, can_see, can_see_case, mask_address, mask_phone, view_for
from hub.domain.calendar import WorkingCalendar
from hub.domain.clock import LOCAL_TZ
from hub.domain.deadlines import TimeLimits, compute_deadlines
from hub.domain.engine import Engine
from hub.domain.errors import AccessDenied, ActionNotAllowed, RuleViolation
from hub.domain.model import Case, CaseDraft, CaseState, ExternalRef, RequestType, Role, Urgency
from supervision.assessment import CaseLines, Line, Period, compute
from tests.support.factories import draft
from tests.unit.test_lifecycle_table import Units  # YJ- units sit in 雁江区 (512002), the rest at the city (512000)

ENGINE = Engine(WorkingCalendar(), TimeLimits(), Units())

AGENT = Actor("agent-a017", Role.AGENT)
SUPERVISOR = Actor("supervisor-li", Role.SUPERVISOR)
UNIT = Actor("ZY-SCJGJ", Role.UNIT, unit_code="ZY-SCJGJ")
OTHER_UNIT = Actor("ZY-ZJJ", Role.UNIT, unit_code="ZY-ZJJ")
COUNTY = Actor("yanjiang", Role.COUNTY, divisions=("512002",))
PROVINCE = Actor("province", Role.PROVINCE)
SYSTEM = Actor("hub", Role.SYSTEM)

# Friday 26 Sep 2025, 10:00 in Ziyang, before the National Day holiday (1-8 Oct; Sun 28 Sep
# and Sat 11 Oct are make-up working days).
FRI = datetime(2025, 9, 26, 10, 0, tzinfo=LOCAL_TZ)


def local(month: int, day: int, hour: int = 23, minute: int = 59, second: int = 59) -> datetime:
    return datetime(2025, month, day, hour, minute, second, tzinfo=LOCAL_TZ)


def new_case(number: str = "512000202509260001", refs: list[ExternalRef] | None = None, **changes) -> Case:
    case = ENGINE.register(CaseDraft.model_validate(draft(**changes)), number, AGENT, FRI).case
    case.external_refs = refs or []
    return case


def act(case: Case, command, actor: Actor, at: datetime = FRI) -> Case:
    return ENGINE.act(case, command, actor, at).case


def dispatched(number: str = "512000202509260001", **changes) -> Case:
    """Accepted and dispatched by an agent to ZY-SCJGJ at FRI (a complaint unless changed)."""
    case = act(new_case(number, **changes), c.Accept(), AGENT)
    return act(case, c.Dispatch(lead_unit="ZY-SCJGJ"), AGENT)


def in_progress(**changes) -> Case:
    return act(dispatched(**changes), c.SignOff(), UNIT, FRI + timedelta(hours=1))


# -- who sees which case ------------------------------------------------------------------


def test_the_province_sees_only_the_cases_it_exchanges_with_the_city() -> None:
    assert can_see(PROVINCE, "512002", [], ["province"]) is True
    assert can_see(PROVINCE, "512002", ["ZY-SCJGJ"], []) is False
    assert can_see(PROVINCE, "512002", [], ["county.yanjiang"]) is False
    local_case = in_progress()
    assert can_see_case(PROVINCE, local_case) is False
    with pytest.raises(AccessDenied, match="not visible to party 'province'"):
        act(local_case, c.Supervise(reason="省平台督办"), PROVINCE)
    exchanged = local_case.model_copy(update={"external_refs": [ExternalRef(system="province", external_id="SC-9")]})
    assert can_see_case(PROVINCE, exchanged) is True


def test_a_county_sees_its_townships_and_streets_and_nothing_else() -> None:
    for code in ("512002", "512002001", "512002001002"):  # county, township (9), village (12)
        assert can_see(COUNTY, code, [], []) is True, code
    for code in ("512021", "512021001", "512000", "512003001"):
        assert can_see(COUNTY, code, [], []) is False, code
    two = Actor("yuezhi-anyue", Role.COUNTY, divisions=("512021", "512022"))
    assert can_see(two, "512022105", [], []) is True
    assert can_see(two, "512002105", [], []) is False
    township = new_case(place={"address": "雁江区松涛镇", "division_code": "512002105"})
    assert act(township, c.Accept(), AGENT).state is CaseState.ACCEPTED
    accepted = act(township, c.Accept(), AGENT)
    assert act(accepted, c.Dispatch(lead_unit="YJ-GOV"), COUNTY).handling.lead_unit == "YJ-GOV"
    elsewhere = act(new_case(place={"address": "安岳县岳阳镇", "division_code": "512021101"}), c.Accept(), AGENT)
    with pytest.raises(AccessDenied):
        act(elsewhere, c.Dispatch(lead_unit="YJ-GOV"), COUNTY)


def test_a_unit_sees_the_cases_it_handles_and_the_centre_sees_all() -> None:
    assert can_see(UNIT, "512021", ["ZY-SCJGJ"], []) is True
    assert can_see(UNIT, "512021", ["ZY-ZJJ", "ZY-SCJGJ"], []) is True  # as a co-unit
    assert can_see(UNIT, "512021", ["ZY-ZJJ"], []) is False
    assert can_see(Actor("nobody", Role.UNIT), "512021", ["ZY-ZJJ"], []) is False  # a unit key without a unit
    for centre in (AGENT, SUPERVISOR, SYSTEM):
        assert can_see(centre, "512021", [], []) is True
    case = in_progress()
    with pytest.raises(AccessDenied):
        act(case, c.ReportProgress(text="已到现场"), OTHER_UNIT)
    # A co-unit reports progress; only the lead unit replies.
    co = act(dispatched(), c.SignOff(), UNIT).model_copy(deep=True)
    co.handling.co_units = ["ZY-ZJJ"]
    assert act(co, c.ReportProgress(text="协办已核查"), OTHER_UNIT).history[-1].data == {"text": "协办已核查", "unit": "ZY-ZJJ"}
    with pytest.raises(AccessDenied, match="only the lead unit ZY-SCJGJ may reply"):
        act(co, c.ReplyCmd(text="已处理"), OTHER_UNIT)


def test_a_role_the_rules_do_not_know_sees_nothing() -> None:
    """Default deny: a role added later sees no case until a rule of can_see says so."""
    stranger = Actor("nobody", "no-such-role")  # type: ignore[arg-type]
    assert can_see(stranger, "512002", ["ZY-SCJGJ"], ["province"]) is False


def test_the_centre_reads_a_confidential_person_and_everyone_else_a_mask() -> None:
    case = new_case(**{"person.confidential": True})
    for centre in (AGENT, SUPERVISOR, SYSTEM):
        assert (view_for(centre, case).person.name, view_for(centre, case).person.phone) == ("张三", "13800138000")
    for outside in (UNIT, COUNTY, PROVINCE):
        assert (view_for(outside, case).person.name, view_for(outside, case).person.phone) == ("张*", "138****8000")


def test_short_phones_and_addresses_are_masked_too() -> None:
    assert mask_phone("110") == "***"
    assert mask_phone("12345678") == "12****78"
    assert mask_phone("") == "" and mask_phone(None) is None
    # An address keeps a third of itself, at least 1 and at most 6 characters.
    assert mask_address("雁江") == "雁*"
    assert mask_address("四川省资阳市雁江区建设路十二号三栋二单元五零一室") == "四川省资阳市" + "*" * 18
    assert mask_address("") == "" and mask_address(None) is None


def test_an_actor_is_fixed_once_made_and_the_hub_acts_as_system() -> None:
    with pytest.raises(FrozenInstanceError):
        UNIT.unit_code = "ZY-ZJJ"  # type: ignore[misc]
    assert (SYSTEM_ACTOR.party, SYSTEM_ACTOR.role) == ("hub", Role.SYSTEM)
    closed = act(act(act(new_case(), c.Accept(), AGENT), c.AnswerDirectly(answer="已解答"), AGENT), c.Close(), SYSTEM_ACTOR)
    assert (closed.history[-1].actor, closed.history[-1].role) == ("hub", Role.SYSTEM)


# -- supervision and chasing -------------------------------------------------------------


def test_the_province_supervises_and_chases_a_case_it_exchanges() -> None:
    case = in_progress()
    case.external_refs = [ExternalRef(system="province", external_id="SC-9")]
    supervised = act(case, c.Supervise(reason="省平台督办", response_due=local(9, 29, 17, 0, 0)), PROVINCE)
    assert supervised.flags.supervised is True
    assert supervised.history[-1].data == {"reason": "省平台督办", "response_due": "2025-09-29T09:00:00+00:00", "unit": "ZY-SCJGJ"}
    chased = act(act(supervised, c.Chase(), PROVINCE), c.Chase(reason="请加快"), PROVINCE)
    assert chased.flags.chased == 2
    assert chased.history[-1].data == {"chased": 2, "reason": "请加快", "response_due": None, "unit": "ZY-SCJGJ"}
    with pytest.raises(RuleViolation, match="not in the future"):
        act(case, c.Chase(response_due=FRI), PROVINCE)


@pytest.mark.parametrize("state", ["return_requested", "replied"])
def test_a_returning_or_replied_case_can_be_supervised_and_chased(state: str) -> None:
    case = in_progress()
    if state == "return_requested":
        case = act(case, c.RequestReturn(reason="不属于本单位职责"), UNIT)
    else:
        case = act(case, c.ReplyCmd(text="已处理"), UNIT)
    assert case.state.value == state
    supervised = act(case, c.Supervise(reason="群众多次来电"), SUPERVISOR)
    assert (supervised.state.value, supervised.flags.supervised) == (state, True)
    assert act(case, c.Chase(), SYSTEM).flags.chased == 1


def test_warnings_run_while_a_return_is_asked_and_stop_once_replied() -> None:
    # Dispatched 10:00, completion due 20:00 the same day: 预警 at 80%, 18:00.
    case = in_progress()
    case.handling.dispatched_at, case.handling.due_at = local(9, 26, 10, 0, 0), local(9, 26, 20, 0, 0)
    asked = act(case, c.RequestReturn(reason="不属于本单位职责"), UNIT, local(9, 26, 12, 0, 0))
    warned = act(asked, c.Warn(deadline=c.Deadline.COMPLETION), SYSTEM, local(9, 26, 18, 0, 0))
    assert (warned.state, warned.flags.warned) == (CaseState.RETURN_REQUESTED, True)
    overdue = act(asked, c.MarkOverdue(deadline=c.Deadline.COMPLETION), SYSTEM, local(9, 26, 20, 0, 1))
    assert (overdue.state, overdue.flags.overdue) == (CaseState.RETURN_REQUESTED, True)
    replied = act(case, c.ReplyCmd(text="已处理"), UNIT, local(9, 26, 15, 0, 0))
    for command in (c.Warn(deadline=c.Deadline.COMPLETION), c.MarkOverdue(deadline=c.Deadline.COMPLETION)):
        with pytest.raises(ActionNotAllowed):
            act(replied, command, SYSTEM, local(9, 26, 20, 0, 1))


def test_warning_and_overdue_fall_exactly_where_the_limit_says() -> None:
    case = in_progress()
    case.handling.dispatched_at, case.handling.due_at = local(9, 26, 10, 0, 0), local(9, 26, 20, 0, 0)
    warn = c.Warn(deadline=c.Deadline.COMPLETION)
    with pytest.raises(RuleViolation, match="too early"):
        act(case, warn, SYSTEM, local(9, 26, 17, 59, 59))
    assert act(case, warn, SYSTEM, local(9, 26, 18, 0, 0)).flags.warned is True
    warned = act(case, warn, SYSTEM, local(9, 26, 20, 0, 0))  # at the deadline: still a warning
    assert warned.history[-1].data == {"deadline": "completion", "due_at": "2025-09-26T20:00:00+08:00", "unit": "ZY-SCJGJ"}
    with pytest.raises(RuleViolation, match="already warned"):
        act(warned, warn, SYSTEM, local(9, 26, 19, 0, 0))
    with pytest.raises(RuleViolation, match="mark it overdue instead"):
        act(case, warn, SYSTEM, local(9, 26, 20, 0, 1))
    overdue = c.MarkOverdue(deadline=c.Deadline.COMPLETION)
    with pytest.raises(RuleViolation, match="not overdue"):
        act(case, overdue, SYSTEM, local(9, 26, 20, 0, 0))
    marked = act(case, overdue, SYSTEM, local(9, 26, 20, 0, 1))
    assert (marked.flags.overdue, marked.flags.warned) == (True, False)
    with pytest.raises(RuleViolation, match="already marked overdue"):
        act(marked, overdue, SYSTEM, local(9, 26, 21, 0, 0))
    # The sign-off limit: warned and marked as history only, never as the case's flags; and
    # not at all once signed off.
    unsigned = dispatched()
    unsigned.handling.dispatched_at, unsigned.handling.sign_off_due = local(9, 26, 10, 0, 0), local(9, 26, 15, 0, 0)
    sign_warned = act(unsigned, c.Warn(deadline=c.Deadline.SIGN_OFF), SYSTEM, local(9, 26, 14, 0, 0))
    assert (sign_warned.flags.warned, sign_warned.history[-1].data["deadline"]) == (False, "sign_off")
    assert act(unsigned, c.MarkOverdue(deadline=c.Deadline.SIGN_OFF), SYSTEM, local(9, 26, 15, 0, 1)).flags.overdue is False
    with pytest.raises(RuleViolation, match="signed off"):
        act(case, c.Warn(deadline=c.Deadline.SIGN_OFF), SYSTEM, local(9, 26, 14, 0, 0))


def test_a_case_never_dispatched_has_no_deadline_to_warn() -> None:
    case = in_progress()
    case.handling.dispatched_at = None
    with pytest.raises(RuleViolation, match="never dispatched"):
        act(case, c.Warn(deadline=c.Deadline.COMPLETION), SYSTEM, local(9, 26, 18, 0, 0))


# -- the rows a mutation run found untested -------------------------------------------------


def test_a_supervisor_dispatches_and_follows_up() -> None:
    case = act(act(new_case(request_type="enquiry"), c.Accept(), SUPERVISOR), c.Dispatch(lead_unit="ZY-SCJGJ"), SUPERVISOR)
    assert case.state is CaseState.AWAITING_SIGN_OFF
    # An enquiry dispatched Fri 26 Sep: sign-off by the end of Sun 28 Sep (make-up working
    # day), reply by the end of Tue 30 Sep (28, 29, 30).
    assert (case.handling.sign_off_due, case.handling.due_at) == (local(9, 28), local(9, 30))
    assert case.history[-1].data == {
        "lead_unit": "ZY-SCJGJ",
        "co_units": [],
        "sign_off_due": "2025-09-28T15:59:59+00:00",
        "due_at": "2025-09-30T15:59:59+00:00",
    }
    case = act(act(case, c.SignOff(), UNIT), c.ReplyCmd(text="已解答"), UNIT)
    case = act(case, c.ReviewReply(approved=True), SUPERVISOR)
    closed = ENGINE.act(case, c.FollowUpCmd(reached=True, resolved=True, satisfaction="basically_satisfied"), SUPERVISOR, local(10, 9, 10, 0, 0))
    assert closed.case.state is CaseState.CLOSED
    assert closed.case.outcome.closed_at == local(10, 9, 10, 0, 0)
    assert [e.type for e in closed.events] == ["case.followed_up", "case.closed"]


def test_the_hub_follows_up_closes_an_unreached_case_and_archives() -> None:
    case = act(act(new_case(), c.Accept(), AGENT), c.AnswerDirectly(answer="依据知识库答复", articles=["KB-1@2"]), AGENT)
    unreached = act(case, c.FollowUpCmd(reached=False), SYSTEM)
    assert unreached.state is CaseState.AWAITING_FOLLOW_UP
    assert [(f.by, f.reached) for f in unreached.outcome.follow_ups] == [("hub", False)]
    closed = act(unreached, c.Close(note="三次未联系上"), SYSTEM, local(10, 10, 9, 0, 0))
    assert (closed.state, closed.outcome.closed_at) == (CaseState.CLOSED, local(10, 10, 9, 0, 0))
    archived = act(closed, c.Archive(), SYSTEM, local(10, 11, 9, 0, 0))
    assert (archived.state, archived.outcome.archived_at) == (CaseState.ARCHIVED, local(10, 11, 9, 0, 0))
    unsatisfied = act(case, c.FollowUpCmd(reached=True, resolved=True, satisfaction="unsatisfied"), SYSTEM)
    assert unsatisfied.state is CaseState.REDO_REQUIRED
    redone = act(unsatisfied, c.Redo(), SYSTEM)
    assert (redone.state, redone.outcome.redo_count) == (CaseState.ACCEPTED, 1)


def test_an_accepted_case_is_rejected_with_its_reason_or_sent_to_an_emergency_line() -> None:
    accepted = act(new_case(), c.Accept(), AGENT)
    rejected = act(accepted, c.Reject(reason_code=c.RejectReason.LITIGATION, reason="已进入诉讼程序"), AGENT)
    assert rejected.state is CaseState.REJECTED
    assert rejected.outcome.rejection_reason == "litigation: 已进入诉讼程序"
    assert rejected.history[-1].data == {"reason_code": "litigation", "reason": "已进入诉讼程序"}
    transferred = act(accepted, c.TransferEmergency(line=c.EmergencyLine.FIRE), SUPERVISOR)
    assert (transferred.state, transferred.outcome.transferred_to) == (CaseState.TRANSFERRED, "119")
    for finished in (rejected, transferred):
        assert act(finished, c.Archive(), SUPERVISOR).state is CaseState.ARCHIVED
    with pytest.raises(ActionNotAllowed):
        act(rejected, c.Archive(), AGENT)


def test_a_merged_duplicate_names_its_case_and_the_case_its_duplicates() -> None:
    kept = act(new_case("512000202509260002"), c.Accept(), AGENT)
    duplicate = new_case("512000202509260003")
    outcome = ENGINE.act(duplicate, c.Merge(into=kept.number), AGENT, FRI, kept)
    assert outcome.case.state is CaseState.MERGED
    assert outcome.case.links.merged_into == "512000202509260002"
    assert outcome.related is not None
    assert outcome.related.links.merged_cases == ["512000202509260003"]
    assert (outcome.related.version, outcome.related.state) == (kept.version + 1, CaseState.ACCEPTED)
    assert outcome.related.history[-1].action == "merge_in"
    assert act(outcome.case, c.Archive(), SUPERVISOR).state is CaseState.ARCHIVED
    with pytest.raises(RuleViolation, match="cannot be merged into itself"):
        ENGINE.act(kept, c.Merge(into=kept.number), AGENT, FRI, kept)
    with pytest.raises(RuleViolation, match="was not found"):
        ENGINE.act(duplicate, c.Merge(into=kept.number), AGENT, FRI, None)
    for state in (CaseState.MERGED, CaseState.ARCHIVED, CaseState.REJECTED, CaseState.TRANSFERRED):
        gone = kept.model_copy(update={"state": state})
        with pytest.raises(RuleViolation, match=f"is {state.value} and cannot take merged cases"):
            ENGINE.act(duplicate, c.Merge(into=kept.number), AGENT, FRI, gone)
    taken = ENGINE.act(duplicate, c.Merge(into=kept.number), AGENT, FRI, kept.model_copy(update={"state": CaseState.CLOSED}))
    assert taken.case.state is CaseState.MERGED


def test_a_direct_answer_is_kept_with_its_articles() -> None:
    answered = act(act(new_case(), c.Accept(), AGENT), c.AnswerDirectly(answer="可在政务服务网办理", articles=["KB-7@3", "KB-7@3", "KB-9@1"]), AGENT)
    assert answered.state is CaseState.AWAITING_FOLLOW_UP
    assert answered.outcome.direct_answer == "可在政务服务网办理"
    assert answered.links.articles == ["KB-7@3", "KB-9@1"]


def test_a_refused_reply_goes_back_to_the_unit_with_the_review_note() -> None:
    replied = act(in_progress(), c.ReplyCmd(text="已处理"), UNIT, local(10, 9, 10, 0, 0))
    refused = act(replied, c.ReviewReply(approved=False, note="答复未说明处理结果"), AGENT, local(10, 9, 11, 0, 0))
    assert refused.state is CaseState.IN_PROGRESS
    reply = refused.outcome.reply
    assert reply is not None
    assert (reply.text, reply.approved, reply.review_note, reply.reviewed_at) == ("已处理", False, "答复未说明处理结果", local(10, 9, 11, 0, 0))
    approved = act(replied, c.ReviewReply(approved=True), AGENT)
    assert (approved.state, approved.outcome.reply.approved) == (CaseState.AWAITING_FOLLOW_UP, True)


def test_a_refused_return_goes_back_where_the_unit_asked() -> None:
    asked = act(dispatched(), c.RequestReturn(reason="不属于本单位职责"), UNIT, local(9, 26, 11, 0, 0))
    record = asked.handling.returns[-1]
    assert (record.unit_code, record.from_state, record.requested_at) == ("ZY-SCJGJ", CaseState.AWAITING_SIGN_OFF, local(9, 26, 11, 0, 0))
    refused = act(asked, c.DecideReturn(approved=False, note="请先核实"), AGENT)
    assert refused.state is CaseState.AWAITING_SIGN_OFF
    assert (refused.handling.returns[-1].approved, refused.handling.returns[-1].decided_by) == (False, "agent-a017")
    approved = act(asked, c.DecideReturn(approved=True), SUPERVISOR)
    assert approved.state is CaseState.RETURNED
    assert approved.history[-1].data == {"approved": True, "unit": "ZY-SCJGJ"}


def test_an_extension_decision_is_recorded_and_the_unit_may_ask_again() -> None:
    case = in_progress()  # a complaint: reply due by the end of Thu 23 Oct
    assert case.handling.due_at == local(10, 23)
    asked = act(case, c.RequestExtension(working_days=3, reason="需现场核查"), UNIT, local(10, 20, 9, 0, 0))
    with pytest.raises(RuleViolation, match="already pending"):
        act(asked, c.RequestExtension(working_days=2, reason="再次申请"), UNIT)
    granted = act(asked, c.DecideExtension(approved=True), SUPERVISOR, local(10, 20, 15, 0, 0))
    record = granted.handling.extensions[-1]
    assert (record.approved, record.decided_by, record.decided_at) == (True, "supervisor-li", local(10, 20, 15, 0, 0))
    # Three working days after Thu 23 Oct: Fri 24, Mon 27, Tue 28.
    assert granted.handling.due_at == local(10, 28)
    again = act(granted, c.RequestExtension(working_days=2, reason="仍需协调"), UNIT, local(10, 27, 9, 0, 0))
    assert [e.approved for e in again.handling.extensions] == [True, None]
    refused = act(again, c.DecideExtension(approved=False, note="理由不充分"), SUPERVISOR)
    assert [e.approved for e in refused.handling.extensions] == [True, False]
    assert refused.handling.due_at == local(10, 28)
    with pytest.raises(RuleViolation, match="no pending extension"):
        act(refused, c.DecideExtension(approved=True), SUPERVISOR)
    assert act(refused, c.RequestExtension(working_days=1, reason="第三次"), UNIT).handling.extensions[-1].approved is None


def test_an_extension_is_bounded_by_the_limit_and_by_what_was_asked() -> None:
    case = in_progress()
    assert act(case, c.RequestExtension(working_days=15, reason="上限"), UNIT).handling.extensions[-1].working_days == 15
    with pytest.raises(RuleViolation, match="at most 15 working days"):
        act(case, c.RequestExtension(working_days=16, reason="超过上限"), UNIT)
    asked = act(case, c.RequestExtension(working_days=3, reason="需现场核查"), UNIT)
    with pytest.raises(RuleViolation, match="more than the 3 working days asked"):
        act(asked, c.DecideExtension(approved=True, working_days=4), SUPERVISOR)
    # Granting one day: Fri 24 Oct.
    assert act(asked, c.DecideExtension(approved=True, working_days=1), SUPERVISOR).handling.due_at == local(10, 24)


def test_an_approved_extension_keeps_the_days_asked_beside_the_days_granted() -> None:
    asked = act(in_progress(), c.RequestExtension(working_days=5, reason="需协调多部门"), UNIT)
    granted = act(asked, c.DecideExtension(approved=True, working_days=3), SUPERVISOR).handling.extensions[-1]
    assert (granted.working_days, granted.granted_working_days, granted.approved) == (5, 3, True)
    refused = act(asked, c.DecideExtension(approved=False), SUPERVISOR).handling.extensions[-1]
    assert (refused.working_days, refused.granted_working_days, refused.approved) == (5, None, False)


# -- exactly at the deadline -----------------------------------------------------------------


def test_sign_off_and_reply_exactly_at_the_deadline_are_on_time() -> None:
    case = dispatched()  # a complaint: sign off by the end of Sun 28 Sep, reply by the end of Thu 23 Oct
    assert act(case, c.SignOff(), UNIT, local(9, 28)).history[-1].data == {"unit": "ZY-SCJGJ", "on_time": True}
    late = act(case, c.SignOff(), UNIT, local(9, 28) + timedelta(seconds=1))
    assert late.history[-1].data["on_time"] is False
    assert act(late, c.ReplyCmd(text="已处理"), UNIT, local(10, 23)).history[-1].data["on_time"] is True
    replied_late = act(late, c.ReplyCmd(text="已处理"), UNIT, local(10, 23) + timedelta(seconds=1))
    assert replied_late.history[-1].data == {"text": "已处理", "unit": "ZY-SCJGJ", "on_time": False}
    assert replied_late.outcome.reply is not None and replied_late.outcome.reply.unit_code == "ZY-SCJGJ"


OCT = Period.parse("2025-10")
AFTER = datetime(2025, 11, 10, tzinfo=LOCAL_TZ)


def _lines(number: str, *lines: tuple[str, datetime, dict]) -> CaseLines:
    return CaseLines(number, "512002", [Line(i + 1, at, action, "agent", data) for i, (action, at, data) in enumerate(lines)])


def test_assessment_a_return_or_reply_exactly_at_the_deadline_is_in_time() -> None:
    sign_due, close_due = local(10, 10), local(10, 15)
    dispatch = ("dispatch", local(10, 9, 9, 0, 0), {"lead_unit": "U1", "sign_off_due": sign_due.isoformat(), "due_at": close_due.isoformat()})
    returned = _lines(
        "C-RET", dispatch, ("request_return", sign_due, {"unit": "U1"}), ("decide_return", local(10, 11, 9, 0, 0), {"approved": True, "unit": "U1"})
    )
    replied = _lines("C-REP", dispatch, ("sign_off", sign_due, {}), ("reply", close_due, {}))
    a = compute([returned, replied], OCT, AFTER)
    # C-RET asked to return at its sign-off deadline: excused from both limits.
    assert [(i.case, i.counted) for i in a.figure("sign_off_rate").items] == [("C-REP", True)]
    assert [(i.case, i.counted) for i in a.figure("on_time_rate").items] == [("C-REP", True)]
    assert (a.figure("overdue").numerator, a.figure("returned").numerator) == (0, 1)
    one_second_late = _lines("C-LATE", dispatch, ("sign_off", sign_due + timedelta(seconds=1), {}), ("reply", close_due + timedelta(seconds=1), {}))
    b = compute([one_second_late], OCT, AFTER)
    assert [(i.case, i.counted) for i in b.figure("sign_off_rate").items] == [("C-LATE", False)]
    assert b.figure("overdue").cases == ["C-LATE"]
    asked_late = _lines(
        "C-ASKED-LATE",
        dispatch,
        ("request_return", sign_due + timedelta(seconds=1), {"unit": "U1"}),
        ("decide_return", local(10, 11, 9, 0, 0), {"approved": True, "unit": "U1"}),
    )
    c_ = compute([asked_late], OCT, AFTER)
    assert [(i.case, i.counted) for i in c_.figure("sign_off_rate").items] == [("C-ASKED-LATE", False)]
    assert c_.figure("on_time_rate").items == []  # asked before the completion deadline: excused from that one


def test_assessment_follow_ups_redos_and_the_rates() -> None:
    dispatch = ("dispatch", local(10, 9, 9, 0, 0), {"lead_unit": "U1", "sign_off_due": local(10, 10).isoformat(), "due_at": local(10, 15).isoformat()})
    pleased = _lines(
        "C-1",
        dispatch,
        ("sign_off", local(10, 9, 10, 0, 0), {}),
        ("reply", local(10, 12, 10, 0, 0), {}),
        ("review_reply", local(10, 12, 11, 0, 0), {"approved": True}),
        ("follow_up", local(10, 13, 10, 0, 0), {"reached": True, "resolved": True, "satisfaction": "basically_satisfied"}),
    )
    redone = _lines(
        "C-2",
        dispatch,
        ("sign_off", local(10, 9, 10, 0, 0), {}),
        ("reply", local(10, 12, 10, 0, 0), {}),
        ("review_reply", local(10, 12, 11, 0, 0), {"approved": True}),
        ("follow_up", local(10, 13, 10, 0, 0), {"reached": False}),
        ("follow_up", local(10, 14, 10, 0, 0), {"reached": True, "resolved": False, "satisfaction": "unsatisfied"}),
        ("redo", local(10, 14, 11, 0, 0), {"previous_unit": "U1"}),
    )
    answered = _lines("C-3", ("answer_directly", local(10, 20, 10, 0, 0), {}))
    a = compute([pleased, redone, answered], OCT, AFTER)
    # 回访率: three needs (two approved reviews, one direct answer), two reached.
    assert (a.figure("follow_up_rate").numerator, a.figure("follow_up_rate").denominator) == (2, 3)
    assert a.figure("follow_up_rate").value == 0.6667
    # 满意率 and 解决率: two reached follow-ups, one pleased and resolved.
    for key in ("satisfaction_rate", "resolution_rate"):
        assert (a.figure(key).numerator, a.figure(key).denominator, a.figure(key).value) == (1, 2, 0.5)
        assert a.figure(key).cases == ["C-1"]
    assert [(i.case, i.unit) for i in a.figure("redone").items] == [("C-2", "U1")]
    assert a.figure("on_time_rate").value == 1.0
    assert compute([pleased, redone, answered], OCT, AFTER, unit="U1").figure("follow_up_rate").denominator == 2


# -- the assessment period -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "start", "end"),
    [
        ("2025-01", "2025-01-01T00:00:00+08:00", "2025-02-01T00:00:00+08:00"),
        ("2025-10", "2025-10-01T00:00:00+08:00", "2025-11-01T00:00:00+08:00"),
        ("2025-11", "2025-11-01T00:00:00+08:00", "2025-12-01T00:00:00+08:00"),
        ("2025-12", "2025-12-01T00:00:00+08:00", "2026-01-01T00:00:00+08:00"),
    ],
)
def test_a_period_is_one_local_month(label: str, start: str, end: str) -> None:
    period = Period.parse(label)
    assert (period.label, period.start.isoformat(), period.end.isoformat()) == (label, start, end)
    assert period.holds(datetime.fromisoformat(start)) is True
    assert period.holds(datetime.fromisoformat(end)) is False
    assert period.holds(datetime.fromisoformat(end) - timedelta(seconds=1)) is True


def test_a_past_month_is_judged_at_its_end_and_the_current_one_now() -> None:
    nov = Period.parse("2025-11")
    assert compute([], nov, datetime(2026, 3, 1, tzinfo=LOCAL_TZ)).as_of == datetime(2025, 12, 1, tzinfo=LOCAL_TZ)
    assert compute([], nov, datetime(2025, 11, 20, tzinfo=LOCAL_TZ)).as_of == datetime(2025, 11, 20, tzinfo=LOCAL_TZ)


# -- urgent cases and time zones ---------------------------------------------------------------


class _NoOffset(tzinfo):
    """A tzinfo that does not know its offset: as good as naive."""

    def utcoffset(self, dt):  # noqa: D401
        return None

    def dst(self, dt):
        return None

    def tzname(self, dt):
        return "unknown"


@pytest.mark.parametrize("start", [datetime(2025, 10, 1, 10, 0), datetime(2025, 10, 1, 10, 0, tzinfo=_NoOffset())], ids=["naive", "no-offset"])
def test_an_urgent_deadline_needs_a_start_with_a_known_offset(start: datetime) -> None:
    with pytest.raises(ValueError, match="aware start"):
        compute_deadlines(WorkingCalendar(), TimeLimits(), RequestType.HELP, Urgency.URGENT, start)


def test_an_urgent_deadline_counts_elapsed_hours_whatever_the_zone() -> None:
    start = datetime(2025, 10, 1, 2, 0, tzinfo=UTC)  # 10:00 in Ziyang
    d = compute_deadlines(WorkingCalendar(), TimeLimits(), RequestType.HELP, Urgency.URGENT, start)
    assert (d.sign_off_due.isoformat(), d.due_at.isoformat()) == ("2025-10-01T04:00:00+00:00", "2025-10-02T02:00:00+00:00")
    case = dispatched(urgency="critical")
    assert (case.handling.sign_off_due, case.handling.due_at) == (local(9, 26, 11, 0, 0), local(9, 26, 14, 0, 0))


# -- what each step records ---------------------------------------------------------------------


def test_registering_keeps_what_intake_said_and_records_who() -> None:
    refs = [{"system": "county.yanjiang", "external_id": "YJ-2025-0042"}]
    outcome = ENGINE.register(CaseDraft.model_validate(draft(urgency="critical", external_refs=refs)), "512000202509260007", COUNTY, FRI)
    case = outcome.case
    assert (case.number, case.version, case.state, case.urgency) == ("512000202509260007", 1, CaseState.REGISTERED, Urgency.CRITICAL)
    assert [(r.system, r.external_id) for r in case.external_refs] == [("county.yanjiang", "YJ-2025-0042")]
    assert (case.title, case.category_code, case.request_type, case.person.name) == ("小区噪音扰民", "0101", RequestType.COMPLAINT, "张三")
    assert (case.intake.call_id, case.place.division_code, case.created_at, case.updated_at) == ("CALL-1", "512002", FRI, FRI)
    entry = case.history[0]
    assert (entry.seq, entry.actor, entry.role, entry.action, entry.from_state, entry.to_state, entry.data) == (
        1,
        "yanjiang",
        Role.COUNTY,
        "register",
        None,
        CaseState.REGISTERED,
        {"channel": "phone"},
    )
    event = outcome.events[0]
    assert (event.type, event.case_number, event.case_version, event.occurred_at, event.actor, event.role, event.state, event.data) == (
        "case.registered",
        "512000202509260007",
        1,
        FRI,
        "yanjiang",
        "county",
        "registered",
        {"channel": "phone"},
    )
    with pytest.raises(AccessDenied, match="512021001 is not in this county's divisions"):
        ENGINE.register(CaseDraft.model_validate(draft(place={"division_code": "512021001"})), "512000202509260008", COUNTY, FRI)


def test_each_step_appends_one_history_line_and_one_event() -> None:
    case = new_case()
    later = FRI + timedelta(minutes=5)
    outcome = ENGINE.act(case, c.Accept(note="来电人情绪激动"), SUPERVISOR, later)
    new = outcome.case
    assert (new.version, new.updated_at, case.version, case.state) == (2, later, 1, CaseState.REGISTERED)
    entry = new.history[-1]
    assert (len(new.history), entry.seq, entry.at, entry.actor, entry.role, entry.note) == (2, 2, later, "supervisor-li", Role.SUPERVISOR, "来电人情绪激动")
    assert [(e.type, e.case_version, e.occurred_at, e.actor, e.role, e.state) for e in outcome.events] == [
        ("case.accepted", 2, later, "supervisor-li", "supervisor", "accepted")
    ]


def test_a_redispatch_starts_new_time_limits_and_clears_the_old_marks() -> None:
    case = in_progress()  # signed 11:00 Fri
    case.flags.overdue = case.flags.warned = True
    returned = act(act(case, c.RequestReturn(reason="不属于本单位职责"), UNIT), c.DecideReturn(approved=True), AGENT)
    again = act(returned, c.Redispatch(lead_unit="ZY-ZJJ", co_units=["ZY-SCJGJ"]), AGENT, local(10, 9, 9, 0, 0))
    h = again.handling
    assert (h.lead_unit, h.co_units, h.dispatched_at, h.signed_at) == ("ZY-ZJJ", ["ZY-SCJGJ"], local(10, 9, 9, 0, 0), None)
    # A complaint re-dispatched Thu 9 Oct: sign off by the end of Fri 10 Oct; 15 working days
    # (10, 11 Sat, 13-17, 20-24, 27, 28, 29) -> Wed 29 Oct.
    assert (h.sign_off_due, h.due_at) == (local(10, 10), local(10, 29))
    assert (again.flags.overdue, again.flags.warned) == (False, False)


def test_a_county_asking_to_return_or_reporting_records_the_unit_it_acts_for() -> None:
    case = act(act(new_case(), c.Accept(), AGENT), c.Dispatch(lead_unit="YJ-GOV"), COUNTY)
    asked = act(case, c.RequestReturn(reason="需市级部门处理"), COUNTY)
    assert (asked.handling.returns[-1].unit_code, asked.handling.returns[-1].requested_by) == ("YJ-GOV", "yanjiang")
    assert asked.history[-1].data == {"unit": "YJ-GOV", "reason": "需市级部门处理"}
    signed = act(case, c.SignOff(), COUNTY)
    assert act(signed, c.ReportProgress(text="已安排街道处理"), COUNTY).history[-1].data == {"text": "已安排街道处理", "unit": "yanjiang"}
    replied = act(signed, c.ReplyCmd(text="已处理完毕"), COUNTY)
    assert (replied.outcome.reply.unit_code, replied.history[-1].data["unit"]) == ("YJ-GOV", "YJ-GOV")


def test_a_case_without_deadlines_is_signed_and_replied_on_time() -> None:
    case = in_progress()
    case.handling.sign_off_due = case.handling.due_at = None
    assert act(case, c.ReplyCmd(text="已处理"), UNIT, local(12, 1, 9, 0, 0)).history[-1].data["on_time"] is True
    unsigned = dispatched()
    unsigned.handling.sign_off_due = None
    assert act(unsigned, c.SignOff(), UNIT, local(12, 1, 9, 0, 0)).history[-1].data["on_time"] is True


def test_an_extension_request_and_grant_are_recorded_in_full() -> None:
    case = in_progress()
    case.flags.overdue = case.flags.warned = True
    asked = act(case, c.RequestExtension(working_days=2, reason="需现场核查"), UNIT, local(10, 20, 9, 0, 0))
    record = asked.handling.extensions[-1]
    assert (record.requested_at, record.requested_by, record.working_days, record.reason) == (local(10, 20, 9, 0, 0), "ZY-SCJGJ", 2, "需现场核查")
    assert asked.history[-1].data == {"working_days": 2, "reason": "需现场核查"}
    granted = act(asked, c.DecideExtension(approved=True, note="同意"), SUPERVISOR)
    # Two working days after Thu 23 Oct: Fri 24, Mon 27.
    assert granted.history[-1].data == {"approved": True, "working_days": 2, "due_at": "2025-10-27T15:59:59+00:00"}
    assert (granted.handling.extensions[-1].note, granted.flags.overdue, granted.flags.warned) == ("同意", False, False)
    refused = act(asked, c.DecideExtension(approved=False), SUPERVISOR)
    assert refused.history[-1].data == {"approved": False}
    assert (refused.flags.overdue, refused.handling.due_at) == (True, local(10, 23))


def test_a_new_deadline_may_be_warned_again_and_each_limit_on_its_own() -> None:
    case = in_progress()
    case.handling.dispatched_at, case.handling.due_at = local(10, 20, 9, 0, 0), local(10, 23)
    warned = act(case, c.Warn(deadline=c.Deadline.COMPLETION), SYSTEM, local(10, 23, 12, 0, 0))
    extended = act(act(warned, c.RequestExtension(working_days=1, reason="需协调"), UNIT), c.DecideExtension(approved=True), SUPERVISOR)
    assert extended.handling.due_at == local(10, 24)
    assert act(extended, c.Warn(deadline=c.Deadline.COMPLETION), SYSTEM, local(10, 24, 12, 0, 0)).flags.warned is True
    unsigned = dispatched()
    unsigned.handling.dispatched_at, unsigned.handling.sign_off_due, unsigned.handling.due_at = (
        local(9, 26, 10, 0, 0),
        local(9, 26, 15, 0, 0),
        local(9, 26, 15, 0, 0),
    )
    sign_warned = act(unsigned, c.Warn(deadline=c.Deadline.SIGN_OFF), SYSTEM, local(9, 26, 14, 0, 0))
    assert act(sign_warned, c.Warn(deadline=c.Deadline.COMPLETION), SYSTEM, local(9, 26, 14, 0, 0)).flags.warned is True


def test_a_response_due_must_lie_ahead() -> None:
    case = in_progress()
    with pytest.raises(RuleViolation, match="not in the future"):
        act(case, c.Supervise(reason="督办", response_due=FRI), SUPERVISOR, FRI)
    ahead = act(case, c.Supervise(reason="督办", response_due=FRI + timedelta(seconds=1)), SUPERVISOR, FRI)
    assert ahead.history[-1].data["response_due"] == "2025-09-26T02:00:01+00:00"


def test_a_redo_counts_clears_the_reply_and_names_the_unit() -> None:
    replied = act(in_progress(), c.ReplyCmd(text="已处理"), UNIT)
    followed = act(
        act(replied, c.ReviewReply(approved=True), AGENT),
        c.FollowUpCmd(reached=True, resolved=False, satisfaction="unsatisfied", note="问题仍在"),
        AGENT,
        local(10, 9, 10, 0, 0),
    )
    f = followed.outcome.follow_ups[-1]
    assert (f.at, f.by, f.reached, f.resolved, f.satisfaction, f.note) == (local(10, 9, 10, 0, 0), "agent-a017", True, False, "unsatisfied", "问题仍在")
    assert followed.history[-1].data == {"reached": True, "resolved": False, "satisfaction": "unsatisfied"}
    redone = act(followed, c.Redo(), AGENT)
    assert (redone.outcome.redo_count, redone.outcome.reply, redone.handling.signed_at) == (1, None, None)
    assert redone.history[-1].data == {"redo_count": 1, "previous_unit": "ZY-SCJGJ"}
    assert act(act(redone, c.Dispatch(lead_unit="ZY-SCJGJ"), AGENT), c.SignOff(), UNIT).state is CaseState.IN_PROGRESS


def test_a_merge_is_recorded_on_both_cases() -> None:
    kept = act(new_case("512000202509260002"), c.Accept(), AGENT)
    outcome = ENGINE.act(new_case("512000202509260003"), c.Merge(into=kept.number), AGENT, FRI + timedelta(hours=1), kept)
    related = outcome.related
    assert related is not None
    entry = related.history[-1]
    assert (entry.seq, entry.at, entry.actor, entry.from_state, entry.to_state, entry.data) == (
        3,
        FRI + timedelta(hours=1),
        "agent-a017",
        CaseState.ACCEPTED,
        CaseState.ACCEPTED,
        {"merged": "512000202509260003"},
    )
    assert related.updated_at == FRI + timedelta(hours=1)
    assert outcome.case.history[-1].data == {"into": "512000202509260002"}
    assert kept.links.merged_cases == []  # the copy changed, not the case read
    answered = act(kept, c.AnswerDirectly(answer="已解答", articles=["KB-1@2"]), AGENT)
    assert answered.history[-1].data == {"articles": ["KB-1@2"]}


@pytest.mark.parametrize(
    "command",
    [c.SignOff(), c.RequestReturn(reason="不属于本单位职责"), c.RequestExtension(working_days=2, reason="需协调"), c.ReplyCmd(text="已处理")],
    ids=lambda cmd: cmd.action,
)
def test_a_co_unit_only_reports_progress_the_lead_unit_does_the_rest(command) -> None:
    case = dispatched() if command.action == "sign_off" else in_progress()
    case.handling.co_units = ["ZY-ZJJ"]
    with pytest.raises(AccessDenied, match=f"only the lead unit ZY-SCJGJ may {command.action}"):
        act(case, command, OTHER_UNIT)
    assert act(case, command, UNIT).history[-1].actor == "ZY-SCJGJ"


class KnownUnits(Units):
    """A directory that knows only some units and refuses the rest, naming the field."""

    def unit(self, code: str, field: str = "unit_code") -> object:
        if code not in ("ZY-SCJGJ", "ZY-ZJJ"):
            raise RuleViolation(f"{field}: unknown unit {code}")
        return super().unit(code, field)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (c.Dispatch(lead_unit="ZY-NOPE"), "lead_unit: unknown unit ZY-NOPE"),
        (c.Dispatch(lead_unit="ZY-SCJGJ", co_units=["ZY-ZJJ", "ZY-NOPE"]), r"co_units\[1\]: unknown unit ZY-NOPE"),
    ],
)
def test_a_dispatch_to_a_unit_the_directory_does_not_know_is_refused(command, message: str) -> None:
    engine = Engine(WorkingCalendar(), TimeLimits(), KnownUnits())
    accepted = engine.act(new_case(), c.Accept(), AGENT, FRI).case
    with pytest.raises(RuleViolation, match=message):
        engine.act(accepted, command, AGENT, FRI)
    assert engine.act(accepted, c.Dispatch(lead_unit="ZY-SCJGJ", co_units=["ZY-ZJJ"]), AGENT, FRI).case.handling.co_units == ["ZY-ZJJ"]


def test_an_outcome_is_fixed_once_made() -> None:
    outcome = ENGINE.act(new_case(), c.Accept(), AGENT, FRI)
    with pytest.raises(FrozenInstanceError):
        outcome.case = new_case()  # type: ignore[misc]


def test_only_a_merge_touches_the_other_case() -> None:
    other = act(new_case("512000202509260002"), c.Accept(), AGENT)
    outcome = ENGINE.act(new_case(), c.Accept(), AGENT, FRI, other)
    assert outcome.related is None


def test_a_county_registers_a_township_case_and_a_grant_may_be_all_that_was_asked() -> None:
    township = CaseDraft.model_validate(draft(place={"address": "雁江区松涛镇", "division_code": "512002105"}))
    assert ENGINE.register(township, "512000202509260009", COUNTY, FRI).case.place.division_code == "512002105"
    asked = act(in_progress(), c.RequestExtension(working_days=3, reason="需现场核查"), UNIT)
    # All three days, named: Fri 24, Mon 27, Tue 28 Oct after the Thu 23 Oct deadline.
    assert act(asked, c.DecideExtension(approved=True, working_days=3), SUPERVISOR).handling.due_at == local(10, 28)
