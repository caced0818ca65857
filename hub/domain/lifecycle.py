"""The case lifecycle as a table: (state, action[, outcome]) -> state, and who may act.

Read it top to bottom as the life of a case (DOMAIN.md, "The lifecycle"). There is no
catch-all: a (state, action) pair that is not a row here is refused, and the refusal
names the current state and the actions that are allowed in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hub.domain.model import CaseState as S
from hub.domain.model import Role as R


class Action(StrEnum):
    REGISTER = "register"
    ACCEPT = "accept"
    ANSWER_DIRECTLY = "answer_directly"
    REJECT = "reject"
    TRANSFER_EMERGENCY = "transfer_emergency"
    DISPATCH = "dispatch"
    SIGN_OFF = "sign_off"
    REQUEST_RETURN = "request_return"
    DECIDE_RETURN = "decide_return"
    REDISPATCH = "redispatch"
    REQUEST_EXTENSION = "request_extension"
    DECIDE_EXTENSION = "decide_extension"
    REPORT_PROGRESS = "report_progress"
    REPLY = "reply"
    REVIEW_REPLY = "review_reply"
    FOLLOW_UP = "follow_up"
    REDO = "redo"
    CLOSE = "close"
    ARCHIVE = "archive"
    MERGE = "merge"
    SUPERVISE = "supervise"
    CHASE = "chase"
    WARN = "warn"
    MARK_OVERDUE = "mark_overdue"
    CORRECT = "correct"
    CLEAR_SUPERVISION = "clear_supervision"
    REQUEST_UNREASONABLE = "request_unreasonable"
    DECIDE_UNREASONABLE = "decide_unreasonable"
    APPEAL_ASSESSMENT = "appeal_assessment"
    DECIDE_APPEAL = "decide_appeal"
    SIGN_OFF_PART = "sign_off_part"
    REPLY_PART = "reply_part"
    WAIVE_PART = "waive_part"
    FORWARD = "forward"
    SIGN_OFF_FORWARD = "sign_off_forward"
    REPLY_FORWARD = "reply_forward"
    RETURN_FORWARD = "return_forward"
    REQUEST_FORWARD_EXTENSION = "request_forward_extension"
    DECIDE_FORWARD_EXTENSION = "decide_forward_extension"


# Outcomes pick one row among several for the same (state, action).
APPROVED = "approved"
REFUSED = "refused"
SATISFIED = "satisfied"  # reached, resolved, 满意 or 基本满意
UNSATISFIED = "unsatisfied"  # reached, and unresolved or 不满意
UNREACHED = "unreached"

# A target meaning "the state the case was in when the pending request was made":
# a refused return goes back to where the unit was, awaiting sign-off or in progress.
PREVIOUS = "previous"


@dataclass(frozen=True)
class Transition:
    source: S
    action: Action
    target: S | str
    roles: frozenset[R]
    outcome: str | None = None


CENTRE = frozenset({R.AGENT, R.SUPERVISOR})
SUPERVISION = frozenset({R.SUPERVISOR})
HANDLERS = frozenset({R.UNIT, R.COUNTY})
# A channel (web, WeChat, app) registers what citizens file through it (docs/channels.md).
INTAKE = frozenset({R.AGENT, R.SUPERVISOR, R.PROVINCE, R.COUNTY, R.SYSTEM, R.CHANNEL})
OVERSIGHT = frozenset({R.SUPERVISOR, R.PROVINCE, R.SYSTEM})
# A county's own centre may dispatch the cases of its divisions to its own units.
DISPATCHERS = frozenset({R.AGENT, R.SUPERVISOR, R.COUNTY})
# The hub itself routes an accepted case by configuration (a 设分中心 line's cases go to its
# unit, docs/legacy.md); re-dispatching a returned case stays a person's decision.
ROUTERS = DISPATCHERS | {R.SYSTEM}
FOLLOWERS = frozenset({R.AGENT, R.SUPERVISOR, R.SYSTEM})
CLOSERS = frozenset({R.SUPERVISOR, R.SYSTEM})

# States in which a unit holds the case; supervision and chasing apply only there.
HANDLING_STATES = (S.AWAITING_SIGN_OFF, S.IN_PROGRESS, S.RETURN_REQUESTED, S.REPLIED)
# States in which a time limit is still running: once replied, the reply time is what counts.
RUNNING_STATES = (S.AWAITING_SIGN_OFF, S.IN_PROGRESS, S.RETURN_REQUESTED)
# 预警 and 超期 are the hub's own judgement on the clock, never a person's.
SCHEDULER = frozenset({R.SYSTEM})
# 不合理诉求: the lead unit applies while it handles the case or with its reply; a supervisor
# decides, also after the follow-up (the assessment reads the decision, docs/supervision.md).
UNREASONABLE_ASKED = (S.IN_PROGRESS, S.REPLIED)
UNREASONABLE_DECIDED = (S.IN_PROGRESS, S.REPLIED, S.AWAITING_FOLLOW_UP, S.REDO_REQUIRED, S.CLOSED)
# 改单: free for the centre before dispatch; once a unit has had the case (or had it and gave
# it back), a supervisor's decision with a reason (the engine requires the reason).
BEFORE_DISPATCH = (S.REGISTERED, S.ACCEPTED)
CORRECTABLE_DISPATCHED = (S.AWAITING_SIGN_OFF, S.IN_PROGRESS, S.RETURN_REQUESTED, S.RETURNED)
# 考核申诉: the lead unit appeals an outcome the assessment holds against it (超期, 不满意)
# while it still holds the case or once it is closed; archiving closes the books. A
# supervisor decides, also after a redo has taken the case from the unit.
APPEALABLE = (S.IN_PROGRESS, S.REPLIED, S.AWAITING_FOLLOW_UP, S.REDO_REQUIRED, S.CLOSED)
APPEAL_DECIDED = (*APPEALABLE, S.ACCEPTED, S.AWAITING_SIGN_OFF, S.RETURN_REQUESTED, S.RETURNED)

# 协办: a co-unit signs off and replies its part while the case is with the units, before the
# lead's reply (which needs every part replied or waived); the centre's supervisor waives a part.
PART_STATES = (S.AWAITING_SIGN_OFF, S.IN_PROGRESS, S.RETURN_REQUESTED)


def _t(source: S, action: Action, target: S | str, roles: frozenset[R], outcome: str | None = None) -> Transition:
    return Transition(source, action, target, roles, outcome)


TABLE: tuple[Transition, ...] = (
    # 登记 -> 受理, or refused, or sent to an emergency line; duplicates are merged (并单).
    _t(S.REGISTERED, Action.ACCEPT, S.ACCEPTED, frozenset({R.AGENT, R.SUPERVISOR, R.SYSTEM})),
    _t(S.REGISTERED, Action.REJECT, S.REJECTED, CENTRE),
    _t(S.REGISTERED, Action.TRANSFER_EMERGENCY, S.TRANSFERRED, CENTRE),
    _t(S.REGISTERED, Action.MERGE, S.MERGED, CENTRE),
    _t(S.ACCEPTED, Action.REJECT, S.REJECTED, CENTRE),
    _t(S.ACCEPTED, Action.TRANSFER_EMERGENCY, S.TRANSFERRED, CENTRE),
    _t(S.ACCEPTED, Action.MERGE, S.MERGED, CENTRE),
    # 直接答复 from the knowledge base, then follow-up.
    _t(S.ACCEPTED, Action.ANSWER_DIRECTLY, S.AWAITING_FOLLOW_UP, CENTRE),
    # 派发 to a lead unit and co-handlers.
    _t(S.ACCEPTED, Action.DISPATCH, S.AWAITING_SIGN_OFF, ROUTERS),
    _t(S.AWAITING_SIGN_OFF, Action.SIGN_OFF, S.IN_PROGRESS, HANDLERS),
    # 退回申请: approved -> re-dispatch (改派); refused -> back to the unit.
    _t(S.AWAITING_SIGN_OFF, Action.REQUEST_RETURN, S.RETURN_REQUESTED, HANDLERS),
    _t(S.IN_PROGRESS, Action.REQUEST_RETURN, S.RETURN_REQUESTED, HANDLERS),
    _t(S.RETURN_REQUESTED, Action.DECIDE_RETURN, S.RETURNED, CENTRE, APPROVED),
    _t(S.RETURN_REQUESTED, Action.DECIDE_RETURN, PREVIOUS, CENTRE, REFUSED),
    _t(S.RETURNED, Action.REDISPATCH, S.AWAITING_SIGN_OFF, DISPATCHERS),
    # 延期申请: a pending request beside the state, decided by a supervisor.
    _t(S.IN_PROGRESS, Action.REQUEST_EXTENSION, S.IN_PROGRESS, HANDLERS),
    _t(S.IN_PROGRESS, Action.DECIDE_EXTENSION, S.IN_PROGRESS, SUPERVISION),
    _t(S.IN_PROGRESS, Action.REPORT_PROGRESS, S.IN_PROGRESS, HANDLERS),
    # 已回复 -> the centre reviews the reply: approved -> 回访; sent back -> the unit.
    _t(S.IN_PROGRESS, Action.REPLY, S.REPLIED, HANDLERS),
    _t(S.REPLIED, Action.REVIEW_REPLY, S.AWAITING_FOLLOW_UP, CENTRE, APPROVED),
    _t(S.REPLIED, Action.REVIEW_REPLY, S.IN_PROGRESS, CENTRE, REFUSED),
    # 回访: satisfied -> 办结; unsatisfied or unresolved -> 重办; not reached -> try again.
    _t(S.AWAITING_FOLLOW_UP, Action.FOLLOW_UP, S.CLOSED, FOLLOWERS, SATISFIED),
    _t(S.AWAITING_FOLLOW_UP, Action.FOLLOW_UP, S.REDO_REQUIRED, FOLLOWERS, UNSATISFIED),
    _t(S.AWAITING_FOLLOW_UP, Action.FOLLOW_UP, S.AWAITING_FOLLOW_UP, FOLLOWERS, UNREACHED),
    # A case whose person cannot be reached is closed by a supervisor or the scheduler.
    _t(S.AWAITING_FOLLOW_UP, Action.CLOSE, S.CLOSED, CLOSERS),
    _t(S.REDO_REQUIRED, Action.REDO, S.ACCEPTED, FOLLOWERS),
    # A supervisor may accept an unsatisfied outcome (e.g. an unreasonable demand, 不合理诉求).
    _t(S.REDO_REQUIRED, Action.CLOSE, S.CLOSED, SUPERVISION),
    # 归档.
    _t(S.CLOSED, Action.ARCHIVE, S.ARCHIVED, CLOSERS),
    _t(S.REJECTED, Action.ARCHIVE, S.ARCHIVED, CLOSERS),
    _t(S.TRANSFERRED, Action.ARCHIVE, S.ARCHIVED, CLOSERS),
    _t(S.MERGED, Action.ARCHIVE, S.ARCHIVED, CLOSERS),
    # 督办 and 催办 are flags: the state does not move.
    *(_t(s, Action.SUPERVISE, s, OVERSIGHT) for s in HANDLING_STATES),
    *(_t(s, Action.CHASE, s, OVERSIGHT) for s in HANDLING_STATES),
    # 解除督办: a centre supervisor lifts a supervision, with a reason; the flag clears.
    *(_t(s, Action.CLEAR_SUPERVISION, s, SUPERVISION) for s in HANDLING_STATES),
    # 预警 and 超期 are flags too, raised by the scheduler while a time limit runs.
    *(_t(s, Action.WARN, s, SCHEDULER) for s in RUNNING_STATES),
    *(_t(s, Action.MARK_OVERDUE, s, SCHEDULER) for s in RUNNING_STATES),
    # 不合理诉求 is a flag: a pending application beside the state, then approved or refused.
    *(_t(s, Action.REQUEST_UNREASONABLE, s, HANDLERS) for s in UNREASONABLE_ASKED),
    *(_t(s, Action.DECIDE_UNREASONABLE, s, SUPERVISION, o) for s in UNREASONABLE_DECIDED for o in (APPROVED, REFUSED)),
    # 改单 changes what the case is about, never where it stands.
    *(_t(s, Action.CORRECT, s, CENTRE) for s in BEFORE_DISPATCH),
    *(_t(s, Action.CORRECT, s, SUPERVISION) for s in CORRECTABLE_DISPATCHED),
    # 考核申诉 is a flag too: a pending appeal beside the state, then upheld or refused.
    *(_t(s, Action.APPEAL_ASSESSMENT, s, HANDLERS) for s in APPEALABLE),
    *(_t(s, Action.DECIDE_APPEAL, s, SUPERVISION, o) for s in APPEAL_DECIDED for o in (APPROVED, REFUSED)),
    # 协办 parts are beside the state too: the case moves only with the lead.
    *(_t(s, Action.SIGN_OFF_PART, s, HANDLERS) for s in PART_STATES),
    *(_t(s, Action.REPLY_PART, s, HANDLERS) for s in PART_STATES),
    *(_t(s, Action.WAIVE_PART, s, SUPERVISION) for s in PART_STATES),
    # 二次派单: once the county-level lead has signed off, it may dispatch the case on to a
    # township unit; the township signs off, replies or returns it up, asks the county for time.
    # The case stays in_progress with the county as lead throughout.
    *(
        _t(S.IN_PROGRESS, a, S.IN_PROGRESS, HANDLERS)
        for a in (
            Action.FORWARD,
            Action.SIGN_OFF_FORWARD,
            Action.REPLY_FORWARD,
            Action.RETURN_FORWARD,
            Action.REQUEST_FORWARD_EXTENSION,
            Action.DECIDE_FORWARD_EXTENSION,
        )
    ),
)

# Creation is not a move between states; it is listed for the roles that may register.
REGISTER_ROLES = INTAKE


def rows_for(state: S, action: Action) -> list[Transition]:
    return [t for t in TABLE if t.source == state and t.action == action]


def allowed_actions(state: S, role: R | None = None) -> list[str]:
    """Actions in the table for this state (and role), in table order, without repeats."""
    seen: dict[str, None] = {}
    for t in TABLE:
        if t.source == state and (role is None or role in t.roles):
            seen.setdefault(t.action.value, None)
    return list(seen)
