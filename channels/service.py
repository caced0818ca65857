"""What the channel routes and the public routes do: channel intake (rate-limited, the same
CaseDraft path as every intake), the citizen view of a channel's own case, the lookup with a
retrieval code, and the citizen's evaluation recorded as the follow-up (回访)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from channels.citizen import CitizenView, citizen_view, evaluation_until
from channels.codes import Codes
from channels.rates import SharedRateWindow
from channels.sms import ISSUED, CodesAndSms
from hub.api.attachments import public_out
from hub.db.repository import CaseRepository
from hub.domain import commands as c
from hub.domain.access import Actor, mask_phone, registrant
from hub.domain.errors import CaseNotFound, RuleViolation
from hub.domain.model import Case, CaseDraft, CaseState, Role, Satisfaction, normalise_phone

if TYPE_CHECKING:
    from hub.container import Hub


class NoSuchCaseOrCode(CaseNotFound):
    """One answer for an unknown number and a wrong code, so the answer never tells which."""

    def __init__(self) -> None:
        Exception.__init__(self, "no case with this number and retrieval code")
        self.number = ""


@dataclass(frozen=True)
class Intake:
    view: CitizenView
    code: str | None
    created: bool


# Who rated: the channel's party, or the public route; the follow-up line says so.
Source = Literal["channel", "public"]


class ChannelService:
    def __init__(self, hub: Hub, codes: Codes, sms: CodesAndSms | None = None) -> None:
        self.hub = hub
        self.codes = codes
        self.sms = sms
        self.config = hub.settings.channels
        # Shared by every hub process through the database (channels/rates.py).
        self.intake_window = SharedRateWindow(hub.db, hub.clock, "intake", self.config.intake_per_minute)

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

    # -- a lost code, sent again -----------------------------------------------------------------
    def reissue_for_citizen(self, number: str, phone: str, client: str) -> None:
        """A new code by SMS if `phone` is the case's; nothing otherwise, and the same return
        either way (no oracle: the caller learns nothing about the number or the phone). Every
        request counts toward the lockouts (Codes.attempt); Locked while locked out."""
        now = self.hub.clock.now()
        with self.hub.db.write() as s:
            self.codes.attempt(s, number, client, now)
            repo = CaseRepository(s)
            try:
                case = repo.get(number)
            except CaseNotFound:
                return
            try:
                given = normalise_phone(phone)
            except ValueError:
                return
            if case.person.phone is None or given != case.person.phone or self.sms is None:
                return
            if self.sms.reissue(s, case, now):
                repo.note(
                    number, at=now, actor="citizen@public", role=Role.SYSTEM, action="reissue_code", note="提取码已重新生成并以短信发送", data={"by": "citizen"}
                )

    def reissue_for_centre(self, number: str, actor: Actor) -> str:
        """The centre reissues a case's code for the citizen (on the phone, say): sent by SMS,
        never shown to the agent. Returns the masked mobile it goes to; RuleViolation where no
        SMS can go (the old code then stays valid)."""
        now = self.hub.clock.now()
        with self.hub.db.write() as s:
            repo = CaseRepository(s)
            case = repo.get(number)
            to = self.sms.can_send(case) if self.sms is not None else None
            if to is None or self.sms is None or not self.sms.reissue(s, case, now):
                raise RuleViolation(
                    f"no SMS can carry a new code for case {number}: no mobile on the case, an anonymous or "
                    "another system's citizen, or no SMS destination configured; the old code stays valid"
                )
            repo.note(number, at=now, actor=actor.party, role=actor.role, action="reissue_code", note="提取码已重新生成并以短信发送", data={"by": "centre"})
            return mask_phone(to) or ""

    # -- the citizen's evaluation -------------------------------------------------------------------
    def evaluate(self, case: Case, satisfaction: Satisfaction, resolved: bool | None, comment: str | None, who: str) -> Case:
        """Recorded as the follow-up (回访), by the hub on the citizen's word: the history line's
        actor is `citizen@<who>` (the channel's party, or `public`) so the source stays known, and
        the assessment reads it as any reached follow-up."""
        if case.state is not CaseState.AWAITING_FOLLOW_UP:
            raise RuleViolation(
                f"case {case.number} cannot be rated now: it is not waiting for a follow-up "
                "(the reply is not approved yet, or the case was already followed up)"
            )
        until = evaluation_until(case, self.config.evaluation_days)
        if until is None or self.hub.clock.now() > until:
            raise RuleViolation(f"the time to rate case {case.number} ended {until.isoformat() if until else ''}".strip())
        if resolved is None:  # not asked: a pleased citizen counts the matter as resolved
            resolved = satisfaction is not Satisfaction.UNSATISFIED
        command = c.FollowUpCmd(reached=True, resolved=resolved, satisfaction=satisfaction, note=comment)
        actor = Actor(party=f"citizen@{who}"[:64], role=Role.SYSTEM)
        return self.hub.cases.act(case.number, command, actor, case.version)
