"""The live bridge to a line in 双号并行 mode (number kept, cases shared).

Out: 12345 cases in the line's domain (its categories in lines.yaml) go over when one of
the configured `events` happens (by default case.accepted), in the line's own codes (its
mapping file, read in reverse); later changes of a case the line holds go as status
changes on `status_events`. In: the cases the line takes itself are pulled (supports_pull)
and registered in 12345 with the line's id as their external ref.

REST or SOAP is the line's `bridge.transport` in lines.yaml: wire_rest.py (httpx) or
wire_soap.py (zeep, legacy_exchange.wsdl) puts the same shapes (wire.py) on its wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError

from adapters.legacy_hotlines.bridge.wire import LineTransport, OutgoingCase, StatusChange
from adapters.legacy_hotlines.bridge.wire_rest import LegacyWire, RestLine
from adapters.legacy_hotlines.bridge.wire_soap import SoapLine
from adapters.legacy_hotlines.config import (
    IMPORT_STATES,
    LegacyConfig,
    LineMapping,
    LinesFile,
    MergeMode,
    legacy_dir,
    load_legacy,
    reverse,
)
from adapters.legacy_hotlines.mapping import RowMapper, RowRefused
from hub.domain.model import ExternalRef
from hub.integration.contract import (
    Adapter,
    AdapterContext,
    AdapterSettings,
    ConfigurationError,
    Delivery,
    HealthReport,
    MappingFailure,
    OutboundMessage,
    PullBatch,
    PulledCase,
)
from hub.mappings import Catalogue, MappingError, UnknownCode, load_catalogue, load_yaml_mapping
from integration_kit.tables import MappingTable

# Tables the bridge may leave partial, and why (the kit's report shows the reason).
_PARTIAL = {
    "request_type": ("request_types", "a request type the line has no code for is left out of what is sent"),
    "urgency": ("urgencies", "an urgency the line has no code for is left out"),
    "unit": ("units", "a unit the line has no code for is sent by its name only"),
    "division": ("divisions", "a division the line has no code for is sent as the hub's GB/T 2260 code"),
}


@dataclass(frozen=True)
class RefusedItem:
    """An item of the line's list its mapping cannot read: kept, with why, for an operator."""

    line_case_id: str | None
    reason: str
    raw: Any


@dataclass
class TakenBatch:
    items: list[tuple[PulledCase, Any]] = field(default_factory=list)  # (the case, the item as it came)
    refused: list[RefusedItem] = field(default_factory=list)
    next_cursor: str | None = None


class LegacyBridgeSettings(AdapterSettings):
    line: str = Field(
        pattern=r"^\d{5}$",
        description="The line, as in mappings/legacy/lines.yaml (mode 双号并行); its bridge.transport there says whether it speaks REST or SOAP.",
    )
    base_url: AnyHttpUrl = Field(
        description="REST: the line's API root (POST /cases, GET /cases/outgoing, ...). SOAP: the service address (overrides the WSDL's soap:address)."
    )
    wsdl: str | None = Field(default=None, description="SOAP: WSDL path or URL; default the shipped adapters/legacy_hotlines/bridge/legacy_exchange.wsdl.")
    token: SecretStr | None = Field(default=None, description="REST: sent as 'Authorization: Bearer <token>'.")
    timeout: float = Field(default=10.0, gt=0, description="Seconds for the whole exchange.")
    connect_timeout: float = Field(default=3.0, gt=0, description="Seconds to open the connection.")
    encoding: str = Field(default="utf-8", description="SOAP: encoding of our requests (e.g. GBK); answers are read by their declared encoding.")
    page_size: int = Field(default=50, ge=1, le=500, description="SOAP: FetchTaken MaxCount.")
    poll_interval: float = Field(default=30.0, ge=1, description="Seconds between pulls of the line's outgoing cases.")
    categories: list[str] | None = Field(
        default=None, description="Narrow or widen what is sent: hub category codes (prefixes). Default: the line's domain in lines.yaml."
    )


