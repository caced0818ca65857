"""The scheduler: 预警 before a time limit ends, 超期 after it, 督办 on overdue cases and on
cases redone too often; and it closes a case whose person 回访 could not reach, after the
configured attempts or days.

Every change goes through `hub.cases.act` as the SYSTEM actor, so it is a row of the
lifecycle table, lands in the case history and raises an event the outbox delivers to the
unit's system. Nothing here writes a case table.

Exactly once, even with several schedulers:
- a database lease keeps one scheduler active across processes;
- each act names the case version the scheduler read; a concurrent change (another
  scheduler whose lease lapsed mid-run, a unit signing off) makes it StaleCase, and the
  case is simply looked at again on the next run;
- the engine itself refuses a second warning or overdue mark for the same deadline, and
  the scheduler supervises only a case that is not supervised yet.

Provisional deadlines (counted Mon-Fri past the known calendar) are counted again here
once the calendar knows their days: `calendar import` recounts every case it sees in its
own transaction; a case dispatched meanwhile by a process with an older cached calendar
is caught by the next run. Each run also warns (log, once a day) while next year is missing.

Redo escalation lives here, not in the redo transition: a transition is one action with
one event, and the escalation needs a setting the engine does not have. The redone case
goes back to dispatch (受理) where no unit holds it; it is supervised by the next run after
it is dispatched again, which is when there is a unit to supervise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from hub.calendar_import import recount_case
from hub.domain import commands as c
from hub.domain.access import SYSTEM_ACTOR
from hub.domain.clock import LOCAL_TZ
from hub.domain.deadlines import warning_at
from hub.domain.errors import ActionNotAllowed, RuleViolation, StaleCase
from hub.domain.lifecycle import RUNNING_STATES
from hub.domain.model import Case, CaseState, FollowUp
from hub.leases import Lease, LeasedWorker
from supervision.calendar_watch import CalendarWatch
from supervision.queries import Markers, cases_in_state, running_cases

if TYPE_CHECKING:
    from hub.container import Hub

log = logging.getLogger("hub.scheduler")

LEASE_NAME = "scheduler"


@dataclass
class RunResult:
    leased: bool = True
    warned: list[str] = field(default_factory=list)  # "number:deadline"
    overdue: list[str] = field(default_factory=list)
    supervised: list[str] = field(default_factory=list)
    recounted: list[str] = field(default_factory=list)  # provisional deadlines counted again
    closed: list[str] = field(default_factory=list)  # awaiting follow-up, person not reached
    skipped: list[str] = field(default_factory=list)  # "number: why", looked at again next run

    @property
    def changes(self) -> int:
        return len(self.warned) + len(self.overdue) + len(self.supervised) + len(self.recounted) + len(self.closed)


class Scheduler(LeasedWorker):
    name = "scheduler"

    def __init__(self, hub: Hub, holder: str | None = None) -> None:
        self.hub = hub
        self.cfg = hub.settings.supervision
        self.lease = Lease(hub.db, hub.clock, LEASE_NAME, timedelta(seconds=self.cfg.lease_ttl_seconds), holder)
        self.calendar_watch = CalendarWatch(hub)
        super().__init__()

    # -- one run -----------------------------------------------------------------------
    def run_once(self) -> RunResult:
        """One sweep if this process holds the scheduler lease; otherwise nothing."""
        if not self.lease.acquire():
            return RunResult(leased=False)
        return self.lease.run_pass(self.sweep)

    def sweep(self) -> RunResult:
        """Warn, mark overdue and supervise every case that is due for it, now."""
        result = RunResult()
        now = self.hub.clock.now()
        self.calendar_watch.check()
        for cases, markers in running_cases(self.hub.db):
            for case in cases:
                self._case(case, markers, now, result)
        for cases in cases_in_state(self.hub.db, CaseState.AWAITING_FOLLOW_UP.value):
            for case in cases:
                reason = self._unreached_reason(case, now)
                if reason is not None:
                    self._act(case, c.Close(note=reason), result, result.closed)
        if result.changes:
            log.info(
                "scheduler: %d warned, %d overdue, %d supervised, %d recounted, %d closed unreached, %d skipped",
                len(result.warned),
                len(result.overdue),
                len(result.supervised),
                len(result.recounted),
                len(result.closed),
                len(result.skipped),
            )
        return result

    def _case(self, case: Case, markers: Markers, now: datetime, result: RunResult) -> None:
        if any(b is not None and b.provisional for b in (case.handling.sign_off_basis, case.handling.due_basis)):
            # Before the deadlines are looked at: a warning must be about the counted deadline.
            try:
                recounted = recount_case(self.hub.cases, case, SYSTEM_ACTOR)
            except StaleCase as exc:
                result.skipped.append(f"{case.number}: {exc}")
                return
            if recounted is not None:
                result.recounted.append(case.number)
                case = recounted
        h = case.handling
        limits: list[tuple[c.Deadline, datetime]] = []
        if case.state in RUNNING_STATES and h.dispatched_at is not None:
            if h.signed_at is None and h.sign_off_due is not None:
                limits.append((c.Deadline.SIGN_OFF, h.sign_off_due))
            if h.due_at is not None:
                limits.append((c.Deadline.COMPLETION, h.due_at))
        for which, due in limits:
            assert h.dispatched_at is not None  # checked above
            if now > due:
                if markers.has(case.number, "mark_overdue", which, due):
                    continue
                updated = self._act(case, c.MarkOverdue(deadline=which), result, result.overdue, which.value)
            elif now >= warning_at(h.dispatched_at, due, self.hub.settings.time_limits.warning_share):
                if markers.has(case.number, "warn", which, due):
                    continue
                updated = self._act(case, c.Warn(deadline=which), result, result.warned, which.value)
            else:
                continue
            if updated is None:
                return
            case = updated
        reason = None if case.number in markers.cleared else self._supervision_reason(case)
        if reason is not None:
            # Past the known calendar the response due is provisional (Mon-Fri), like deadlines.
            response_due = self.hub.calendars.calendar().add_working_days(now, self.cfg.response_working_days)
            self._act(case, c.Supervise(reason=reason, response_due=response_due), result, result.supervised)

    def _unreached_reason(self, case: Case, now: datetime) -> str | None:
        """Why an awaiting case is closed unreached now, or None. Counts the follow-ups at the
        end of its list that did not reach the person: a reached one (before a redo) resets it."""
        unreached: list[FollowUp] = []
        for f in reversed(case.outcome.follow_ups):
            if f.reached:
                break
            unreached.append(f)
        if not unreached:
            return None
        attempts, days = self.cfg.close_unreached_after_attempts, self.cfg.close_unreached_after_days
        if len(unreached) >= attempts:
            return f"回访 {len(unreached)} 次未联系上诉求人, 自动办结 (not reached in {len(unreached)} attempts)"
        first = unreached[-1].at
        if days is not None and now >= first + timedelta(days=days):
            return f"首次回访未联系上已满 {days} 天, 自动办结 (not reached since {first.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}, {days} days)"
        return None

    def _supervision_reason(self, case: Case) -> str | None:
        if case.state not in RUNNING_STATES or case.flags.supervised:
            return None
        if self.cfg.supervise_overdue and case.flags.overdue and case.handling.due_at is not None:
            due = case.handling.due_at.astimezone(LOCAL_TZ)
            return f"超期自动督办: 办结时限 {due:%Y-%m-%d %H:%M} 已过 (overdue since {due.isoformat()})"
        limit = self.cfg.max_redos_before_supervision
        if case.outcome.redo_count > limit:
            return f"重办 {case.outcome.redo_count} 次, 超过 {limit} 次, 自动督办 (redone more than {limit} times)"
        return None

    def _act(self, case: Case, command: c.Command, result: RunResult, done: list[str], detail: str = "") -> Case | None:
        """The case after the command, or None if it changed under us (looked at next run)."""
        try:
            updated = self.hub.cases.act(case.number, command, SYSTEM_ACTOR, expected_version=case.version)
        except (StaleCase, ActionNotAllowed, RuleViolation) as exc:
            result.skipped.append(f"{case.number}: {exc}")
            return None
        done.append(f"{case.number}:{detail}" if detail else case.number)
        return updated

    # -- the worker --------------------------------------------------------------------
    def seconds_between_rounds(self) -> float:
        return self.cfg.scheduler_interval_seconds

    def round(self) -> None:
        try:
            self.run_once()
        except Exception:  # the loop must outlive a database hiccup; the trace is logged
            log.exception("scheduler run failed; retrying after the interval")
