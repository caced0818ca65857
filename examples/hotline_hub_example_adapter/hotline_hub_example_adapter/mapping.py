"""Canonical <-> repair desk shapes, driven by the YAML code table. No HTTP here."""

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


class WaterworksCodes(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request_types: list[Pair]
    urgencies: list[Pair]
    event_types: list[Pair]
    categories: list[Pair]


def tables(mapping_file: Path) -> list[MappingTable]:
    """The file's four lists and how much of the hub's codes each must cover."""
    return [
        MappingTable(mapping_file, WaterworksCodes, "request_types", "request_types"),
        MappingTable(mapping_file, WaterworksCodes, "urgencies", "urgencies"),
        MappingTable(mapping_file, WaterworksCodes, "event_types", "event_types"),
        # Incoming only: the desk sends few categories; each must name a real hub code.
        MappingTable(mapping_file, WaterworksCodes, "categories", "categories", cover="none", entry_key="wire"),
    ]


class Translator:
    def __init__(self, codes: WaterworksCodes, system: str) -> None:
        self.system = system
        self._out = {name: {p.hub: p.wire for p in getattr(codes, name)} for name in ("request_types", "urgencies", "event_types")}
        self._category_in = {p.wire: p.hub for p in codes.categories}

    def _wire(self, table: str, code: str) -> str:
        try:
            return self._out[table][code]
        except KeyError:
            raise MappingFailure(f"{table}: hub code {code!r} has no repair-desk code in the mapping file") from None

    def ticket(self, message: OutboundMessage) -> dict[str, Any]:
        case = message.case
        return {
            "ticket_no": message.case_number,
            "seq": message.sequence,
            "status": self._wire("event_types", message.event_type),
            "kind": self._wire("request_types", case["request_type"]),
            "priority": self._wire("urgencies", case.get("urgency", "normal")),
            "summary": case["title"],
            "district": case["place"]["division_code"],
            # The repair desk sees no personal data: it calls back through the hotline.
        }

    def draft(self, item: dict[str, Any]) -> tuple[ExternalRef, CaseDraft]:
        category = self._category_in.get(item["category"])
        if category is None:
            raise MappingFailure(f"assignment {item['ticketId']}: repair-desk category {item['category']!r} has no hub code")
        ref = ExternalRef(system=self.system, external_id=item["ticketId"])
        draft = CaseDraft(
            external_refs=[ref],
            intake={"channel": "other", "received_at": datetime.fromisoformat(item["reported_at"])},
            person={"anonymous": True},
            request_type="help",
            category_code=category,
            title=item["title"],
            content=item["content"],
            place={"division_code": item["district"], "address": item.get("address")},
        )
        return ref, draft
