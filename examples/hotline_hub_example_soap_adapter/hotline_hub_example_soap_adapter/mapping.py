"""Canonical <-> platform shapes, driven by the YAML code table. No SOAP here: plain dicts named
as the WSDL names its elements, so tests assert on them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from hub.domain.model import CaseDraft, ExternalRef
from hub.integration.contract import MappingFailure, OutboundMessage
from integration_kit import MappingTable


class Pair(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    hub: str
    wire: str


class ResultCodes(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ok: list[str]
    transient: list[str]
    permanent: list[str]


class NeighbourCodes(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request_types: list[Pair]
    urgencies: list[Pair]
    event_types: list[Pair]
    items: list[Pair]
    result_codes: ResultCodes


def tables(mapping_file: Path) -> list[MappingTable]:
    return [
        MappingTable(mapping_file, NeighbourCodes, "request_types", "request_types"),
        MappingTable(mapping_file, NeighbourCodes, "urgencies", "urgencies"),
        MappingTable(mapping_file, NeighbourCodes, "event_types", "event_types"),
        # Incoming only: the platform transfers few kinds of case; each must name a real hub code.
        MappingTable(mapping_file, NeighbourCodes, "categories", "items", cover="none", entry_key="wire"),
    ]


class Translator:
    def __init__(self, codes: NeighbourCodes, system: str) -> None:
        self.system = system
        self._out = {name: {p.hub: p.wire for p in getattr(codes, name)} for name in ("request_types", "urgencies", "event_types")}
        self._type_in = {p.wire: p.hub for p in codes.request_types}
        self._item_in = {p.wire: p.hub for p in codes.items}

    def _wire(self, table: str, code: str) -> str:
        try:
            return self._out[table][code]
        except KeyError:
            raise MappingFailure(f"{table}: hub code {code!r} has no platform code in the mapping file") from None

    def ticket(self, message: OutboundMessage) -> dict[str, Any]:
        """The <Ticket> of ReportTicket and UpdateTicket. No personal data: the platform calls back through 12345."""
        case = message.case
        return {
            "CityCaseNo": message.case_number,
            "Seq": message.sequence,
            "EventCode": self._wire("event_types", message.event_type),
            "AppealType": self._wire("request_types", case["request_type"]),
            "Urgency": self._wire("urgencies", case.get("urgency", "normal")),
            "Title": case["title"],
            "RegionCode": case["place"]["division_code"],
            "EventTime": message.event["occurred_at"],
        }

    def report_ticket(self, message: OutboundMessage) -> dict[str, Any]:
        return {"MessageId": message.idempotency_key, "Ticket": self.ticket(message)}

    def update_ticket(self, message: OutboundMessage) -> dict[str, Any]:
        return {"MessageId": message.idempotency_key, "PlatformTicketId": message.external_id, "Ticket": self.ticket(message)}

    def draft(self, transfer: dict[str, Any]) -> tuple[ExternalRef, CaseDraft]:
        """A transferred case as the hub registers it; the citizen's contact comes with it (the city calls back)."""
        transfer_id = transfer["TransferId"]
        category = self._item_in.get(transfer["ItemCode"])
        request_type = self._type_in.get(transfer["AppealType"])
        if category is None or request_type is None:
            raise MappingFailure(
                f"transfer {transfer_id}: ItemCode {transfer['ItemCode']!r} or AppealType {transfer['AppealType']!r} has no hub code in the mapping file"
            )
        name, phone = transfer.get("ContactName"), transfer.get("ContactPhone")
        reported = transfer["ReportedAt"]
        ref = ExternalRef(system=self.system, external_id=transfer_id)
        draft = CaseDraft(
            external_refs=[ref],
            intake={"channel": "other", "received_at": reported if isinstance(reported, datetime) else datetime.fromisoformat(reported)},
            person={"name": name, "phone": phone} if (name or phone) else {"anonymous": True},
            request_type=request_type,
            category_code=category,
            title=transfer["Title"],
            content=transfer["Content"],
            place={"division_code": transfer["RegionCode"], "address": transfer.get("Address")},
        )
        return ref, draft
