"""What the channel routes and the public routes do: channel intake (rate-limited, the same
CaseDraft path as every intake), the citizen view of a channel's own case, the lookup with a
retrieval code, and the citizen's evaluation recorded as the follow-up (回访)."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from hub.api.attachments import public_out
from hub.db.repository import CaseRepository
from hub.domain import commands as c
from hub.domain.access import Actor, registrant
from hub.domain.errors import CaseNotFound, RuleViolation
from hub.domain.model import Case, CaseDraft, CaseState, Role, Satisfaction

from channels.citizen import CitizenView, citizen_view, evaluation_until
from channels.codes import Codes, Locked
from channels.sms import ISSUED

if TYPE_CHECKING:
    from hub.container import Hub


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many cases from this channel key; retry after {retry_after} s")
        self.retry_after = retry_after


class NoSuchCaseOrCode(CaseNotFound):
    """One answer for an unknown number and a wrong code, so the answer never tells which."""

    def __init__(self) -> None:
        Exception.__init__(self, "no case with this number and retrieval code")
        self.number = ""


class RateWindow:
    """At most `per_minute` events per key in any 60 seconds (per process)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        now = time.monotonic()
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            while seen and seen[0] <= now - 60:
                seen.popleft()
            if len(seen) >= self.per_minute:
                raise RateLimited(max(1, int(seen[0] + 60 - now + 0.999)))
            seen.append(now)


@dataclass(frozen=True)
class Intake:
    view: CitizenView
    code: str | None
    created: bool


# Who rated: the channel's party, or the public route; the follow-up line says so.
Source = Literal["channel", "public"]


class ChannelService:
    def __init__(self, hub: "Hub", codes: Codes) -> None:
        self.hub = hub
        self.codes = codes
        self.config = hub.settings.channels
        self.intake_window = RateWindow(self.config.intake_per_minute)

    def view_of(self, case: Case) -> CitizenView:
        public = [public_out(a) for a in self.hub.attachments.list_public(case.number)]
        return citizen_view(case, self.hub.clock.now(), self.config.evaluation_days, public)

    # -- the channel key ----------------------------------------------------------------------
    def register(self, draft: CaseDraft, actor: Actor, idempotency_key: str | None) -> Intake:
        self.intake_window.take(actor.party)
        issued: dict[str, str] = {}
        token = ISSUED.set(issued)
        try:
            result = self.hub.cases.register(draft, actor, idempotency_key)
        finally:
            ISSUED.reset(token)
        # A replay (same Idempotency-Key) gets no code: it was given once, and sent by SMS.
        return Intake(self.view_of(result.case), issued.get(result.case.number), result.created)

    def own_case(self, number: str, actor: Actor) -> Case:
        """A channel's own case; any other (or none) is 404 alike: a channel is not told
        which numbers exist beyond those it registered."""
        with self.hub.db.read() as s:
            try:
                case = CaseRepository(s).get(number)
            except CaseNotFound:
                raise CaseNotFound(number) from None
        if registrant(case) != (actor.party, Role.CHANNEL):
            raise CaseNotFound(number)
        return case

    # -- the retrieval code -----------------------------------------------------------------------
    def check_code(self, number: str, code: str, client: str) -> Case:
        """The case, if the code is right; NoSuchCaseOrCode otherwise; Locked after too many."""
        now = self.hub.clock.now()
        with self.hub.db.write() as s:
            right = self.codes.check(s, number, code, client, now)
        if not right:
            raise NoSuchCaseOrCode()
        with self.hub.db.read() as s:
            try:
                return CaseRepository(s).get(number)
            except CaseNotFound:
                raise NoSuchCaseOrCode() from None

    # -- the citizen's evaluation -------------------------------------------------------------------
    def evaluate(self, case: Case, satisfaction: Satisfaction, resolved: bool | None, comment: str | None,
                 who: str) -> Case:
        """Recorded as the follow-up (回访), by the hub on the citizen's word: the history line's
        actor is `citizen@<who>` (the channel's party, or `public`) so the source stays known, and
        the assessment reads it as any reached follow-up."""
        if case.state is not CaseState.AWAITING_FOLLOW_UP:
            raise RuleViolation(f"case {case.number} cannot be rated now: it is not waiting for a follow-up "
                                "(the reply is not approved yet, or the case was already followed up)")
        until = evaluation_until(case, self.config.evaluation_days)
        if until is None or self.hub.clock.now() > until:
            raise RuleViolation(f"the time to rate case {case.number} ended {until.isoformat() if until else ''}".strip())
        if resolved is None:  # not asked: a pleased citizen counts the matter as resolved
            resolved = satisfaction is not Satisfaction.UNSATISFIED
        command = c.FollowUpCmd(reached=True, resolved=resolved, satisfaction=satisfaction, note=comment)
        actor = Actor(party=f"citizen@{who}"[:64], role=Role.SYSTEM)
        return self.hub.cases.act(case.number, command, actor, case.version)
