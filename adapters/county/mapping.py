"""The declarative field mapper: a county's JSON <-> the hub's canonical shapes, driven
entirely by its CountyConfig. No county is named here.

Inbound refusals name the county's own field path (prefixed with where it sits in the
request, e.g. `body[3].caller.mobile`), so the county can fix its own payload.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from adapters.county.config import CountyConfig, OutboundField
from adapters.county.refusals import TicketRefused, forbidden, invalid, unknown_code
from hub.domain import commands as c
from hub.domain.model import CaseDraft, Channel, ExternalRef
from hub.integration.contract import MappingFailure, OutboundMessage

_MISSING = object()


# -- dotted paths ---------------------------------------------------------------------------
def get_path(data: Any, path: str, default: Any = None) -> Any:
    node = data
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return default
    return node


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


# -- dates ----------------------------------------------------------------------------------
def parse_date(cfg: CountyConfig, value: Any, field: str) -> datetime:
    tz = ZoneInfo(cfg.timezone)
    try:
        if cfg.date_format in ("epoch", "epoch_ms"):
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ValueError
            seconds = float(value) / (1000 if cfg.date_format == "epoch_ms" else 1)
            return datetime.fromtimestamp(seconds, UTC)
        if not isinstance(value, str):
            raise ValueError
        parsed = datetime.fromisoformat(value) if cfg.date_format == "iso" else datetime.strptime(value, cfg.date_format)
    except (ValueError, OverflowError, OSError):
        raise invalid(field, f"not a date in the format {cfg.date_format!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def format_date(cfg: CountyConfig, value: Any) -> Any:
    if value is None:
        return None
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = when.astimezone(ZoneInfo(cfg.timezone))
    if cfg.date_format == "iso":
        return local.isoformat()
    if cfg.date_format == "epoch":
        return int(when.timestamp())
    if cfg.date_format == "epoch_ms":
        return int(when.timestamp() * 1000)
    return local.strftime(cfg.date_format)


# -- inbound tickets ------------------------------------------------------------------------
def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else _MISSING  # type: ignore[return-value]


def ticket_id_of(cfg: CountyConfig, ticket: Any, where: str) -> str:
    if not isinstance(ticket, dict):
        raise invalid(where.rstrip("."), "a ticket is a JSON object")
    value = _text(get_path(ticket, cfg.ticket.ticket_id))
    if value is None or value is _MISSING or len(value) > 128:
        raise invalid(where + cfg.ticket.ticket_id, "required: the county's ticket id (text or number, at most 128 characters)")
    return value


def hub_field_names(cfg: CountyConfig, where: str) -> dict[str, str]:
    """Hub field -> the county's field, for translating the hub's refusals."""
    f = cfg.ticket
    pairs = {
        "intake.received_at": f.received_at,
        "request_type": f.request_type,
        "category_code": f.category,
        "title": f.title,
        "content": f.content,
        "place.division_code": f.division,
        "place.address": f.address,
        "person.name": f.person_name,
        "person.phone": f.person_phone,
        "person.anonymous": f.anonymous,
        "person.confidential": f.confidential,
        "urgency": f.urgency,
        "person": f.person_name,
    }
    return {hub: where + county for hub, county in pairs.items() if county}


def ticket_to_draft(cfg: CountyConfig, ticket: dict[str, Any], where: str = "body.") -> tuple[str, CaseDraft]:
    """(the county's ticket id, the canonical draft) or TicketRefused naming the county's field."""
    f = cfg.ticket
    ticket_id = ticket_id_of(cfg, ticket, where)

    def code(path: str, table: dict[str, Any], required: bool = True) -> Any:
        raw = get_path(ticket, path)
        if raw is None and not required:
            return None
        key = _text(raw)
        if key is None or key is _MISSING:
            raise invalid(where + path, "required code is missing")
        if key not in table:
            raise unknown_code(where + path, key, f"mappings/county/{cfg.county}.yaml")
        return table[key]

    raw_received = get_path(ticket, f.received_at)
    if raw_received is None:
        raise invalid(where + f.received_at, "required field is missing")
    received_at = parse_date(cfg, raw_received, where + f.received_at)
    request_type = code(f.request_type, cfg.codes.request_type)
    category = code(f.category, cfg.codes.category)
    urgency = code(f.urgency, cfg.codes.urgency, required=False) if f.urgency else None
    division = _text(get_path(ticket, f.division))
    if division is None or division is _MISSING:
        raise invalid(where + f.division, "required: a division code of 6, 9 or 12 digits")
    # Checked before the hub sees it, so the refusal names the county's field.
    if division[:6] not in cfg.divisions:
        raise forbidden(f"division {division} is not one of county {cfg.county}'s divisions ({', '.join(cfg.divisions)})", where + f.division)
    body: dict[str, Any] = {
        "external_refs": [{"system": cfg.system, "external_id": ticket_id}],
        "intake": {"channel": Channel.COUNTY.value, "received_at": received_at},
        "person": {
            "name": get_path(ticket, f.person_name) if f.person_name else None,
            "phone": _str_or_none(get_path(ticket, f.person_phone)) if f.person_phone else None,
            "anonymous": bool(get_path(ticket, f.anonymous)) if f.anonymous else False,
            "confidential": bool(get_path(ticket, f.confidential)) if f.confidential else False,
        },
        "request_type": request_type,
        "category_code": category,
        "title": get_path(ticket, f.title),
        "content": get_path(ticket, f.content),
        "place": {"address": get_path(ticket, f.address) if f.address else None, "division_code": division},
    }
    if urgency is not None:
        body["urgency"] = urgency
    try:
        return ticket_id, CaseDraft.model_validate(body)
    except ValidationError as exc:
        raise _refusal(exc, hub_field_names(cfg, where), where) from None


def _str_or_none(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _refusal(exc: ValidationError, names: dict[str, str], where: str) -> TicketRefused:
    errors = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        field = names.get(loc) or names.get(loc.split(".")[0]) or where + loc
        errors.append({"field": field, "reason": err["msg"].removeprefix("Value error, ")})
    detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors[:5])
    return TicketRefused(422, "validation", "The request is not valid", detail, errors)


# -- inbound updates ------------------------------------------------------------------------
class Update:
    """One county update, mapped: the hub command, when the county made it, its id."""

    def __init__(self, kind: str, at: datetime, update_id: str | None, command: Any) -> None:
        self.kind, self.at, self.update_id, self.command = kind, at, update_id, command


def update_to_command(cfg: CountyConfig, update: Any, where: str = "body.") -> Update:
    f = cfg.update
    if not isinstance(update, dict):
        raise invalid(where.rstrip("."), "an update is a JSON object")
    raw_kind = _text(get_path(update, f.kind))
    if raw_kind is None or raw_kind is _MISSING:
        raise invalid(where + f.kind, "required: the update's kind code")
    kind = cfg.codes.update_kind.get(raw_kind)
    if kind is None:
        raise unknown_code(where + f.kind, raw_kind, f"mappings/county/{cfg.county}.yaml (codes.update_kind)")
    raw_at = get_path(update, f.at)
    if raw_at is None:
        raise invalid(where + f.at, "required: when the county made this update")
    at = parse_date(cfg, raw_at, where + f.at)
    update_id = _text(get_path(update, f.update_id)) if f.update_id else None
    if update_id is _MISSING:
        raise invalid(where + (f.update_id or ""), "an update id is text or a number")
    text = get_path(update, f.text) if f.text else None
    reason = get_path(update, f.reason) if f.reason else None
    # The reason may come in its own field or, where the county has none, in the text.
    reason_field = f.reason if f.reason and (reason is not None or text is None) else f.text
    names = {"text": f.text, "reason": reason_field, "working_days": f.working_days}
    reason = reason if reason is not None else text
    body: dict[str, Any]
    if kind == "sign_off":
        body = {"action": "sign_off"}
    elif kind == "progress":
        body = {"action": "report_progress", "text": text}
    elif kind == "extension":
        body = {"action": "request_extension", "reason": reason, "working_days": get_path(update, f.working_days) if f.working_days else None}
    elif kind == "return":
        body = {"action": "request_return", "reason": reason}
    elif kind == "forward":
        raw_unit = _text(get_path(update, f.unit)) if f.unit else None
        unit = cfg.codes.unit.get(raw_unit) if isinstance(raw_unit, str) else None
        if unit is None:
            raise unknown_code(where + (f.unit or "unit"), str(raw_unit), f"mappings/county/{cfg.county}.yaml (codes.unit)")
        raw_due = get_path(update, f.due_at) if f.due_at else None
        if raw_due is None:
            raise invalid(where + (f.due_at or "due_at"), "required: the township's deadline")
        body = {"action": "forward", "unit": unit, "due_at": parse_date(cfg, raw_due, where + (f.due_at or "due_at"))}
        names["due_at"] = f.due_at
    elif kind == "township_sign_off":
        body = {"action": "sign_off_forward"}
    elif kind == "township_reply":
        body = {"action": "reply_forward", "text": text}
    elif kind == "township_return":
        body = {"action": "return_forward", "reason": reason}
    elif kind == "township_extension":
        body = {"action": "request_forward_extension", "reason": reason, "working_days": get_path(update, f.working_days) if f.working_days else None}
    elif kind in ("township_extension_approved", "township_extension_refused"):
        # The county's decision on its township's request: the days granted (fewer than asked)
        # in working_days when it says so, its words, if any, as the note.
        days = get_path(update, f.working_days) if f.working_days and kind == "township_extension_approved" else None
        body = {"action": "decide_forward_extension", "approved": kind == "township_extension_approved", "working_days": days, "note": text}
        names["note"] = f.text
    else:
        body = {"action": "reply", "text": text}
    try:
        command = _COMMANDS[body["action"]].model_validate(body)
    except ValidationError as exc:
        raise _refusal(exc, {k: where + v for k, v in names.items() if v}, where) from None
    return Update(kind, at, update_id, command)


_COMMANDS: dict[str, type[BaseModel]] = {
    "sign_off": c.SignOff,
    "report_progress": c.ReportProgress,
    "request_extension": c.RequestExtension,
    "request_return": c.RequestReturn,
    "reply": c.ReplyCmd,
    "forward": c.Forward,
    "sign_off_forward": c.SignOffForward,
    "reply_forward": c.ReplyForward,
    "return_forward": c.ReturnForward,
    "request_forward_extension": c.RequestForwardExtension,
    "decide_forward_extension": c.DecideForwardExtension,
}


# -- outbound -------------------------------------------------------------------------------
def message_to_payload(cfg: CountyConfig, message: OutboundMessage, ticket_id: str | None) -> dict[str, Any]:
    """The county's own shape for one outbox message; MappingFailure names what has no code."""
    payload: dict[str, Any] = {}
    op = cfg.outbound.events[message.event_type]
    for target, spec in cfg.outbound.fields.items():
        assert isinstance(spec, OutboundField)  # normalised by the config model
        value = _source(spec.source, message, op, ticket_id)
        if value is None and spec.omit_none:
            continue
        if spec.map and value is not None:
            table = cfg.reverse(spec.map)
            value = [_translate(cfg, spec, v, target, table) for v in value] if spec.each else _translate(cfg, spec, value, target, table)
        if spec.date:
            value = format_date(cfg, value)
        set_path(payload, target, value)
    return payload


def _source(source: str, message: OutboundMessage, op: str, ticket_id: str | None) -> Any:
    if source.startswith("const:"):
        return source[len("const:") :]
    head, _, rest = source.partition(".")
    if head == "op":
        return op
    if head == "ticket_id":
        return ticket_id
    if head == "case":
        return get_path(message.case, rest)
    if head == "event":
        return get_path(message.event, rest)
    return get_path(message.model_dump(mode="json"), rest)


def _translate(cfg: CountyConfig, spec: OutboundField, value: Any, target: str, table: dict[str, str]) -> str:
    key = str(value)
    if key in table:
        return table[key]
    if spec.keep_unknown:
        return key
    raise MappingFailure(
        f"county {cfg.county}: {spec.map} {key!r} has no county code (field {target}); add it to mappings/county/{cfg.county}.yaml codes.{spec.map}"
    )


def external_ref(cfg: CountyConfig, ticket_id: str) -> ExternalRef:
    return ExternalRef(system=cfg.system, external_id=ticket_id)


__all__ = [
    "TicketRefused",
    "Update",
    "external_ref",
    "format_date",
    "get_path",
    "hub_field_names",
    "message_to_payload",
    "parse_date",
    "set_path",
    "ticket_id_of",
    "ticket_to_draft",
    "update_to_command",
]
