"""The citizen's SMS: templates from mappings/channels/sms_templates.yaml, and the sink that,
inside the case transaction, issues each new case's retrieval code and queues the SMS the
settings ask for (channels.sms_events) to the `sms` destination of the outbox.

The message in the outbox carries the template's name and a sealed token (adapters/sms/seal.py)
holding the phone and the filled text; nothing else of the case. The code is in clear only in
this transaction's memory and, once, in the intake answer to the channel that registered the case.
"""

from __future__ import annotations

import re
import secrets
import string
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal, Protocol, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from adapters.sms.seal import seal
from channels.codes import Codes
from hub.db.models import EventRow
from hub.db.repository import CaseRepository
from hub.domain.access import registrant
from hub.domain.clock import Clock
from hub.domain.model import Case, Role
from hub.mappings.loader import load_yaml_model
from hub.settings import ChannelSettings, Settings
from outbox.store import OutboxWriter

SmsEvent = Literal["registered", "reply_approved", "follow_up_invitation", "closed", "code_reissued"]
PLACEHOLDERS: dict[str, set[str]] = {
    "registered": {"number", "code"},
    "reply_approved": {"number", "reply"},
    "follow_up_invitation": {"number", "days"},
    "closed": {"number"},
    "code_reissued": {"number", "code"},  # always sent when a code is reissued: not in channels.sms_events
}
MAX_CHARS = 200
REPLY_CHARS = 120  # an approved reply is cut to this in the SMS; the full text is in the lookup
TEMPLATES_FILE = Path("channels") / "sms_templates.yaml"

# Set by the channel intake route around its register call: the sink puts each code it issues
# here, so the route can return it once. Elsewhere (an agent's intake) nobody listens.
ISSUED: ContextVar[dict[str, str] | None] = ContextVar("channels_issued_codes", default=None)

_MOBILE = re.compile(r"^(?:\+?86[- ]?)?(1[3-9]\d{9})$")

# Whose citizens hear from 12345 by SMS: those who came to 12345 itself (its agents on the
# phone, its channels). A case the province assigned, a county pushed or a 双号并行 line handed
# over has a citizen who called that system, which keeps them informed; they get a code (the
# lookup works) but no SMS from the city.
SMS_REGISTRANTS = (Role.AGENT, Role.SUPERVISOR, Role.CHANNEL)


