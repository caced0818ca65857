"""The case engine: applies a command to a case by the lifecycle table.

A transition changes a copy of the case, appends to its history and returns the domain
events it caused. It never calls anything outside: the caller stores the case and the
events in one transaction, and the outbox delivers them after commit.

Over 400 lines on purpose: the engine and one small effect per action of the lifecycle table
(hub/domain/lifecycle.py), in the table's order, so every rule of a transition is read in one
place beside the others; tools/mutate.py mutates this file against the rule tests as a whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from hub.domain import commands as c
from hub.domain.access import Actor, can_see_case, may_set_ref, ref_namespace, registrant
from hub.domain.calendar import WorkingCalendar
from hub.domain.deadlines import (
    TimeLimits,
    compute_deadlines,
    count_basis,
    extend_basis,
    extend_deadline,
    part_deadlines,
    recount,
    warning_at,
)
from hub.domain.errors import AccessDenied, ActionNotAllowed, RuleViolation
from hub.domain.events import EVENT_TYPES, DomainEvent
from hub.domain.lifecycle import (
    APPROVED,
    BEFORE_DISPATCH,
    HANDLING_STATES,
    PREVIOUS,
    REFUSED,
    REGISTER_ROLES,
    RUNNING_STATES,
    SATISFIED,
    UNREACHED,
    UNSATISFIED,
    Action,
    allowed_actions,
    rows_for,
)
from hub.domain.model import (
    Appeal,
    Case,
    CaseDraft,
    CaseState,
    ExtensionRecord,
    FollowUp,
    Forward,
    HistoryEntry,
    Part,
    Reply,
    ReturnRecord,
    Role,
    Satisfaction,
)


class UnitDirectory(Protocol):
    """The unit catalogue, as far as the engine needs it: raises for an unknown unit."""

    def unit(self, code: str, field: str = "unit_code") -> object: ...


@dataclass(frozen=True)
class Outcome:
    case: Case
    events: list[DomainEvent]
    related: Case | None = None  # the other case a merge touched


# Actions only the lead unit may take; co-handlers report progress to the lead.
_LEAD_ONLY = {
    Action.SIGN_OFF,
    Action.REQUEST_RETURN,
    Action.REQUEST_EXTENSION,
    Action.REPLY,
    Action.REQUEST_UNREASONABLE,
    Action.APPEAL_ASSESSMENT,
    Action.FORWARD,
    Action.DECIDE_FORWARD_EXTENSION,
}
# Actions taken as a handling unit (lifecycle.HANDLERS): a county takes them only for its own units.
_HANDLER_ACTIONS = _LEAD_ONLY | {Action.REPORT_PROGRESS}


# States in which a case is finished: a citizen adds no more files to it.
FINISHED = (CaseState.CLOSED, CaseState.ARCHIVED, CaseState.REJECTED, CaseState.TRANSFERRED, CaseState.MERGED)


class Engine:
    def __init__(self, calendar: WorkingCalendar, limits: TimeLimits, units: UnitDirectory) -> None:
        self.calendar = calendar
        self.limits = limits
        self.units = units

    # -- creation -------------------------------------------------------------------
    def register(self, draft: CaseDraft, number: str, actor: Actor, now: datetime, refs_by_adapter: bool = False) -> Outcome:
        """`refs_by_adapter`: the external refs were named by the hub's own adapter from its
        configuration (a county's push), not by the caller; otherwise each must lie in the
        caller's own namespace (access.may_set_ref)."""
        if actor.role not in REGISTER_ROLES:
            # A role that may never register is refused as a party, like any other access rule.
            raise AccessDenied(f"role '{actor.role.value}' may not register cases; roles that may: " + ", ".join(sorted(r.value for r in REGISTER_ROLES)))
        if actor.role is Role.COUNTY and draft.place.division_code[:6] not in actor.divisions:
            raise AccessDenied(f"division {draft.place.division_code} is not in this county's divisions")
        if actor.role is Role.CHANNEL and draft.intake.channel.value != actor.channel:
            raise AccessDenied(f"intake.channel: this key registers '{actor.channel}' cases only, not '{draft.intake.channel.value}'")
        if not refs_by_adapter:
            for i, ref in enumerate(draft.external_refs):
                if not may_set_ref(actor, ref.system):
                    own = ref_namespace(actor)
                    raise AccessDenied(
                        f"external_refs[{i}].system: '{ref.system}' is another system's namespace; "
                        + (f"party '{actor.party}' may set refs only in '{own}'" if own else f"role '{actor.role.value}' sets no external refs")
                        + " (other systems' ids are written by the hub's own adapters)"
                    )
        case = Case(
            number=number,
            version=1,
            state=CaseState.REGISTERED,
            external_refs=draft.external_refs,
            intake=draft.intake,
            person=draft.person,
            request_type=draft.request_type,
            category_code=draft.category_code,
            title=draft.title,
            content=draft.content,
            place=draft.place,
            urgency=draft.urgency,
            created_at=now,
            updated_at=now,
        )
        entry = HistoryEntry(
            seq=1,
            at=now,
            actor=actor.party,
            role=actor.role,
            action="register",
            from_state=None,
            to_state=CaseState.REGISTERED,
            data={"channel": draft.intake.channel.value},
        )
        case.history.append(entry)
        return Outcome(case, [self._event(case, "register", actor, now, {"channel": draft.intake.channel.value})])

    # -- transitions ------------------------------------------------------------------
    def act(self, case: Case, command: c.Command, actor: Actor, now: datetime, related: Case | None = None) -> Outcome:
        action = Action(command.action)
        if not can_see_case(actor, case):
            raise AccessDenied(f"case {case.number} is not visible to party '{actor.party}'")
        rows = rows_for(case.state, action)
        if not rows:
            raise ActionNotAllowed(action.value, case.state.value, actor.role.value, allowed_actions(case.state, actor.role), "not allowed in this state")
        if actor.role not in rows[0].roles:
            raise ActionNotAllowed(action.value, case.state.value, actor.role.value, allowed_actions(case.state, actor.role), "not allowed for this role")
        if actor.role is Role.UNIT and action in _LEAD_ONLY and actor.unit_code != case.handling.lead_unit:
            raise AccessDenied(f"only the lead unit {case.handling.lead_unit} may {action.value}")
        if actor.role is Role.COUNTY and action in _HANDLER_ACTIONS:
            self._check_county_handles(case, action, actor)

        new = case.model_copy(deep=True)
        effect = _EFFECTS[action]
        outcome_label, data = effect(self, new, command, actor, now, related)
        row = _pick(rows, outcome_label)
        source = new.state
        target = _resolve_target(new, row.target)
        new.state = target
        if target is CaseState.CLOSED:
            new.outcome.closed_at = now
        if target is CaseState.ARCHIVED:
            new.outcome.archived_at = now
        record(new, actor, action.value, now, note=command.note, data=data, from_state=source)
        events = [self._event(new, action.value, actor, now, data)]
        if target is CaseState.CLOSED and source is not CaseState.CLOSED and action is not Action.CLOSE:
            # Closed as the outcome of another action (a satisfied follow-up): peers that act
            # on 办结 subscribe to case.closed, so it is recorded too, naming what closed it.
            events.append(self._event(new, Action.CLOSE.value, actor, now, {"closed_by": action.value}))
        updated_related = None
        if action is Action.MERGE and related is not None:
            updated_related = _link_merge(related, new, actor, now)
        return Outcome(new, events, updated_related)

    def recount_deadlines(self, case: Case, actor: Actor, now: datetime) -> Case | None:
        """Count provisional deadlines again on this engine's calendar (a year was imported).

        Not a lifecycle action: the state does not change and nobody asked for it; the case
        gets a history line naming the old and new deadlines. None when there is no news:
        nothing moved and nothing became known.
        """
        h = case.handling
        bases = {"sign_off_due": h.sign_off_basis, "due_at": h.due_basis}
        part_bases = [b for p in h.parts for b in (p.sign_off_basis, p.due_basis) if b is not None and b.provisional]
        if not part_bases and not any(b is not None and b.provisional for b in bases.values()):
            return None
        new = case.model_copy(deep=True)
        nh = new.handling
        parts_moved = _recount_parts(self.calendar, new)
        moved: dict[str, Any] = {}
        still_provisional: list[str] = []
        for field, basis in bases.items():
            if basis is None or not basis.provisional:
                continue
            at, new_basis = recount(self.calendar, basis)
            old_at = getattr(h, field)
            setattr(nh, field, at)
            setattr(nh, "sign_off_basis" if field == "sign_off_due" else "due_basis", new_basis)
            if at != old_at:
                moved[field] = {"from": old_at.astimezone(UTC).isoformat() if old_at else None, "to": at.isoformat()}
            if new_basis.provisional:
                still_provisional.append(field)
        if not moved and not parts_moved and len(still_provisional) == sum(b is not None and b.provisional for b in bases.values()):
            return None  # counted again, nothing moved and nothing became known: no news
        if "due_at" in moved:
            # As after an extension: a new deadline is warned and marked overdue afresh.
            new.flags.overdue = new.flags.warned = False
        changes: dict[str, Any] = {"moved": moved, "provisional": still_provisional}
        if parts_moved:
            changes["parts"] = parts_moved
        record(new, actor, "recount_deadlines", now, data=changes)
        return new

    def attach(self, case: Case, attachment: dict[str, Any], actor: Actor, now: datetime) -> Outcome:
        """A photo or document added to the case (its file already stored; `attachment` holds
        its id, media_type, size, visibility, SHA-256 and the API path a party reads it at, never
        its name, which may name a person).

        Not a lifecycle action: the state does not move and it goes with a file, not a
        command on /actions. Who may attach, and when:
        - the centre (and the hub itself): until the case is archived (the books are closed);
        - a unit: while it handles the case as the lead or a co-unit (its own part);
        - a county: the same, for a unit of its own;
        - a channel: its own case (it registered it), until the case is finished, public only
          (a citizen's photo is the citizen's, never an internal note).
        """
        role = actor.role
        visibility = attachment["visibility"]
        if role in (Role.AGENT, Role.SUPERVISOR, Role.SYSTEM):
            if case.state is CaseState.ARCHIVED:
                raise RuleViolation(f"case {case.number} is archived: nothing more is attached to it")
        elif role in (Role.UNIT, Role.COUNTY):
            if not can_see_case(actor, case):
                raise AccessDenied(f"case {case.number} is not visible to party '{actor.party}'")
            if role is Role.COUNTY:
                self._check_county_handles(case, Action.REPORT_PROGRESS, actor, what="attach files")
            if case.state not in HANDLING_STATES:
                raise RuleViolation(f"a handling unit attaches files while it handles the case; case {case.number} is {case.state.value}")
        elif role is Role.CHANNEL:
            if registrant(case) != (actor.party, Role.CHANNEL):
                raise AccessDenied(f"case {case.number} was not registered by channel '{actor.party}'")
            if case.state in FINISHED:
                raise RuleViolation(f"case {case.number} is {case.state.value}: the citizen adds no more files")
            if visibility != "public":
                raise AccessDenied("visibility: a channel's attachments are the citizen's and public, never internal")
        else:
            raise AccessDenied(f"role '{role.value}' attaches no files")
        new = case.model_copy(deep=True)
        new.links.attachments.append(attachment["id"])
        # With the file's SHA-256 and the hub's path to it, the event is the reference a peer
        # fetches the file by with its own key (province PushStatus, county JSON).
        data: dict[str, Any] = {k: attachment[k] for k in ("id", "media_type", "size", "visibility", "sha256", "url") if k in attachment}
        record(new, actor, "attach", now, data=data)
        return Outcome(new, [self._event(new, "attach", actor, now, data)])

    def _event(self, case: Case, action: str, actor: Actor, now: datetime, data: dict[str, Any]) -> DomainEvent:
        return DomainEvent(
            type=EVENT_TYPES[action],
            case_number=case.number,
            case_version=case.version,
            occurred_at=now,
            actor=actor.party,
            role=actor.role.value,
            state=case.state.value,
            data=data,
        )

    def _check_county_handles(self, case: Case, action: Action, actor: Actor, what: str | None = None) -> None:
        """A county acts as handler only for a unit it owns (its government or a department
        of it): the lead unit for the lead's actions, the lead or a co-unit for progress.
        Seeing the case (its division) is not enough: a city department's reply is that
        department's, never written by a county in its name."""
        codes = [case.handling.lead_unit] if action in _LEAD_ONLY else case.units
        for code in codes:
            division = getattr(self.units.unit(code, field="handling.lead_unit"), "division", None) if code else None
            if division is not None and division[:6] in actor.divisions:
                return
        whose = "the lead unit" if action in _LEAD_ONLY else "the lead unit or a co-unit"
        raise AccessDenied(
            f"a county may {what or action.value} only as {whose} it owns; case {case.number} is handled "
            f"by {', '.join(c for c in codes if c) or 'no unit'}, not by one of this county's units"
        )

    def _check_units(self, lead: str, co: list[str]) -> None:
        self.units.unit(lead, field="lead_unit")
        for i, code in enumerate(co):
            self.units.unit(code, field=f"co_units[{i}]")


def _recount_parts(calendar: WorkingCalendar, case: Case) -> dict[str, dict[str, Any]]:
    """Count the co-units' provisional part deadlines again; what moved or became known, by unit."""
    out: dict[str, dict[str, Any]] = {}
    for part in case.handling.parts:
        for field, basis_field in (("sign_off_due", "sign_off_basis"), ("due_at", "due_basis")):
            basis = getattr(part, basis_field)
            if basis is None or not basis.provisional:
                continue
            at, new_basis = recount(calendar, basis)
            old_at = getattr(part, field)
            setattr(part, field, at)
            setattr(part, basis_field, new_basis)
            if at != old_at or not new_basis.provisional:
                out.setdefault(part.unit_code, {})[field] = {"from": _iso(old_at), "to": at.isoformat(), "provisional": new_basis.provisional}
    return out


def _pick(rows: list[Any], outcome: str | None) -> Any:
    for row in rows:
        if row.outcome == outcome:
            return row
    # The effect functions only return outcomes that exist in the table; reaching this
    # means the table and the effects disagree, which is a programming error.
    raise AssertionError(f"no row for outcome {outcome!r} among {rows}")


def record(
    case: Case, actor: Actor, action: str, now: datetime, *, note: str | None = None, data: dict[str, Any] | None = None, from_state: CaseState | None = None
) -> HistoryEntry:
    """Record a change on `case`, the caller's working copy (already changed): one version on,
    updated `now`, and a history line saying who did `action`, from `from_state` (by default
    the state it is in: a change beside the lifecycle) to the state it is in now.

    Every change to a stored case ends here: the engine's transitions and its acts beside the
    table (recount, attach, merge_in), a note the repository writes for an operator, the
    retention's erasure. Returns the line it appended.
    """
    entry = HistoryEntry(
        seq=len(case.history) + 1,
        at=now,
        actor=actor.party,
        role=actor.role,
        action=action,
        from_state=case.state if from_state is None else from_state,
        to_state=case.state,
        note=note,
        data={} if data is None else data,
    )
    case.history.append(entry)
    case.version += 1
    case.updated_at = now
    return entry


def _resolve_target(case: Case, target: CaseState | str) -> CaseState:
    if target == PREVIOUS:
        return case.handling.returns[-1].from_state
    return CaseState(target)


def _link_merge(target: Case, source: Case, actor: Actor, now: datetime) -> Case:
    new = target.model_copy(deep=True)
    new.links.merged_cases.append(source.number)
    record(new, actor, "merge_in", now, data={"merged": source.number})
    return new


# -- effects: what each action changes beside the state ----------------------------------
# Each returns (outcome label picking the table row, event/history data).
Effect = Callable[[Engine, Case, Any, Actor, datetime, "Case | None"], tuple[str | None, dict[str, Any]]]


def _accept(engine, case, cmd: c.Accept, actor, now, related):
    return None, {}


def _answer(engine, case, cmd: c.AnswerDirectly, actor, now, related):
    case.outcome.direct_answer = cmd.answer
    case.links.articles.extend(a for a in cmd.articles if a not in case.links.articles)
    return None, {"articles": cmd.articles}


def _reject(engine, case, cmd: c.Reject, actor, now, related):
    case.outcome.rejection_reason = f"{cmd.reason_code.value}: {cmd.reason}"
    return None, {"reason_code": cmd.reason_code.value, "reason": cmd.reason}


def _transfer(engine, case, cmd: c.TransferEmergency, actor, now, related):
    case.outcome.transferred_to = cmd.line.value
    return None, {"line": cmd.line.value}


def _dispatch(engine, case, cmd: c.Dispatch, actor, now, related):
    engine._check_units(cmd.lead_unit, cmd.co_units)
    if actor.role is Role.COUNTY:
        if case.place.division_code[:6] not in actor.divisions:
            raise AccessDenied("a county dispatches only cases of its own divisions")
        # 分级派单: a county's centre commands its own units. A city department or another
        # county's unit is reached through the city centre (return the case to it), never
        # by one county ordering another's government about.
        for field, code in [("lead_unit", cmd.lead_unit), *((f"co_units[{i}]", u) for i, u in enumerate(cmd.co_units))]:
            division = getattr(engine.units.unit(code, field=field), "division", None)
            if division not in actor.divisions:
                raise AccessDenied(f"{field}: unit {code} is not one of this county's units (division {division}); the city centre dispatches to it")
    deadlines = compute_deadlines(engine.calendar, engine.limits, case.request_type, case.urgency, now)
    h = case.handling
    h.lead_unit, h.co_units = cmd.lead_unit, list(cmd.co_units)
    h.dispatched_at, h.signed_at = now, None
    h.sign_off_due, h.due_at = deadlines.sign_off_due, deadlines.due_at
    h.sign_off_basis, h.due_basis = deadlines.sign_off_basis, deadlines.due_basis
    # 协办: each co-unit's part with its own deadlines, counted from the same dispatch.
    pd = part_deadlines(engine.calendar, engine.limits, case.request_type, case.urgency, now)
    h.parts = [
        Part(unit_code=u, sign_off_due=pd.sign_off_due, due_at=pd.due_at, sign_off_basis=pd.sign_off_basis, due_basis=pd.due_basis) for u in cmd.co_units
    ]
    case.flags.overdue = case.flags.warned = False
    data: dict[str, Any] = {
        "lead_unit": cmd.lead_unit,
        "co_units": list(cmd.co_units),
        "sign_off_due": deadlines.sign_off_due.isoformat(),
        "due_at": deadlines.due_at.isoformat(),
    }
    if h.parts:
        # The assessment reads each co-unit's deadlines from this line (supervision/assessment.py).
        data["parts"] = [{"unit": p.unit_code, "sign_off_due": _iso(p.sign_off_due), "due_at": _iso(p.due_at)} for p in h.parts]
    if deadlines.provisional or pd.provisional:
        data["provisional"] = True  # counted past the known calendar: recounted on import
    return None, data


def _sign_off(engine, case, cmd: c.SignOff, actor, now, related):
    case.handling.signed_at = now
    on_time = case.handling.sign_off_due is None or now <= case.handling.sign_off_due
    return None, {"unit": case.handling.lead_unit, "on_time": on_time}


def _request_return(engine, case, cmd: c.RequestReturn, actor, now, related):
    unit = actor.unit_code or case.handling.lead_unit or actor.party
    case.handling.returns.append(ReturnRecord(requested_at=now, requested_by=actor.party, unit_code=unit, reason=cmd.reason, from_state=case.state))
    return None, {"unit": unit, "reason": cmd.reason}


def _decide_return(engine, case, cmd: c.DecideReturn, actor, now, related):
    record = case.handling.returns[-1]
    record.decided_at, record.decided_by, record.approved, record.note = now, actor.party, cmd.approved, cmd.note
    if cmd.approved:
        _end_cascade(case, now, "退回：工单已退回市中心")  # the case left the county, and its township with it
    return (APPROVED if cmd.approved else REFUSED), {"approved": cmd.approved, "unit": record.unit_code}


def _end_cascade(case: Case, now: datetime, reason: str) -> None:
    """A township step still open ends when the case leaves its county (approved return, redo)."""
    for forward in case.handling.cascade:
        if forward.open:
            forward.returned_at, forward.return_reason = now, reason


def _pending_extension(case: Case) -> ExtensionRecord | None:
    pending = [e for e in case.handling.extensions if e.approved is None]
    return pending[-1] if pending else None


def _request_extension(engine, case, cmd: c.RequestExtension, actor, now, related):
    if _pending_extension(case):
        raise RuleViolation("an extension request is already pending a decision")
    if cmd.working_days > engine.limits.max_extension_working_days:
        raise RuleViolation(f"at most {engine.limits.max_extension_working_days} working days may be asked")
    case.handling.extensions.append(ExtensionRecord(requested_at=now, requested_by=actor.party, working_days=cmd.working_days, reason=cmd.reason))
    return None, {"working_days": cmd.working_days, "reason": cmd.reason}


def _decide_extension(engine, case, cmd: c.DecideExtension, actor, now, related):
    record = _pending_extension(case)
    if record is None:
        raise RuleViolation("there is no pending extension request to decide")
    granted = cmd.working_days or record.working_days
    if cmd.working_days and cmd.working_days > record.working_days:
        raise RuleViolation(f"cannot grant more than the {record.working_days} working days asked")
    record.decided_at, record.decided_by, record.approved, record.note = now, actor.party, cmd.approved, cmd.note
    data: dict[str, Any] = {"approved": cmd.approved}
    if cmd.approved:
        record.granted_working_days = granted  # the days asked stay on the record beside them
        assert case.handling.due_at is not None  # dispatched cases always have a deadline
        h = case.handling
        h.due_at, h.due_basis = extend_basis(engine.calendar, h.due_at, h.due_basis, granted)
        case.flags.overdue = case.flags.warned = False
        data.update(working_days=granted, due_at=h.due_at.isoformat())
        if h.due_basis.provisional:
            data["provisional"] = True
    return None, data


def _progress(engine, case, cmd: c.ReportProgress, actor, now, related):
    return None, {"text": cmd.text, "unit": actor.unit_code or actor.party}


def _reply(engine, case, cmd: c.ReplyCmd, actor, now, related):
    forward = case.handling.open_forward
    if forward is not None:
        raise RuleViolation(
            f"the case is with the township unit {forward.unit_code} (二次派单): it replies up "
            "(reply_forward) or gives it back (return_forward) before the lead replies"
        )
    pending = [p.unit_code for p in case.handling.parts if not p.done]
    if pending:
        raise RuleViolation(
            f"the lead's reply is the case's: co-units {', '.join(pending)} have not replied their "
            "part (reply_part) and the centre has not waived it (waive_part)"
        )
    unit = case.handling.lead_unit or actor.party
    case.outcome.reply = Reply(text=cmd.text, replied_at=now, unit_code=unit)
    on_time = case.handling.due_at is None or now <= case.handling.due_at
    return None, {"text": cmd.text, "unit": unit, "on_time": on_time}


def _review(engine, case, cmd: c.ReviewReply, actor, now, related):
    assert case.outcome.reply is not None  # REPLIED implies a reply
    case.outcome.reply.reviewed_at, case.outcome.reply.approved = now, cmd.approved
    case.outcome.reply.review_note = cmd.note
    return (APPROVED if cmd.approved else REFUSED), {"approved": cmd.approved}


def _follow_up(engine, case, cmd: c.FollowUpCmd, actor, now, related):
    case.outcome.follow_ups.append(FollowUp(at=now, by=actor.party, reached=cmd.reached, resolved=cmd.resolved, satisfaction=cmd.satisfaction, note=cmd.note))
    if not cmd.reached:
        label = UNREACHED
    elif cmd.resolved and cmd.satisfaction in (Satisfaction.SATISFIED, Satisfaction.BASICALLY_SATISFIED):
        label = SATISFIED
    else:
        label = UNSATISFIED
    return label, {"reached": cmd.reached, "resolved": cmd.resolved, "satisfaction": cmd.satisfaction.value if cmd.satisfaction else None}


def _redo(engine, case, cmd: c.Redo, actor, now, related):
    case.outcome.redo_count += 1
    case.outcome.reply = None
    previous = case.handling.lead_unit
    # Back to accepted: nobody handles it until it is dispatched again, and no time limit
    # runs. The earlier handling stays in the history (dispatch, reply, this redo's data).
    h = case.handling
    h.lead_unit, h.co_units, h.parts = None, [], []
    # The cascade stays as history: a township that had the case keeps seeing it.
    _end_cascade(case, now, "重办：工单退回市中心重新派发")
    h.dispatched_at = h.signed_at = h.sign_off_due = h.due_at = None
    case.flags.overdue = case.flags.warned = False
    return None, {"redo_count": case.outcome.redo_count, "previous_unit": previous}


def _plain(engine, case, cmd, actor, now, related):
    return None, {}


def _merge(engine, case, cmd: c.Merge, actor, now, related):
    if related is None or related.number != cmd.into:
        raise RuleViolation(f"case {cmd.into} to merge into was not found")
    if related.number == case.number:
        raise RuleViolation("a case cannot be merged into itself")
    if related.state in (CaseState.MERGED, CaseState.ARCHIVED, CaseState.REJECTED, CaseState.TRANSFERRED):
        raise RuleViolation(f"case {related.number} is {related.state.value} and cannot take merged cases")
    case.links.merged_into = related.number
    return None, {"into": related.number}


def _response_due(cmd: c.Supervise | c.Chase, now: datetime) -> str | None:
    if cmd.response_due is None:
        return None
    if cmd.response_due <= now:
        raise RuleViolation(f"response_due {cmd.response_due.isoformat()} is not in the future")
    return cmd.response_due.astimezone(UTC).isoformat()


def _supervise(engine, case, cmd: c.Supervise, actor, now, related):
    case.flags.supervised = True
    return None, {"reason": cmd.reason, "response_due": _response_due(cmd, now), "unit": case.handling.lead_unit}


def _chase(engine, case, cmd: c.Chase, actor, now, related):
    case.flags.chased += 1
    return None, {"chased": case.flags.chased, "reason": cmd.reason, "response_due": _response_due(cmd, now), "unit": case.handling.lead_unit}


def _clear_supervision(engine, case, cmd: c.ClearSupervision, actor, now, related):
    if not case.flags.supervised:
        raise RuleViolation(f"case {case.number} is not supervised: there is no supervision to clear")
    case.flags.supervised = False
    return None, {"reason": cmd.reason, "unit": case.handling.lead_unit, "chased": case.flags.chased}


def _request_unreasonable(engine, case, cmd: c.RequestUnreasonable, actor, now, related):
    if case.flags.unreasonable:
        raise RuleViolation("the request is already judged unreasonable (不合理诉求 approved)")
    if case.flags.unreasonable_requested:
        raise RuleViolation("a 不合理诉求 application is already pending a decision")
    case.flags.unreasonable_requested = True
    return None, {"reason": cmd.reason, "unit": case.handling.lead_unit}


def _decide_unreasonable(engine, case, cmd: c.DecideUnreasonable, actor, now, related):
    if not case.flags.unreasonable_requested:
        raise RuleViolation("there is no pending 不合理诉求 application to decide")
    case.flags.unreasonable_requested = False
    case.flags.unreasonable = cmd.approved
    return (APPROVED if cmd.approved else REFUSED), {"approved": cmd.approved, "unit": case.handling.lead_unit}


def _outcome_held(case: Case, grounds: c.AppealGrounds) -> bool:
    """Whether the case carries the outcome an appeal contests: an overdue mark or a reply
    after its deadline; a reached follow-up that was not pleased or not resolved."""
    if grounds is c.AppealGrounds.OVERDUE:
        reply, due = case.outcome.reply, case.handling.due_at
        return case.flags.overdue or (reply is not None and due is not None and reply.replied_at > due)
    return any(f.reached and (f.satisfaction is Satisfaction.UNSATISFIED or f.resolved is False) for f in case.outcome.follow_ups)


def _appeal_assessment(engine, case, cmd: c.AppealAssessment, actor, now, related):
    if case.flags.appealed:
        raise RuleViolation("a 考核申诉 is already pending a decision")
    unit = case.handling.lead_unit
    if unit is None:  # not reachable through the table (the appealable states have a lead unit)
        raise RuleViolation("the case has no lead unit to appeal for")
    # One appeal per grounds for each handling of the case (a redo and a new dispatch open a new one).
    opened = case.handling.dispatched_at
    if any(a.grounds == cmd.grounds.value and a.unit == unit and (opened is None or a.at >= opened) for a in case.flags.appeals):
        raise RuleViolation(f"the unit {unit} has already appealed on {cmd.grounds.value} for this handling")
    if not _outcome_held(case, cmd.grounds):
        what = "marked overdue or replied late" if cmd.grounds is c.AppealGrounds.OVERDUE else "followed up as unsatisfied or unresolved"
        raise RuleViolation(f"case {case.number} was not {what}: there is nothing to appeal")
    case.flags.appealed = True
    case.flags.appeals.append(Appeal(grounds=cmd.grounds.value, unit=unit, reason=cmd.reason, at=now))
    return None, {"grounds": cmd.grounds.value, "reason": cmd.reason, "unit": unit}


def _decide_appeal(engine, case, cmd: c.DecideAppeal, actor, now, related):
    pending = next((a for a in case.flags.appeals if a.upheld is None), None)
    if not case.flags.appealed or pending is None:
        raise RuleViolation("there is no pending 考核申诉 to decide")
    pending.upheld, pending.decided_at = cmd.upheld, now
    case.flags.appealed = False
    # The assessment reads grounds and unit from this line (supervision/assessment.py).
    return (APPROVED if cmd.upheld else REFUSED), {"upheld": cmd.upheld, "grounds": pending.grounds, "unit": pending.unit}


def _part_of(engine, case: Case, unit: str | None, actor, action: str) -> Part:
    """The co-unit's part an action is about, checked against who acts: a unit acts for its
    own part only; a county for a co-unit it owns (its division), naming it."""
    h = case.handling
    if actor.role is Role.UNIT:
        if unit is not None and unit != actor.unit_code:
            raise AccessDenied(f"unit: a unit may {action} only its own part, not {unit}'s")
        unit = actor.unit_code
    elif unit is None:
        raise RuleViolation(f"unit: name the co-unit whose part to {action}")
    if unit == h.lead_unit and actor.role is not Role.SUPERVISOR:
        raise RuleViolation(f"unit: {unit} is the lead unit: it signs off and replies the case itself (sign_off, reply)")
    if unit not in h.co_units:
        if actor.role is Role.SUPERVISOR:
            raise RuleViolation(f"unit: {unit} is not a co-unit of case {case.number}")
        raise AccessDenied(f"unit: {unit} is not a co-unit of case {case.number}")
    if actor.role is Role.COUNTY:
        division = getattr(engine.units.unit(unit, field="unit"), "division", None)
        if division is None or division[:6] not in actor.divisions:
            raise AccessDenied(f"unit: a county acts only for a co-unit it owns; {unit} is not one of this county's units")
    part = h.part(unit)
    if part is None:
        # Dispatched before parts were kept: the part runs on the case's own deadlines.
        part = Part(unit_code=unit, sign_off_due=h.sign_off_due, due_at=h.due_at)
        h.parts.append(part)
    return part


def _sign_off_part(engine, case, cmd: c.SignOffPart, actor, now, related):
    part = _part_of(engine, case, cmd.unit, actor, "sign off")
    if part.done or part.signed_at is not None:
        raise RuleViolation(f"the part of {part.unit_code} is already {part.state.value}")
    part.signed_at = now
    return None, {"unit": part.unit_code, "on_time": part.sign_off_due is None or now <= part.sign_off_due}


def _reply_part(engine, case, cmd: c.ReplyPart, actor, now, related):
    part = _part_of(engine, case, cmd.unit, actor, "reply")
    if part.done:
        raise RuleViolation(f"the part of {part.unit_code} is already {part.state.value}")
    if part.signed_at is None:
        raise RuleViolation(f"the part of {part.unit_code} is not signed off yet (sign_off_part first)")
    part.reply, part.replied_at = cmd.text, now
    return None, {"unit": part.unit_code, "text": cmd.text, "on_time": part.due_at is None or now <= part.due_at}


def _waive_part(engine, case, cmd: c.WaivePart, actor, now, related):
    part = _part_of(engine, case, cmd.unit, actor, "waive")
    if part.done:
        raise RuleViolation(f"the part of {part.unit_code} is already {part.state.value}")
    part.waived_at, part.waived_by, part.waive_reason = now, actor.party, cmd.reason
    return None, {"unit": part.unit_code, "reason": cmd.reason}


# -- 二次派单: down to the township and back up ---------------------------------------------------


def _forward(engine, case, cmd: c.Forward, actor, now, related):
    h = case.handling
    if h.signed_at is None:  # in_progress implies signed; kept for cases signed before signed_at was kept
        raise RuleViolation("the lead signs off before dispatching on")
    if h.open_forward is not None:
        raise RuleViolation(f"the case is already with the township unit {h.open_forward.unit_code}: it replies or returns it first")
    lead_division = getattr(engine.units.unit(h.lead_unit or "", field="handling.lead_unit"), "division", None) or ""
    division = getattr(engine.units.unit(cmd.unit, field="unit"), "division", None) or ""
    if len(lead_division) != 6 or len(division) != 9 or division[:6] != lead_division:
        raise RuleViolation(
            f"unit: {cmd.unit} (division {division or '?'}) is not a township unit of the lead "
            f"{h.lead_unit}'s county ({lead_division or '?'}); a county-level lead dispatches on "
            "to its own townships only"
        )
    due = cmd.due_at.astimezone(UTC)
    if h.due_at is not None and due > h.due_at:
        raise RuleViolation(f"due_at: the township's deadline must lie inside the case's own ({h.due_at.isoformat()})")
    if due <= now:
        raise RuleViolation("due_at: the township's deadline must be in the future")
    sign_off_due = min(count_basis(engine.calendar, now, engine.limits.sign_off_working_days)[0], due)
    h.cascade.append(Forward(unit_code=cmd.unit, by_unit=h.lead_unit or actor.party, at=now, sign_off_due=sign_off_due, due_at=due))
    return None, {"unit": cmd.unit, "by_unit": h.lead_unit, "sign_off_due": sign_off_due.isoformat(), "due_at": due.isoformat()}


def _held_forward(engine, case: Case, actor, action: str) -> Forward:
    """The open 二次派单 a township action is about; the township unit itself, or the county
    that owns it, acts."""
    forward = case.handling.open_forward
    if forward is None:
        raise RuleViolation(f"the case is not dispatched on to a township: there is nothing to {action}")
    if actor.role is Role.UNIT and actor.unit_code != forward.unit_code:
        raise AccessDenied(f"only the township unit {forward.unit_code} may {action}")
    if actor.role is Role.COUNTY:
        division = getattr(engine.units.unit(forward.unit_code, field="unit"), "division", None) or ""
        if division[:6] not in actor.divisions:
            raise AccessDenied(f"a county acts only for its own township units; {forward.unit_code} is not one")
    return forward


def _sign_off_forward(engine, case, cmd: c.SignOffForward, actor, now, related):
    forward = _held_forward(engine, case, actor, "sign off")
    if forward.signed_at is not None:
        raise RuleViolation(f"the township unit {forward.unit_code} has already signed off")
    forward.signed_at = now
    return None, {"unit": forward.unit_code, "on_time": now <= forward.sign_off_due}


def _reply_forward(engine, case, cmd: c.ReplyForward, actor, now, related):
    forward = _held_forward(engine, case, actor, "reply up")
    if forward.signed_at is None:
        raise RuleViolation(f"the township unit {forward.unit_code} has not signed off yet (sign_off_forward first)")
    forward.reply, forward.replied_at = cmd.text, now
    return None, {"unit": forward.unit_code, "to_unit": forward.by_unit, "text": cmd.text, "on_time": now <= forward.due_at}


def _return_forward(engine, case, cmd: c.ReturnForward, actor, now, related):
    forward = _held_forward(engine, case, actor, "give back")
    forward.returned_at, forward.return_reason = now, cmd.reason
    return None, {"unit": forward.unit_code, "to_unit": forward.by_unit, "reason": cmd.reason}


def _request_forward_extension(engine, case, cmd: c.RequestForwardExtension, actor, now, related):
    forward = _held_forward(engine, case, actor, "ask for an extension")
    if any(e.approved is None for e in forward.extensions):
        raise RuleViolation("an extension request of the township is already pending its county's decision")
    forward.extensions.append(ExtensionRecord(requested_at=now, requested_by=actor.party, working_days=cmd.working_days, reason=cmd.reason))
    return None, {"unit": forward.unit_code, "to_unit": forward.by_unit, "working_days": cmd.working_days, "reason": cmd.reason}


def _decide_forward_extension(engine, case, cmd: c.DecideForwardExtension, actor, now, related):
    forward = case.handling.open_forward
    record = next((e for e in forward.extensions if e.approved is None), None) if forward else None
    if forward is None or record is None:
        raise RuleViolation("there is no pending extension request of a township to decide")
    if cmd.working_days and cmd.working_days > record.working_days:
        raise RuleViolation(f"working_days: cannot grant more than the {record.working_days} working days asked")
    granted = cmd.working_days or record.working_days
    data: dict[str, Any] = {"unit": forward.unit_code, "approved": cmd.approved}
    if cmd.approved:
        due = extend_deadline(engine.calendar, forward.due_at, granted)
        case_due = case.handling.due_at
        if case_due is not None and due > case_due:
            raise RuleViolation(
                f"working_days: {granted} working days take the township past the case's own deadline "
                f"({case_due.isoformat()}); ask the centre for the case's extension first (request_extension)"
            )
        forward.due_at, record.granted_working_days = due, granted
        data.update(working_days=granted, due_at=due.isoformat())
    record.decided_at, record.decided_by, record.approved, record.note = now, actor.party, cmd.approved, cmd.note
    return None, data


def _running_deadline(case: Case, which: c.Deadline) -> tuple[datetime, datetime]:
    """(start, due) of the time limit a warning or overdue mark is about."""
    h = case.handling
    if which is c.Deadline.SIGN_OFF and h.signed_at is not None:
        raise RuleViolation("the case is signed off: its sign-off time limit no longer runs")
    due = h.sign_off_due if which is c.Deadline.SIGN_OFF else h.due_at
    if due is None or h.dispatched_at is None:
        raise RuleViolation(f"the case has no {which.value} deadline: it was never dispatched")
    return h.dispatched_at, due


def _already_marked(case: Case, action: str, which: c.Deadline, due: datetime) -> bool:
    # Keyed by the deadline itself: a re-dispatch or an approved extension sets a new one,
    # which may be warned and marked again; the same one never twice.
    for entry in case.history:
        if entry.action == action and entry.data.get("deadline") == which.value:
            recorded = entry.data.get("due_at")
            if recorded and datetime.fromisoformat(recorded) == due:
                return True
    return False


def _warn(engine, case, cmd: c.Warn, actor, now, related):
    start, due = _running_deadline(case, cmd.deadline)
    at = warning_at(start, due, engine.limits.warning_share)
    if now < at:
        raise RuleViolation(f"too early to warn: the {cmd.deadline.value} warning falls at {at.isoformat()}")
    if now > due:
        raise RuleViolation(f"the {cmd.deadline.value} deadline {due.isoformat()} has passed: mark it overdue instead")
    if _already_marked(case, "warn", cmd.deadline, due):
        raise RuleViolation(f"already warned for the {cmd.deadline.value} deadline {due.isoformat()}")
    # The flags describe the completion limit; a sign-off warning is history and an event only.
    if cmd.deadline is c.Deadline.COMPLETION:
        case.flags.warned = True
    return None, {"deadline": cmd.deadline.value, "due_at": due.isoformat(), "unit": case.handling.lead_unit}


def _mark_overdue(engine, case, cmd: c.MarkOverdue, actor, now, related):
    _, due = _running_deadline(case, cmd.deadline)
    if now <= due:
        raise RuleViolation(f"not overdue: the {cmd.deadline.value} deadline is {due.isoformat()}")
    if _already_marked(case, "mark_overdue", cmd.deadline, due):
        raise RuleViolation(f"already marked overdue for the {cmd.deadline.value} deadline {due.isoformat()}")
    if cmd.deadline is c.Deadline.COMPLETION:
        case.flags.overdue = True
    return None, {"deadline": cmd.deadline.value, "due_at": due.isoformat(), "unit": case.handling.lead_unit}


def _shown(value: Any) -> Any:
    """A field's value as the history and the event record it (JSON-ready)."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True)
    return value.value if hasattr(value, "value") else value


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _correct(engine, case, cmd: c.Correct, actor, now, related):
    """改单: the old and new value of every field that changes; deadlines recounted when the
    type or urgency changes while a unit's time limit runs."""
    if case.state not in BEFORE_DISPATCH and not cmd.reason:
        raise RuleViolation(f"reason: a correction of a dispatched case (state '{case.state.value}') needs a reason")
    changes: dict[str, Any] = {}
    for field in c.CORRECTABLE:
        new_value = getattr(cmd, field)
        if new_value is None:
            continue
        old_value = getattr(case, field)
        if _shown(old_value) == _shown(new_value):
            continue
        changes[field] = {"from": _shown(old_value), "to": _shown(new_value)}
        setattr(case, field, new_value.model_copy() if hasattr(new_value, "model_copy") else new_value)
    if not changes:
        raise RuleViolation("nothing to correct: every field given already has that value")
    data: dict[str, Any] = {"reason": cmd.reason, "changes": changes}
    h = case.handling
    if ({"request_type", "urgency"} & changes.keys()) and case.state in RUNNING_STATES and h.dispatched_at is not None:
        # Counted again from the moment the unit received the case, as if it had been
        # registered right; approved extensions are added on top, as they were granted.
        old = {"sign_off_due": _iso(h.sign_off_due), "due_at": _iso(h.due_at)}
        d = compute_deadlines(engine.calendar, engine.limits, case.request_type, case.urgency, h.dispatched_at)
        h.sign_off_due, h.due_at = d.sign_off_due, d.due_at
        h.sign_off_basis, h.due_basis = d.sign_off_basis, d.due_basis
        for ext in h.extensions:
            if ext.approved and ext.granted_working_days:
                h.due_at, h.due_basis = extend_basis(engine.calendar, h.due_at, h.due_basis, ext.granted_working_days)
        # The parts still open are counted again from the same dispatch as well.
        pd = part_deadlines(engine.calendar, engine.limits, case.request_type, case.urgency, h.dispatched_at)
        for part in h.parts:
            if not part.done:
                part.sign_off_due, part.due_at = pd.sign_off_due, pd.due_at
                part.sign_off_basis, part.due_basis = pd.sign_off_basis, pd.due_basis
        # As after an extension: the new deadlines are warned and marked overdue afresh.
        case.flags.overdue = case.flags.warned = False
        data["deadlines"] = {"from": old, "to": {"sign_off_due": _iso(h.sign_off_due), "due_at": _iso(h.due_at)}}
        data["due_at"] = _iso(h.due_at)
        if any(b is not None and b.provisional for b in (h.sign_off_basis, h.due_basis)):
            data["provisional"] = True
    data["unit"] = h.lead_unit
    return None, data


_EFFECTS: dict[Action, Effect] = {
    Action.ACCEPT: _accept,
    Action.ANSWER_DIRECTLY: _answer,
    Action.REJECT: _reject,
    Action.TRANSFER_EMERGENCY: _transfer,
    Action.DISPATCH: _dispatch,
    Action.REDISPATCH: _dispatch,
    Action.SIGN_OFF: _sign_off,
    Action.REQUEST_RETURN: _request_return,
    Action.DECIDE_RETURN: _decide_return,
    Action.REQUEST_EXTENSION: _request_extension,
    Action.DECIDE_EXTENSION: _decide_extension,
    Action.REPORT_PROGRESS: _progress,
    Action.REPLY: _reply,
    Action.REVIEW_REPLY: _review,
    Action.FOLLOW_UP: _follow_up,
    Action.REDO: _redo,
    Action.CLOSE: _plain,
    Action.ARCHIVE: _plain,
    Action.MERGE: _merge,
    Action.SUPERVISE: _supervise,
    Action.CHASE: _chase,
    Action.WARN: _warn,
    Action.MARK_OVERDUE: _mark_overdue,
    Action.CORRECT: _correct,
    Action.CLEAR_SUPERVISION: _clear_supervision,
    Action.REQUEST_UNREASONABLE: _request_unreasonable,
    Action.DECIDE_UNREASONABLE: _decide_unreasonable,
    Action.APPEAL_ASSESSMENT: _appeal_assessment,
    Action.DECIDE_APPEAL: _decide_appeal,
    Action.SIGN_OFF_PART: _sign_off_part,
    Action.REPLY_PART: _reply_part,
    Action.WAIVE_PART: _waive_part,
    Action.FORWARD: _forward,
    Action.SIGN_OFF_FORWARD: _sign_off_forward,
    Action.REPLY_FORWARD: _reply_forward,
    Action.RETURN_FORWARD: _return_forward,
    Action.REQUEST_FORWARD_EXTENSION: _request_forward_extension,
    Action.DECIDE_FORWARD_EXTENSION: _decide_forward_extension,
}
