"""Canonical message -> the operation's fields, driven by the YAML code table. No SOAP here:
it returns plain dicts named as the WSDL names its elements, so tests assert on them."""

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


class ResultCodes(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ok: list[str]
    transient: list[str]
    permanent: list[str]


class MyCodes(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request_types: list[Pair]
    event_types: list[Pair]
    result_codes: ResultCodes


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

    def submit_case(self, message: OutboundMessage) -> dict[str, Any]:
        case = message.case
        return {
            "RequestId": message.idempotency_key,  # the system dedupes on it: retries are safe
            "Case": {
                "CaseNo": message.case_number,
                "Seq": message.sequence,
                "Status": self._wire("event_types", message.event_type),
                "Type": self._wire("request_types", case["request_type"]),
                "Title": case["title"],
                "Division": case["place"]["division_code"],
                "OccurredAt": message.event["occurred_at"],
            },
        }