class Template(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: SmsEvent
    text: str = Field(min_length=1, max_length=MAX_CHARS)

    @model_validator(mode="after")
    def _known_placeholders(self) -> Template:
        known_placeholders(self.text, PLACEHOLDERS[self.event], self.event)
        return self


# -- what the SMS and the WeChat push templates files check alike --------------------------------
def known_placeholders(text: str, given: set[str], event: str, where: str = "") -> None:
    """Every `{name}` in a template's text is one its event gives."""
    used = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    unknown = used - given
    if unknown:
        raise ValueError(f"{where}unknown placeholder(s) {sorted(unknown)} for {event}; it gives {sorted(given)}")


class _ForEvent(Protocol):
    @property
    def event(self) -> str: ...


_T = TypeVar("_T", bound=_ForEvent)


def one_per_event(required: dict[str, set[str]]) -> AfterValidator:
    """A templates list's validator: it names each event it must fill exactly once."""

    def check(templates: list[_T]) -> list[_T]:
        events = [t.event for t in templates]
        missing = set(required) - set(events)
        if missing:
            raise ValueError(f"no template for {sorted(missing)}")
        if len(set(events)) != len(events):
            raise ValueError("one template per event")
        return templates

    return AfterValidator(check)


class Templates(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sign: str = Field(min_length=1, max_length=20, description="The gateway's signature, e.g. 【资阳12345】.")
    templates: Annotated[list[Template], one_per_event(PLACEHOLDERS)]

    def text(self, event: str, **values: str) -> str:
        template = next(t for t in self.templates if t.event == event)
        return self.sign + template.text.format(**values)


def load_templates(mappings_dir: Path) -> Templates:
    """Raises MappingError (file, line, reason) for a bad file: the hub does not start with one."""
    return load_yaml_model(mappings_dir / TEMPLATES_FILE, Templates, entry_key="event")


def sealed_destination(settings: Settings, name: str | None) -> tuple[str | None, str]:
    """The destination a citizen's SMS or push goes to and the key it is sealed under, or
    (None, "") when none is named, it is disabled, or it has no seal_key: then none is sent."""
    destination = settings.destinations.get(name) if name else None
    key = destination.settings.get("seal_key") if destination is not None and destination.enabled else None
    return (name, str(key)) if key else (None, "")


def mobile(phone: str | None) -> str | None:
    """The number an SMS can reach (a mobile), or None: a landline gets no SMS."""
    if not phone:
        return None
    m = _MOBILE.match(phone)
    return m.group(1) if m else None


class CodesAndSms:
    """The sink: a code for every registered case; the SMS the settings ask for."""

    def __init__(self, codes: Codes, templates: Templates, settings: Settings, clock: Clock, writer: OutboxWriter) -> None:
        self.codes = codes
        self.writer = writer  # the hub's: an SMS written here rings this hub's relays after the commit
        self.templates = templates
        self.config: ChannelSettings = settings.channels
        self.clock = clock
        self.destination, self.seal_key = sealed_destination(settings, self.config.sms_destination)

    def __call__(self, session: Session, changed: Case, events: list[EventRow]) -> None:
        now = self.clock.now()
        queued: set[tuple[str, str]] = set()  # closing records both case.followed_up and case.closed: one SMS
        for ev in events:
            sends = [e for e in self._sends(ev) if (ev.case_number, e) not in queued]
            queued.update((ev.case_number, e) for e in sends)
            if ev.type != "case.registered" and not sends:
                continue
            same = ev.case_number == changed.number and changed.history  # the registrant is its first line
            case = changed if same else CaseRepository(session).get(ev.case_number)
            values = {"number": case.number}
            if ev.type == "case.registered":
                values["code"] = self.codes.issue_new(session, case.number, now)  # a new case: no code yet
                issued = ISSUED.get()
                if issued is not None:
                    issued[case.number] = values["code"]
            to = mobile(case.person.phone)
            who = registrant(case)
            if self.destination is None or to is None or case.person.anonymous or who is None or who[1] not in SMS_REGISTRANTS:
                continue
            for event in sends:
                if event == "reply_approved":
                    reply = case.outcome.direct_answer or (case.outcome.reply.text if case.outcome.reply else "")
                    values["reply"] = reply if len(reply) <= REPLY_CHARS else reply[:REPLY_CHARS] + "…（详见查询）"
                if event == "follow_up_invitation":
                    values["days"] = str(self.config.evaluation_days)
                text = self.templates.text(event, **{k: values[k] for k in PLACEHOLDERS[event]})
                self.writer.write_message(
                    session,
                    destination=self.destination,
                    ordering_key=case.number,
                    event_type=f"sms.{event}",
                    event={"template": event, "sealed": seal(self.seal_key, to, text)},
                    case=None,
                    case_number=case.number,
                    idempotency_key=f"{self.destination}:{ev.id}:{event}",
                    now=now,
                )

    def can_send(self, case: Case) -> str | None:
        """The mobile an SMS about this case goes to, or None (no destination, no mobile,
        anonymous, or a citizen who came to another system: see SMS_REGISTRANTS)."""
        to = mobile(case.person.phone)
        who = registrant(case)
        if self.destination is None or to is None or case.person.anonymous or who is None or who[1] not in SMS_REGISTRANTS:
            return None
        return to

    def reissue(self, session: Session, case: Case, now: datetime) -> bool:
        """A new code for the case, sent by SMS, in the caller's transaction; the old code no
        longer opens the case. Nothing changes where no SMS can go (a new code nobody receives
        would only take the old one away)."""
        to = self.can_send(case)
        if to is None or self.destination is None:
            return False
        code = self.codes.issue(session, case.number, now)
        text = self.templates.text("code_reissued", number=case.number, code=code)
        self.writer.write_message(
            session,
            destination=self.destination,
            ordering_key=case.number,
            event_type="sms.code_reissued",
            event={"template": "code_reissued", "sealed": seal(self.seal_key, to, text)},
            case=None,
            case_number=case.number,
            idempotency_key=f"{self.destination}:reissue:{case.number}:{secrets.token_hex(8)}",
            now=now,
        )
        return True

    def _sends(self, ev: EventRow) -> list[str]:
        wanted = self.config.sms_events
        payload = ev.payload or {}
        out: list[str] = []
        if ev.type == "case.registered":
            out = ["registered"]
        elif (ev.type == "case.reply_reviewed" and (payload.get("data") or {}).get("approved")) or ev.type == "case.answered":
            out = ["reply_approved", "follow_up_invitation"]
        elif ev.type in ("case.followed_up", "case.closed") and payload.get("state") == "closed":
            out = ["closed"]
        return [e for e in out if wanted.get(e)]  # type: ignore[call-overload]
