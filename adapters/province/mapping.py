"""Canonical <-> province shapes. Pure functions: no I/O, no clock, unit-tested.

Outbound the input is the outbox's OutboundMessage (the case as JSON, the event as JSON);
inbound it is one WorkOrder dict as either wire client returns it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from adapters.province.config import ProvinceCodes
from adapters.province.wire import Wire
from hub.domain.model import CaseDraft, Channel, ExternalRef
from hub.integration.contract import MappingFailure, OutboundMessage, PulledCase

SYSTEM = "province"
TITLE_MAX = 200  # CaseDraft.title


def province_id_of(message: OutboundMessage) -> str | None:
    if message.external_id:
        return message.external_id
    for ref in message.case.get("external_refs") or []:
        if ref.get("system") == SYSTEM:
            return ref.get("external_id")
    return None


def came_from_province(message: OutboundMessage) -> bool:
    """A case the province assigned to us is not reported back to it as a city case."""
    intake = message.case.get("intake") or {}
    return intake.get("channel") == Channel.PROVINCE.value or province_id_of(message) is not None


def _need(data: dict[str, Any], *path: str) -> Any:
    value: Any = data
    for key in path:
        if not isinstance(value, dict) or value.get(key) in (None, ""):
            raise MappingFailure(f"case field {'.'.join(path)} is missing; the province requires it")
        value = value[key]
    return value


def work_order(case: dict[str, Any], codes: ProvinceCodes) -> Wire:
    person = case.get("person") or {}
    place = case.get("place") or {}
    # 保密: only the centre may know who called, so the province gets the flag, not the person.
    hide_person = bool(person.get("confidential") or person.get("anonymous"))
    return {
        "CityCaseNo": _need(case, "number"),
        "Channel": (case.get("intake") or {}).get("channel"),
        "ReceivedTime": _datetime(_need(case, "intake", "received_at")),
        "AppealerName": None if hide_person else person.get("name"),
        "AppealerPhone": None if hide_person else person.get("phone"),
        "AppealerType": codes.person_kinds.province(person.get("kind") or "person"),
        "Anonymous": bool(person.get("anonymous")),
        "Confidential": bool(person.get("confidential")),
        "AppealType": codes.request_types.province(_need(case, "request_type")),
        "CategoryCode": codes.category(_need(case, "category_code")),
        "Title": _need(case, "title"),
        "Content": _need(case, "content"),
        "AreaCode": codes.divisions.province(str(_need(case, "place", "division_code"))[:6]),
        "Address": place.get("address"),
        "Longitude": place.get("longitude"),
        "Latitude": place.get("latitude"),
        "Urgency": codes.urgencies.province(case.get("urgency") or "normal"),
        "DueTime": _datetime((case.get("handling") or {}).get("due_at")),
    }


def report_case_request(message: OutboundMessage, codes: ProvinceCodes, city_code: str) -> Wire:
    return {"RequestId": message.idempotency_key, "CityCode": city_code, "WorkOrder": work_order(message.case, codes)}


def push_status_request(message: OutboundMessage, codes: ProvinceCodes) -> Wire | None:
    """The PushStatus request for one event, or None when the province is not told of it."""
    status = codes.status(message.event_type)
    if status is None:
        return None
    data: dict[str, Any] = message.event.get("data") or {}
    unit = data.get("lead_unit") or data.get("unit") or (message.case.get("handling") or {}).get("lead_unit")
    satisfaction = data.get("satisfaction")
    return {
        "RequestId": message.idempotency_key,
        "ProvinceCaseId": province_id_of(message),
        "CityCaseNo": message.case_number,
        "Seq": message.sequence,
        "StatusCode": status,
        "OccurredTime": _datetime(message.event.get("occurred_at")),
        "HandlerUnit": codes.units.province(unit) if unit else None,
        "Opinion": _opinion(data),
        "ExtensionDays": data.get("working_days"),
        "Approved": data.get("approved"),
        "Reached": data.get("reached"),
        "Resolved": data.get("resolved"),
        "Satisfaction": codes.satisfactions.province(satisfaction) if satisfaction else None,
        "DueTime": _datetime(data.get("due_at")),
        **_attachment(message.event_type, data),
    }


def _attachment(event_type: str, data: dict[str, Any]) -> Wire:
    """The reference of an added file (the WSDL's optional Attachment, a hub extension): what it
    is and where the province reads it with its own key. Never its name (it may name a person)."""
    if event_type != "case.attachment_added" or not data.get("url"):
        return {}
    return {"Attachment": [{"Id": data["id"], "MediaType": data["media_type"], "Size": data["size"], "Sha256": data["sha256"], "Url": data["url"]}]}


def _opinion(data: dict[str, Any]) -> str | None:
    for key in ("text", "answer", "reason"):
        if data.get(key):
            return str(data[key])
    if data.get("line"):  # transferred to an emergency line
        return f"转{data['line']}"
    return None


def pulled_case(order: Wire, codes: ProvinceCodes) -> PulledCase:
    """One assigned WorkOrder as a draft the hub registers (channel province)."""
    province_id = order.get("ProvinceCaseId")
    if not province_id:
        raise MappingFailure("an assigned WorkOrder has no ProvinceCaseId")
    anonymous = bool(order.get("Anonymous"))
    title = (order.get("Title") or "").strip()
    content = (order.get("Content") or "").strip() or title
    try:
        draft = CaseDraft.model_validate(
            {
                "external_refs": [{"system": SYSTEM, "external_id": province_id}],
                "intake": {"channel": Channel.PROVINCE.value, "received_at": order.get("ReceivedTime")},
                "person": {
                    "name": None if anonymous else order.get("AppealerName"),
                    "phone": None if anonymous else order.get("AppealerPhone"),
                    "kind": codes.person_kinds.hub(order.get("AppealerType") or "1"),
                    "anonymous": anonymous,
                    "confidential": bool(order.get("Confidential")),
                },
                "request_type": codes.request_types.hub(str(order.get("AppealType") or "")),
                "category_code": codes.categories.hub(str(order.get("CategoryCode") or "")),
                # Provincial titles can run long; the hub keeps the first 200 characters and the full text in content.
                "title": title[:TITLE_MAX],
                "content": content,
                "place": {
                    "address": order.get("Address"),
                    "division_code": codes.divisions.hub(str(order.get("AreaCode") or "")),
                    "longitude": order.get("Longitude"),
                    "latitude": order.get("Latitude"),
                },
                "urgency": codes.urgencies.hub(str(order.get("Urgency") or "1")),
            }
        )
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise MappingFailure(f"assigned case {province_id}: {where}") from None
    return PulledCase(ref=ExternalRef(system=SYSTEM, external_id=province_id), draft=draft, ack_token=province_id)


def _datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise MappingFailure(f"not an ISO date-time: {value!r}") from None
