"""Canonical message -> the peer's payload, driven by the YAML code table. No HTTP here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from hub.integration.contract import MappingFailure, OutboundMessage
from integration_kit import MappingTable


class Pair(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    hub: str
    wire: str


class MyCodes(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request_types: list[Pair]
    event_types: list[Pair]


def tables(mapping_file: Path) -> list[MappingTable]:
    return [MappingTable(mapping_file, MyCodes, "request_types", "request_types"), MappingTable(mapping_file, MyCodes, "event_types", "event_types")]


class Translator:
    def __init__(self, codes: MyCodes) -> None:
        self._out = {name: {p.hub: p.wire for p in getattr(codes, name)} for name in ("request_types", "event_types")}

    def _wire(self, table: str, code: str) -> str:
        try:
            return self._out[table][code]
        except KeyError:
            raise MappingFailure(f"{table}: hub code {code!r} has no code in the mapping file") from None

    def payload(self, message: OutboundMessage) -> dict[str, Any]:
        case = message.case
        return {
            "case_no": message.case_number,
            "seq": message.sequence,
            "status": self._wire("event_types", message.event_type),
            "type": self._wire("request_types", case["request_type"]),
            "title": case["title"],
            "division": case["place"]["division_code"],
        }
