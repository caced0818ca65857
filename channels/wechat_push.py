"""Progress pushed to a WeChat follower: the sink that, inside the case transaction, queues a
template message (模板消息) to the `wechat` destination of the outbox when a case they filed on
the official account is answered, invited to rating or closed (channels.wechat.push_events).

As with the SMS, the outbox message holds the template's name and a sealed token
(adapters/sms/seal.py, under the destination's seal_key) with the openid and the filled
template: the follower's openid is personal data and stays out of the outbox in clear.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from adapters.sms.seal import seal
from channels.citizen import STATE_TEXT
from channels.sms import REPLY_CHARS, known_placeholders, one_per_event, sealed_destination
from hub.db.models import EventRow
from hub.db.repository import CaseRepository
from hub.domain.access import registrant
from hub.domain.clock import Clock
from hub.domain.model import Case, Role
from hub.mappings.loader import load_yaml_model
from hub.settings import Settings, WeChatSettings
from outbox.store import OutboxWriter

PushEvent = Literal["reply_approved", "follow_up_invitation", "closed"]
PLACEHOLDERS: dict[str, set[str]] = {
    "reply_approved": {"number", "title", "status", "reply"},
    "follow_up_invitation": {"number", "title", "status", "days"},
    "closed": {"number", "title", "status"},
}
MAX_VALUE = 200
TEMPLATES_FILE = Path("channels") / "wechat_templates.yaml"


class PushTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: PushEvent
    template_id: str = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")
    url: str | None = Field(default=None, max_length=256, description="Where a tap on the message leads (optional).")
    fields: dict[str, str] = Field(min_length=1, max_length=10)

    @model_validator(mode="after")
    def _known_placeholders(self) -> PushTemplate:
        for key, text in self.fields.items():
            if not key.replace("_", "").isalnum() or not 1 <= len(text) <= MAX_VALUE:
                raise ValueError(f"field {key!r}: a key of letters and digits, a value of 1 to {MAX_VALUE} characters")
            known_placeholders(text, PLACEHOLDERS[self.event], self.event, where=f"field {key!r}: ")
        return self


class PushTemplates(BaseModel):
    model_config = ConfigDict(extra="forbid")

    templates: Annotated[list[PushTemplate], one_per_event(PLACEHOLDERS)]

    def message(self, event: str, openid: str, values: dict[str, str]) -> dict:
        """The body of WeChat's template/send, filled."""
        template = next(t for t in self.templates if t.event == event)
        body: dict = {"touser": openid, "template_id": template.template_id, "data": {k: {"value": v.format(**values)} for k, v in template.fields.items()}}
        if template.url:
            body["url"] = template.url
        return body


def load_push_templates(mappings_dir: Path) -> PushTemplates:
    """Raises MappingError (file, line, reason) for a bad file: the hub does not start with one."""
    return load_yaml_model(mappings_dir / TEMPLATES_FILE, PushTemplates, entry_key="event")


def openid_of(case: Case, config: WeChatSettings) -> str | None:
    """The follower who filed the case on the account, from its ref `<openid>:<MsgId>`."""
    if registrant(case) != (config.party, Role.CHANNEL):
        return None
    system = f"channel.{config.party}"
    ref = next((r for r in case.external_refs if r.system == system), None)
    return ref.external_id.split(":", 1)[0] if ref is not None else None


class WeChatPush:
    def __init__(self, templates: PushTemplates, settings: Settings, clock: Clock, writer: OutboxWriter) -> None:
        assert settings.channels.wechat is not None
        self.config: WeChatSettings = settings.channels.wechat
        self.templates = templates
        self.clock = clock
        self.writer = writer
        self.evaluation_days = settings.channels.evaluation_days
        self.destination, self.seal_key = sealed_destination(settings, self.config.destination)

    def __call__(self, session: Session, changed: Case, events: list[EventRow]) -> None:
        if self.destination is None:
            return
        now = self.clock.now()
        queued: set[tuple[str, str]] = set()  # closing records both case.followed_up and case.closed: one message
        for ev in events:
            sends = [e for e in self._sends(ev) if (ev.case_number, e) not in queued]
            queued.update((ev.case_number, e) for e in sends)
            if not sends:
                continue
            same = ev.case_number == changed.number and changed.history and changed.external_refs
            case = changed if same else CaseRepository(session).get(ev.case_number)
            openid = openid_of(case, self.config)
            if not openid:
                continue
            reply = case.outcome.direct_answer or (case.outcome.reply.text if case.outcome.reply else "")
            values = {
                "number": case.number,
                "title": case.title[:60],
                "status": STATE_TEXT[case.state],
                "reply": reply if len(reply) <= REPLY_CHARS else reply[:REPLY_CHARS] + "…",
                "days": str(self.evaluation_days),
            }
            for event in sends:
                body = self.templates.message(event, openid, {k: values[k] for k in PLACEHOLDERS[event]})
                self.writer.write_message(
                    session,
                    destination=self.destination,
                    ordering_key=case.number,
                    event_type=f"wechat.{event}",
                    event={"template": event, "sealed": seal(self.seal_key, openid, json.dumps(body, ensure_ascii=False))},
                    case=None,
                    case_number=case.number,
                    idempotency_key=f"{self.destination}:{ev.id}:{event}",
                    now=now,
                )

    def _sends(self, ev: EventRow) -> list[str]:
        payload = ev.payload or {}
        out: list[str] = []
        if (ev.type == "case.reply_reviewed" and (payload.get("data") or {}).get("approved")) or ev.type == "case.answered":
            out = ["reply_approved", "follow_up_invitation"]
        elif ev.type in ("case.followed_up", "case.closed") and payload.get("state") == "closed":
            out = ["closed"]
        return [e for e in out if self.config.push_events.get(e)]  # type: ignore[call-overload]
