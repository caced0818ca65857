"""Every (state, action, role) triple of the lifecycle, checked against the lifecycle as the
domain states it in tests/unit/expected_lifecycle.yaml (written by hand from DOMAIN.md and the
docs, never from hub.domain.lifecycle): allowed exactly where the file has a row, to the state
it names; refused with the state and the role's allowed actions named everywhere else."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.calendar import WorkingCalendar
from hub.domain.clock import LOCAL_TZ
from hub.domain.deadlines import TimeLimits
from hub.domain.engine import Engine
from hub.domain.errors import AccessDenied, ActionNotAllowed
from hub.domain.lifecycle import TABLE, Action, rows_for
from hub.domain.model import (
    Appeal,
    Case,
    CaseDraft,
    CaseState,
    ExtensionRecord,
    ExternalRef,
    FollowUp,
    Forward,
    Part,
    Reply,
    ReturnRecord,
    Role,
    Satisfaction,
)
from tests.support.factories import draft

NOW = datetime(2025, 9, 26, 10, 0, tzinfo=LOCAL_TZ)


class Units:
    """Unit codes say their division: YJ- units sit in 雁江区, the rest at the city."""

    @dataclass(frozen=True)
    class Unit:
        code: str
        division: str

    def unit(self, code: str, field: str = "unit_code") -> object:
        county = "512002" if code.startswith("YJ-") else "512000"
        # A code ending -TOWN is a township unit (9 digits) under the same prefix's division.
        return self.Unit(code, county + "101" if code.endswith("-TOWN") else county)


ENGINE = Engine(WorkingCalendar(), TimeLimits(), Units())

ACTORS = {
    Role.AGENT: Actor("agent", Role.AGENT),
    Role.SUPERVISOR: Actor("supervisor", Role.SUPERVISOR),
    Role.UNIT: Actor("ZY-SCJGJ", Role.UNIT, unit_code="ZY-SCJGJ"),
    Role.PROVINCE: Actor("province", Role.PROVINCE),
    Role.COUNTY: Actor("yanjiang", Role.COUNTY, divisions=("512002",)),
    Role.SYSTEM: Actor("hub", Role.SYSTEM),
    Role.CHANNEL: Actor("city-portal", Role.CHANNEL, channel="web"),
}

OTHER = Case.model_validate(
    {
        "number": "512000202509260099",
        "version": 1,
        "state": "accepted",
        "created_at": NOW,
        "updated_at": NOW,
        **CaseDraft.model_validate(draft()).model_dump(),
    }
)


def case_in(state: CaseState) -> Case:
    """A case in `state` that satisfies every rule beside the table (pending requests,
    a reply to review, a lead unit), so only the table decides."""
    case = Case.model_validate(
        {
            "number": "512000202509260001",
            "version": 3,
            "state": state,
            "created_at": NOW,
            "updated_at": NOW,
            **CaseDraft.model_validate(draft()).model_dump(),
        }
    )
    case.external_refs = [ExternalRef(system="province", external_id="SC-1")]
    h = case.handling
    h.lead_unit, h.co_units = "ZY-SCJGJ", ["YJ-GOV"]
    h.dispatched_at, h.sign_off_due, h.due_at = NOW, NOW + timedelta(days=1), NOW + timedelta(days=20)
    h.returns = [ReturnRecord(requested_at=NOW, requested_by="ZY-SCJGJ", unit_code="ZY-SCJGJ", reason="不属于本单位职责", from_state=CaseState.IN_PROGRESS)]
    h.extensions = [ExtensionRecord(requested_at=NOW, requested_by="ZY-SCJGJ", working_days=5, reason="需现场核查")]
    case.outcome.reply = Reply(text="已处理", replied_at=NOW, unit_code="ZY-SCJGJ")
    return case


# Each command with the outcome it asks for (the `outcome` of the expected rows; None where
# an action has one result).
COMMANDS: dict[Action, list[tuple[str | None, object]]] = {
    Action.ACCEPT: [(None, c.Accept())],
    Action.ANSWER_DIRECTLY: [(None, c.AnswerDirectly(answer="依据知识库答复", articles=["KB-1@2"]))],
    Action.REJECT: [(None, c.Reject(reason_code=c.RejectReason.LITIGATION, reason="已进入诉讼程序"))],
    Action.TRANSFER_EMERGENCY: [(None, c.TransferEmergency(line=c.EmergencyLine.POLICE))],
    Action.DISPATCH: [(None, c.Dispatch(lead_unit="ZY-SCJGJ", co_units=["YJ-GOV"]))],
    Action.REDISPATCH: [(None, c.Redispatch(lead_unit="ZY-SCJGJ"))],
    Action.SIGN_OFF: [(None, c.SignOff())],
    Action.REQUEST_RETURN: [(None, c.RequestReturn(reason="不属于本单位职责"))],
    Action.DECIDE_RETURN: [("approved", c.DecideReturn(approved=True)), ("refused", c.DecideReturn(approved=False))],
    Action.REQUEST_EXTENSION: [(None, c.RequestExtension(working_days=3, reason="需协调"))],
    Action.DECIDE_EXTENSION: [(None, c.DecideExtension(approved=True))],
    Action.REPORT_PROGRESS: [(None, c.ReportProgress(text="已到现场"))],
    Action.REPLY: [(None, c.ReplyCmd(text="已责令停工"))],
    Action.REVIEW_REPLY: [("approved", c.ReviewReply(approved=True)), ("refused", c.ReviewReply(approved=False))],
    Action.FOLLOW_UP: [
        ("satisfied", c.FollowUpCmd(reached=True, resolved=True, satisfaction="satisfied")),
        ("satisfied", c.FollowUpCmd(reached=True, resolved=True, satisfaction="basically_satisfied")),
        ("unsatisfied", c.FollowUpCmd(reached=True, resolved=False, satisfaction="unsatisfied")),
        ("unsatisfied", c.FollowUpCmd(reached=True, resolved=False, satisfaction="satisfied")),
        ("unsatisfied", c.FollowUpCmd(reached=True, resolved=True, satisfaction="unsatisfied")),
        ("unreached", c.FollowUpCmd(reached=False)),
    ],
    Action.REDO: [(None, c.Redo())],
    Action.CLOSE: [(None, c.Close())],
    Action.ARCHIVE: [(None, c.Archive())],
    Action.MERGE: [(None, c.Merge(into=OTHER.number))],
    Action.SUPERVISE: [(None, c.Supervise(reason="超期未办"))],
    Action.CHASE: [(None, c.Chase()), (None, c.Chase(reason="请加快办理", response_due=NOW + timedelta(days=1)))],
    Action.WARN: [(None, c.Warn(deadline=c.Deadline.SIGN_OFF)), (None, c.Warn(deadline=c.Deadline.COMPLETION))],
    Action.MARK_OVERDUE: [(None, c.MarkOverdue(deadline=c.Deadline.SIGN_OFF)), (None, c.MarkOverdue(deadline=c.Deadline.COMPLETION))],
    Action.REQUEST_UNREASONABLE: [(None, c.RequestUnreasonable(reason="诉求人要求超出政策规定"))],
    Action.DECIDE_UNREASONABLE: [("approved", c.DecideUnreasonable(approved=True)), ("refused", c.DecideUnreasonable(approved=False))],
    Action.CLEAR_SUPERVISION: [(None, c.ClearSupervision(reason="单位已答复督办事项"))],
    Action.APPEAL_ASSESSMENT: [
        (None, c.AppealAssessment(grounds="overdue", reason="派单时办结时限设置错误")),
        (None, c.AppealAssessment(grounds="unsatisfied", reason="诉求超出政策范围，已依法答复")),
    ],
    Action.DECIDE_APPEAL: [("approved", c.DecideAppeal(upheld=True)), ("refused", c.DecideAppeal(upheld=False))],
    Action.CORRECT: [(None, c.Correct(request_type="enquiry", reason="登记时诉求类型选错")), (None, c.Correct(title="小区夜间施工噪音", reason="标题不准确"))],
    # 协办: the unit's key is a co-unit's (see _prepare); its own part by default.
    Action.SIGN_OFF_PART: [(None, c.SignOffPart())],
    Action.REPLY_PART: [(None, c.ReplyPart(text="已配合现场核查"))],
    Action.WAIVE_PART: [(None, c.WaivePart(unit="YJ-GOV", reason="非本单位职责，主办单位可独立答复"))],
}
PART_ACTIONS = (Action.SIGN_OFF_PART, Action.REPLY_PART, Action.WAIVE_PART)
COMMANDS.update(
    {
        # 二次派单: the lead (the unit's key; a county for YJ-GOV) dispatches on to a township unit.
        Action.FORWARD: [(None, c.Forward(unit="ZY-TOWN", due_at=NOW + timedelta(days=5)))],
        Action.SIGN_OFF_FORWARD: [(None, c.SignOffForward())],
        Action.REPLY_FORWARD: [(None, c.ReplyForward(text="镇政府已到现场处理"))],
        Action.RETURN_FORWARD: [(None, c.ReturnForward(reason="不属于本镇辖区"))],
        Action.REQUEST_FORWARD_EXTENSION: [(None, c.RequestForwardExtension(working_days=2, reason="需协调村社"))],
        Action.DECIDE_FORWARD_EXTENSION: [(None, c.DecideForwardExtension(approved=True))],
    }
)
# The township's own actions: the unit's key (ZY-SCJGJ) holds what was dispatched on to it.
TOWNSHIP_ACTIONS = (Action.SIGN_OFF_FORWARD, Action.REPLY_FORWARD, Action.RETURN_FORWARD, Action.REQUEST_FORWARD_EXTENSION)

# A county's centre dispatches to its own units only (test_a_county_dispatches_only_to_its_own_units).
COUNTY_COMMANDS: dict[Action, list[tuple[str | None, object]]] = {
    Action.DISPATCH: [(None, c.Dispatch(lead_unit="YJ-GOV", co_units=["YJ-SCJGJ"]))],
    Action.REDISPATCH: [(None, c.Redispatch(lead_unit="YJ-GOV"))],
    Action.FORWARD: [(None, c.Forward(unit="YJ-TOWN", due_at=NOW + timedelta(days=5)))],
    # A county acts for a co-unit it owns, naming it.
    Action.SIGN_OFF_PART: [(None, c.SignOffPart(unit="YJ-SCJGJ"))],
    Action.REPLY_PART: [(None, c.ReplyPart(unit="YJ-SCJGJ", text="已配合现场核查"))],
}


@dataclass(frozen=True)
class Expected:
    target: str
    roles: frozenset[Role]


def _load_expected() -> tuple[dict[tuple[CaseState, Action, str | None], Expected], frozenset[Role]]:
    data = yaml.safe_load((Path(__file__).with_name("expected_lifecycle.yaml")).read_text(encoding="utf-8"))
    rows: dict[tuple[CaseState, Action, str | None], Expected] = {}
    assert set(data["states"]) == {s.value for s in CaseState}, "every state is listed, even with no rows"
    for state, entries in data["states"].items():
        for entry in entries:
            key = (CaseState(state), Action(entry["action"]), entry.get("outcome"))
            assert key not in rows, f"{key} listed twice"
            rows[key] = Expected(entry["to"], frozenset(Role(r) for r in entry["roles"]))
    return rows, frozenset(Role(r) for r in data["register"])


EXPECTED, REGISTER = _load_expected()
# `where_asked`: the state the unit asked to return from; case_in() asks from in_progress.
WHERE_ASKED = CaseState.IN_PROGRESS


def expected_rows(state: CaseState, action: Action) -> dict[str | None, Expected]:
    return {outcome: e for (s, a, outcome), e in EXPECTED.items() if s is state and a is action}


def expected_allowed(state: CaseState, role: Role) -> set[str]:
    return {a.value for (s, a, _), e in EXPECTED.items() if s is state and role in e.roles}


TRIPLES = [(s, a, r) for s in CaseState for a in Action if a is not Action.REGISTER for r in Role]


def _prepare(case: Case, action: Action) -> Case:
    # request_extension is refused while one is pending; give it a clean slate.
    if action is Action.REQUEST_EXTENSION:
        case.handling.extensions = []
    # 解除督办 needs a supervision to clear.
    if action is Action.CLEAR_SUPERVISION:
        case.flags.supervised = True
    # A 不合理诉求 decision needs an application to decide.
    if action is Action.DECIDE_UNREASONABLE:
        case.flags.unreasonable_requested = True
    # A 考核申诉 needs an outcome to contest (overdue, an unsatisfied follow-up); a decision
    # needs a pending appeal.
    if action is Action.APPEAL_ASSESSMENT:
        case.flags.overdue = True
        case.outcome.follow_ups = [FollowUp(at=NOW, by="centre-agent", reached=True, resolved=False, satisfaction=Satisfaction.UNSATISFIED)]
    if action is Action.DECIDE_APPEAL:
        case.flags.appealed = True
        case.flags.appeals = [Appeal(grounds="overdue", unit="ZY-SCJGJ", reason="时限设置错误", at=NOW)]
    # 协办: the unit's key (ZY-SCJGJ) and a county's unit (YJ-SCJGJ) co-handle; a reply needs
    # the part signed off first.
    if action in PART_ACTIONS:
        case.handling.lead_unit, case.handling.co_units = "ZY-GOV", ["ZY-SCJGJ", "YJ-GOV", "YJ-SCJGJ"]
        if action is Action.REPLY_PART:
            case.handling.parts = [Part(unit_code=u, signed_at=NOW) for u in case.handling.co_units]
    # 二次派单: the lead has signed; the township actions find the case dispatched on (to the
    # unit's key, or for a county to its YJ-TOWN), signed where a reply needs it, with a
    # pending extension request for the county to decide.
    h = case.handling
    if action is Action.FORWARD:
        h.signed_at = NOW
    if action in TOWNSHIP_ACTIONS or action is Action.DECIDE_FORWARD_EXTENSION:
        h.cascade = [
            Forward(
                unit_code="ZY-SCJGJ" if action in TOWNSHIP_ACTIONS else "ZY-TOWN",
                by_unit=h.lead_unit or "",
                at=NOW,
                sign_off_due=NOW + timedelta(days=1),
                due_at=NOW + timedelta(days=5),
                signed_at=NOW if action is Action.REPLY_FORWARD else None,
            )
        ]
        if action in TOWNSHIP_ACTIONS:
            h.lead_unit = "ZY-GOV"
        if action is Action.DECIDE_FORWARD_EXTENSION:
            h.cascade[0].extensions = [ExtensionRecord(requested_at=NOW, requested_by="ZY-TOWN", working_days=2, reason="需协调村社")]
    # 预警 falls between the warning share of a limit and its end; 超期 after the end.
    h = case.handling
    if action is Action.WARN:
        h.dispatched_at, h.sign_off_due, h.due_at = NOW - timedelta(days=10), NOW + timedelta(hours=1), NOW + timedelta(hours=1)
    if action is Action.MARK_OVERDUE:
        h.dispatched_at, h.sign_off_due, h.due_at = NOW - timedelta(days=10), NOW - timedelta(hours=1), NOW - timedelta(hours=1)
    return case


@pytest.mark.parametrize(("state", "action", "role"), TRIPLES, ids=[f"{s}-{a}-{r}" for s, a, r in TRIPLES])
def test_every_state_action_role(state: CaseState, action: Action, role: Role) -> None:
    rows = expected_rows(state, action)
    roles = {frozenset(e.roles) for e in rows.values()}
    assert len(roles) <= 1, "rows of one (state, action) agree on who may act"
    allowed = bool(rows) and role in next(iter(roles))
    for outcome, command in (COUNTY_COMMANDS.get(action) if role is Role.COUNTY else None) or COMMANDS[action]:
        case = _prepare(case_in(state), action)
        if role is Role.COUNTY and action not in PART_ACTIONS:  # a county handles as its own unit only (test_trust_rules.py)
            case.handling.lead_unit, case.handling.co_units = "YJ-GOV", ["ZY-SCJGJ"]
            for forward in case.handling.cascade:  # and for its own township units
                forward.unit_code, forward.by_unit = "YJ-TOWN", "YJ-GOV"
        related = OTHER if action is Action.MERGE else None
        if role is Role.CHANNEL:
            # A channel registers and reads its cases as citizens see them (channels/); it acts
            # on none: the case is not even visible to it, before the table is asked.
            assert not allowed
            with pytest.raises(AccessDenied):
                ENGINE.act(case, command, ACTORS[role], NOW, related)
            continue
        if not allowed:
            with pytest.raises(ActionNotAllowed) as refused:
                ENGINE.act(case, command, ACTORS[role], NOW, related)
            assert refused.value.state == state.value
            assert set(refused.value.allowed) == expected_allowed(state, role)
            assert state.value in str(refused.value)
            continue
        acted = ENGINE.act(case, command, ACTORS[role], NOW, related)
        outcome_case, events = acted.case, acted.events
        expected = rows[outcome]
        target = WHERE_ASKED if expected.target == "where_asked" else CaseState(expected.target)
        assert outcome_case.state is target
        assert outcome_case.version == case.version + 1
        assert outcome_case.history[-1].action == action.value
        assert outcome_case.history[-1].from_state is state
        assert outcome_case.history[-1].to_state is target
        # 办结 as another action's outcome; a flag on a closed case closes nothing
        closes_too = target is CaseState.CLOSED and state is not CaseState.CLOSED and action is not Action.CLOSE
        assert [e.type for e in events] == [f"case.{_past(action)}"] + (["case.closed"] if closes_too else [])
        if closes_too:
            assert events[1].data == {"closed_by": action.value}


@pytest.mark.parametrize("role", list(Role))
def test_who_may_register(role: Role) -> None:
    actor = ACTORS[role]
    if role not in REGISTER:
        with pytest.raises(AccessDenied):  # a role that may not register is refused 403, not 409
            ENGINE.register(CaseDraft.model_validate(draft()), "512000202509260001", actor, NOW)
        return
    # A channel key registers its own channel's cases only (a phone case from the portal is refused).
    own = {"intake": {"channel": "web", "received_at": "2025-09-26T09:58:00+08:00"}} if role is Role.CHANNEL else {}
    if role is Role.CHANNEL:
        with pytest.raises(AccessDenied, match="intake.channel"):
            ENGINE.register(CaseDraft.model_validate(draft()), "512000202509260001", actor, NOW)
    outcome = ENGINE.register(CaseDraft.model_validate(draft(**own)), "512000202509260001", actor, NOW)
    assert outcome.case.state is CaseState.REGISTERED
    assert [e.type for e in outcome.events] == ["case.registered"]


def _past(action: Action) -> str:
    from hub.domain.events import EVENT_TYPES

    return EVENT_TYPES[action.value].removeprefix("case.")


def test_table_has_no_duplicate_rows_and_outcome_rows_are_complete() -> None:
    keys = [(t.source, t.action, t.outcome) for t in TABLE]
    assert len(keys) == len(set(keys))
    for t in TABLE:
        siblings = rows_for(t.source, t.action)
        # Rows that share (state, action) differ only by outcome and agree on who may act.
        assert len({r.roles for r in siblings}) == 1
        if len(siblings) > 1:
            assert all(r.outcome is not None for r in siblings)


def test_every_action_appears_in_the_table() -> None:
    assert {t.action for t in TABLE} == set(Action) - {Action.REGISTER}


@pytest.mark.parametrize("command", [c.Dispatch(lead_unit="ZY-SCJGJ"), c.Dispatch(lead_unit="YJ-GOV", co_units=["ZY-SCJGJ"])], ids=["lead", "co"])
def test_a_county_dispatches_only_to_its_own_units(command: c.Dispatch) -> None:
    """分级派单: a city department is the city centre's to dispatch to, not a county's."""
    field = "lead_unit" if command.lead_unit == "ZY-SCJGJ" else "co_units[0]"
    with pytest.raises(AccessDenied, match=rf"^{re.escape(field)}: unit ZY-SCJGJ is not one of this county's units"):
        ENGINE.act(case_in(CaseState.ACCEPTED), command, ACTORS[Role.COUNTY], NOW)
    assert ENGINE.act(case_in(CaseState.ACCEPTED), command, ACTORS[Role.AGENT], NOW).case.handling.lead_unit == command.lead_unit