class LegacyBridgeAdapter(Adapter[LegacyBridgeSettings]):
    name = "legacy_bridge"
    settings_model = LegacyBridgeSettings
    supports_pull = True

    @classmethod
    def mapping_tables(cls, settings: LegacyBridgeSettings, mappings_dir: Path) -> list[MappingTable]:
        """For the kit: the line's file (mappings/legacy/<line>.yaml) as the bridge reads it
        outbound, in reverse (the hub's codes are the values). Its categories must give each
        category of the line's own domain (lines.yaml) a code of the line's; a category a
        destination adds beyond it (settings.categories) goes as the line's 其他 when the file
        names one. Its status words must name every state a shared case can have on the line
        (the states imports may carry). The rest may be partial: see _PARTIAL."""
        lines_file, file = legacy_dir(mappings_dir) / "lines.yaml", legacy_dir(mappings_dir) / f"{settings.line}.yaml"
        tables = [
            MappingTable(
                lines_file,
                LinesFile,
                kind="categories",
                entries="lines",
                hub_field="categories",
                entry_key="line",
                cover=frozenset(),
                cover_reason="the lines' domains",
            )
        ]
        try:
            entries = {e.line: e for e in load_yaml_mapping(lines_file, LinesFile, entry_key="line").model.lines}
        except MappingError:
            return tables  # the kit loads lines.yaml itself (the table above) and reports its problems
        if settings.line not in entries:
            raise ConfigurationError(f"{lines_file}: no line {settings.line!r}; configured: {', '.join(sorted(entries))}")
        domain = entries[settings.line].categories
        try:
            other = load_yaml_mapping(file, LineMapping).model.outbound_other_category
        except MappingError:
            other = None  # the kit reports the file's problems
        if other is None and settings.categories is not None:
            domain = settings.categories
        catalogue = load_catalogue(mappings_dir)
        leaves = frozenset(
            c for c in catalogue.categories if any(c.startswith(p) for p in domain) and not any(o != c and o.startswith(c) for o in catalogue.categories)
        )
        tables += [
            MappingTable(
                file,
                LineMapping,
                kind="categories",
                entries="codes.category",
                hub_in="values",
                cover=leaves,
                cover_reason=f"the line's domain {', '.join(domain)}" + (f"; beyond it a case goes as {other}" if other else ""),
            ),
            MappingTable(
                file,
                LineMapping,
                kind="states",
                entries="codes.status",
                hub_in="values",
                cover=frozenset(s.value for s in IMPORT_STATES),
                cover_reason="other states are pushed as the hub's state with no line status",
            ),
        ]
        tables += [
            MappingTable(file, LineMapping, kind=kind, entries=f"codes.{key}", hub_in="values", cover="none", cover_reason=why)
            for key, (kind, why) in _PARTIAL.items()
        ]
        return tables

    def __init__(self, settings: LegacyBridgeSettings, context: AdapterContext) -> None:
        super().__init__(settings, context)
        try:
            self.catalogue: Catalogue = load_catalogue(context.mappings_dir)
            self.config: LegacyConfig = load_legacy(context.mappings_dir, self.catalogue)
            self.entry = self.config.line(settings.line)
        except (MappingError, KeyError) as exc:
            raise ConfigurationError(f"legacy bridge {settings.line}: {exc}") from None
        if self.entry.mode is not MergeMode.PARALLEL or self.entry.bridge is None:
            raise ConfigurationError(f"line {settings.line} is in mode {self.entry.mode.value}; only 双号并行 lines have a live bridge")
        self.bridge = self.entry.bridge
        self.mapping = self.config.mapping(settings.line)
        self.mapper = RowMapper(self.mapping, self.catalogue)
        self.system = self.mapping.system
        codes = self.mapping.codes
        self._category, self._request_type = reverse(codes.category), reverse(codes.request_type)
        self._division, self._urgency = reverse(codes.division), reverse(codes.urgency)
        self._status, self._unit = reverse(codes.status), reverse(codes.unit)
        self._tz = ZoneInfo(self.mapping.timezone)
        self.transport: LineTransport = self._transport(settings, context)

    def _transport(self, s: LegacyBridgeSettings, context: AdapterContext) -> LineTransport:
        if self.bridge.transport == "soap":
            return SoapLine(
                mapping=self.mapping,
                endpoint=str(s.base_url),
                transient_faults=self.bridge.transient_faults,
                wsdl=s.wsdl,
                connect_timeout=s.connect_timeout,
                timeout=s.timeout,
                encoding=s.encoding,
                page_size=s.page_size,
            )
        wire = LegacyWire(str(s.base_url), s.token.get_secret_value() if s.token else None, s.timeout, s.connect_timeout, context.clock)
        return RestLine(wire, self.mapping)

    # -- out ---------------------------------------------------------------------------------
    def in_domain(self, message: OutboundMessage) -> bool:
        category = str(message.case.get("category_code", ""))
        domain = self.settings.categories if self.settings.categories is not None else self.entry.categories
        return any(category.startswith(prefix) for prefix in domain)

    def line_id(self, message: OutboundMessage) -> str | None:
        """The line's id for the case, when this message's snapshot carries it."""
        if message.external_id:
            return message.external_id
        for ref in message.case.get("external_refs", []):
            if isinstance(ref, dict) and ref.get("system") == self.system:
                return str(ref.get("external_id"))
        return None

    def wants(self, message: OutboundMessage) -> str | None:
        """Why a new-case event is not for this line, or None when the case goes over."""
        if message.event_type not in self.bridge.events:
            return f"event {message.event_type} is not sent to line {self.entry.line}"
        if not self.in_domain(message):
            return f"category {message.case.get('category_code', '')} is outside line {self.entry.line}'s domain"
        if self.line_id(message) is not None:
            return f"the case is already known to line {self.entry.line}"  # it came from there, or went already
        return None

    def to_line(self, message: OutboundMessage) -> OutgoingCase:
        case = message.case
        category = self._category.get(case["category_code"]) or self.mapping.outbound_other_category
        if category is None:
            raise MappingFailure(
                f"category {case['category_code']} has no code on line {self.entry.line} (mappings/legacy/{self.entry.line}.yaml codes.category)"
            )
        received = datetime.fromisoformat(case["intake"]["received_at"]).astimezone(self._tz)
        person, place = case.get("person") or {}, case.get("place") or {}
        division = place.get("division_code")
        fields: dict[str, Any] = {
            "received_at": received,
            "category": category,
            "content": case["content"],
            "title": case.get("title"),
            "person_name": person.get("name"),
            "person_phone": person.get("phone"),
            "address": place.get("address"),
            "request_type": self._request_type.get(case.get("request_type", "")),
            "division": self._division.get(division or "", division),
            "urgency": self._urgency.get(case.get("urgency", "")),
        }
        return OutgoingCase(message.case_number, {k: v for k, v in fields.items() if v is not None})

    def status_change(self, message: OutboundMessage) -> StatusChange:
        case, event = message.case, message.event or {}
        handling, outcome = case.get("handling") or {}, case.get("outcome") or {}
        unit = handling.get("lead_unit")
        reply = outcome.get("reply") or {}
        state = str(event.get("state") or case.get("state") or "")
        occurred = event.get("occurred_at") or case.get("updated_at")
        known_unit = self.catalogue.units.get(unit) if unit else None
        return StatusChange(
            hub_case_number=message.case_number,
            line_case_id=self.line_id(message),
            seq=message.sequence,
            event=message.event_type,
            hub_state=state,
            status_code=self._status.get(state),
            occurred_at=datetime.fromisoformat(occurred).astimezone(self._tz) if occurred else self.context.clock.now(),
            unit_code=self._unit.get(unit) if unit else None,
            unit_name=known_unit.name_zh if known_unit else None,
            opinion=(reply.get("text") if message.event_type == "case.replied" else None),
        )

    def deliver(self, message: OutboundMessage) -> Delivery:
        if message.event_type in self.bridge.status_events:
            if self.line_id(message) is None and not self.in_domain(message):
                return Delivery(detail=f"not sent: line {self.entry.line} holds no such case")
            # A case in the domain without the line's id in this snapshot went over on an earlier
            # message (delivered first: the outbox keeps order); the line finds it by hub number.
            if not self.transport.push_status(self.status_change(message), message.idempotency_key):
                return Delivery(detail=f"not applied: line {self.entry.line} says it holds no case {message.case_number}")
            return Delivery(detail=f"status {message.event_type} pushed to line {self.entry.line}")
        why_not = self.wants(message)
        if why_not is not None:
            return Delivery(detail=f"not sent: {why_not}")
        line_id = self.transport.submit(self.to_line(message), message.idempotency_key)
        return Delivery(external_ref=ExternalRef(system=self.system, external_id=line_id), detail=f"line id {line_id}")

    # -- in ----------------------------------------------------------------------------------
    def take(self, cursor: str | None) -> TakenBatch:
        """One page of the cases the line took: each mapped (with the item as it came, kept
        if the hub then refuses it) or refused with why."""
        page = self.transport.taken(cursor)
        batch = TakenBatch(next_cursor=page.next_cursor)
        for i, raw in enumerate(page.rows):
            try:
                batch.items.append((self.map_item(raw, f"items[{i}]"), raw))
            except (RowRefused, UnknownCode, ValidationError) as exc:
                batch.refused.append(RefusedItem(self.line_case_id(raw), f"items[{i}]: {exc}", raw))
        return batch

    def map_item(self, raw: Any, where: str = "item") -> PulledCase:
        """The line's item (its column names) as a case to register; RowRefused, UnknownCode
        (or pydantic's ValidationError, should the draft still fail) when its mapping cannot read it."""
        if not isinstance(raw, dict):
            raise RowRefused(where, "not an object")
        mapped = self.mapper.map(raw)
        ref = ExternalRef(system=self.system, external_id=mapped.original_id)
        return PulledCase(ref=ref, draft=mapped.draft, ack_token=mapped.original_id)

    def line_case_id(self, raw: Any) -> str | None:
        value = raw.get(self.mapping.fields.original_id) if isinstance(raw, dict) else None
        text = "" if value is None else str(value).strip()[:128]
        return text or None

    def pull(self, cursor: str | None) -> PullBatch:
        batch = self.take(cursor)
        return PullBatch(items=[item for item, _ in batch.items], next_cursor=batch.next_cursor)

    def acknowledge(self, item: PulledCase, case_number: str) -> None:
        self.transport.acknowledge(item.ack_token or item.ref.external_id, case_number)

    def external_system(self) -> str | None:
        return self.system

    def health(self) -> HealthReport:
        return self.transport.health()

    def close(self) -> None:
        self.transport.close()
