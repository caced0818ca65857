"""The live bridge to a line in 双号并行 mode (number kept, cases shared).

Out: 12345 cases in the line's domain (its categories in lines.yaml) go over when one of
the configured events happens (by default case.accepted), in the line's own field names
and codes (its mapping file, read in reverse). In: the cases the line takes itself are
pulled (supports_pull) and registered in 12345 with the line's id as their external ref.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from pydantic import AnyHttpUrl, Field, SecretStr

from adapters.legacy_hotlines.config import LegacyConfig, MergeMode, load_legacy, reverse
from adapters.legacy_hotlines.mapping import RowMapper, RowRefused
from adapters.legacy_hotlines.wire import LegacyWire
from hub.domain.model import ExternalRef
from hub.integration.contract import (
    Adapter, AdapterContext, AdapterSettings, ConfigurationError, Delivery, HealthReport, MappingFailure,
    OutboundMessage, PermanentError, PulledCase, PullBatch,
)
from hub.mappings import MappingError, UnknownCode, load_catalogue


class LegacyBridgeSettings(AdapterSettings):
    line: str = Field(pattern=r"^\d{5}$", description="The line, as in mappings/legacy/lines.yaml (mode 双号并行).")
    base_url: AnyHttpUrl = Field(description="The line's REST interface: POST /cases, GET /cases/outgoing, POST /cases/{id}/ack.")
    token: SecretStr | None = Field(default=None, description="Sent as 'Authorization: Bearer <token>'.")
    timeout: float = Field(default=10.0, gt=0, description="Seconds for the whole exchange.")
    connect_timeout: float = Field(default=3.0, gt=0, description="Seconds to open the connection.")
    poll_interval: float = Field(default=30.0, ge=1, description="Seconds between pulls of the line's outgoing cases.")
    categories: list[str] | None = Field(default=None, description="Narrow or widen what is sent: hub category codes "
                                         "(prefixes). Default: the line's domain in lines.yaml.")


class LegacyBridgeAdapter(Adapter[LegacyBridgeSettings]):
    name = "legacy_bridge"
    settings_model = LegacyBridgeSettings
    supports_pull = True

    def __init__(self, settings: LegacyBridgeSettings, context: AdapterContext) -> None:
        super().__init__(settings, context)
        try:
            catalogue = load_catalogue(context.mappings_dir)
            self.config: LegacyConfig = load_legacy(context.mappings_dir, catalogue)
            self.entry = self.config.line(settings.line)
        except (MappingError, KeyError) as exc:
            raise ConfigurationError(f"legacy bridge {settings.line}: {exc}") from None
        if self.entry.mode is not MergeMode.PARALLEL or self.entry.bridge is None:
            raise ConfigurationError(f"line {settings.line} is in mode {self.entry.mode.value}; only 双号并行 lines have a live bridge")
        self.mapping = self.config.mapping(settings.line)
        self.mapper = RowMapper(self.mapping, catalogue)
        self.system = self.mapping.system
        self._category = reverse(self.mapping.codes.category)
        self._request_type = reverse(self.mapping.codes.request_type)
        self._division = reverse(self.mapping.codes.division)
        self._tz = ZoneInfo(self.mapping.timezone)
        self.last_refused: list[str] = []  # items of the last pull that could not be mapped
        self._wire = LegacyWire(str(settings.base_url), settings.token.get_secret_value() if settings.token else None,
                                settings.timeout, settings.connect_timeout, context.clock)

    # -- out ---------------------------------------------------------------------------------
    def wants(self, message: OutboundMessage) -> str | None:
        """Why the message is not for this line, or None when it is."""
        assert self.entry.bridge is not None
        if message.event_type not in self.entry.bridge.events:
            return f"event {message.event_type} is not sent to line {self.entry.line}"
        category = str(message.case.get("category_code", ""))
        domain = self.settings.categories if self.settings.categories is not None else self.entry.categories
        if not any(category.startswith(prefix) for prefix in domain):
            return f"category {category} is outside line {self.entry.line}'s domain"
        refs = {r.get("system") for r in message.case.get("external_refs", []) if isinstance(r, dict)}
        if message.external_id or self.system in refs:
            return f"the case is already known to line {self.entry.line}"  # it came from there, or went already
        return None

    def to_line(self, message: OutboundMessage) -> dict[str, Any]:
        case, f = message.case, self.mapping.fields
        category = self._category.get(case["category_code"]) or self.mapping.outbound_other_category
        if category is None:
            raise MappingFailure(f"category {case['category_code']} has no code on line {self.entry.line} "
                                 f"(mappings/legacy/{self.entry.line}.yaml codes.category)")
        received = datetime.fromisoformat(case["intake"]["received_at"]).astimezone(self._tz)
        person, place = case.get("person") or {}, case.get("place") or {}
        payload: dict[str, Any] = {"hub_case_number": message.case_number, f.received_at: received.strftime(self.mapping.date_formats[0]),
                                   f.category: category, f.content: case["content"]}
        optional = {f.title: case.get("title"), f.person_name: person.get("name"), f.person_phone: person.get("phone"),
                    f.address: place.get("address"), f.request_type: self._request_type.get(case.get("request_type", "")),
                    f.division: self._division.get(place.get("division_code", ""), place.get("division_code"))}
        payload.update({k: v for k, v in optional.items() if k and v is not None})
        return payload

    def deliver(self, message: OutboundMessage) -> Delivery:
        why_not = self.wants(message)
        if why_not is not None:
            return Delivery(detail=f"not sent: {why_not}")
        answer = self._wire.post_case(self.to_line(message), message.idempotency_key)
        line_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(line_id, str) or not line_id:
            raise PermanentError(f"line {self.entry.line} accepted the case but answered no 'id'", detail=str(answer)[:200])
        return Delivery(external_ref=ExternalRef(system=self.system, external_id=line_id), detail=f"line id {line_id}")

    # -- in ----------------------------------------------------------------------------------
    def pull(self, cursor: str | None) -> PullBatch:
        page = self._wire.outgoing(cursor)
        if not isinstance(page, dict) or not isinstance(page.get("items", []), list):
            raise PermanentError(f"line {self.entry.line} answered a page that is not {{items: [...]}}", detail=str(page)[:200])
        items: list[PulledCase] = []
        refused: list[str] = []
        for i, raw in enumerate(page.get("items") or []):
            try:
                if not isinstance(raw, dict):
                    raise RowRefused(f"items[{i}]", "not an object")
                mapped = self.mapper.map(raw)
            except (RowRefused, UnknownCode) as exc:
                refused.append(f"items[{i}]: {exc}")
                continue
            ref = ExternalRef(system=self.system, external_id=mapped.original_id)
            items.append(PulledCase(ref=ref, draft=mapped.draft, ack_token=mapped.original_id))
        self.last_refused = refused
        next_cursor = page.get("next_cursor")
        return PullBatch(items=items, next_cursor=next_cursor if isinstance(next_cursor, str) else cursor)

    def acknowledge(self, item: PulledCase, case_number: str) -> None:
        self._wire.ack(item.ack_token or item.ref.external_id, case_number)

    def health(self) -> HealthReport:
        try:
            response = self._wire.health()
        except httpx.HTTPError as exc:
            return HealthReport(ok=False, detail=f"{type(exc).__name__}: {exc}")
        return HealthReport(ok=response.is_success, detail=f"HTTP {response.status_code}")

    def close(self) -> None:
        self._wire.close()
