"""CountyAdapter: the outbox hands it messages for one county; it sends each to the
county's REST endpoint in the county's own shape (mappings/county/<county>.yaml) and
returns the county's ticket id, which the hub keeps as the case's `county.<county>` ref.

One adapter class serves every county: the destination's settings name the county.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import AnyHttpUrl, Field, SecretStr

from adapters.county.config import CountyConfig, OutboundField, county_files
from adapters.county.mapping import external_ref, get_path, message_to_payload
from adapters.county.wire import CountyWire
from adapters.http import health_url
from hub.domain.events import EVENT_TYPES
from hub.domain.lifecycle import PREVIOUS, TABLE
from hub.domain.model import CaseState
from hub.integration.contract import (
    Adapter,
    AdapterContext,
    AdapterSettings,
    ConfigurationError,
    Delivery,
    HealthReport,
    OutboundMessage,
    PermanentError,
)
from hub.mappings import MappingError, load_yaml_mapping
from integration_kit.tables import MappingTable

# Events that hand the case to units: they go to a county only if one of its units holds it.
_HAND_OVER = {"case.dispatched", "case.redispatched"}


class CountySettings(AdapterSettings):
    county: str = Field(description="The county id: mappings/county/<county>.yaml.")
    url: AnyHttpUrl | None = Field(default=None, description="Overrides outbound.url of the county file (e.g. the sandbox).")
    poll_url: AnyHttpUrl | None = Field(default=None, description="Overrides transport.poll_url of the county file.")
    token: SecretStr | None = Field(default=None, description="Sent as 'Authorization: Bearer <token>' if the county wants one.")
    connect_timeout: float = Field(default=3.0, gt=0)
    timeout: float = Field(default=10.0, gt=0)
    health_path: str = Field(default="/health", description="GET here answers 2xx when the county's system is up.")


class CountyAdapter(Adapter[CountySettings]):
    name = "county"
    settings_model = CountySettings

    @classmethod
    def mapping_tables(cls, settings: CountySettings, mappings_dir: Path) -> list[MappingTable]:
        """For the kit: the county file's outbound events must cover every hub event type it
        does not list under outbound.skip; its status words must name hub states, and cover
        every state the events it is sent leave a case in (a gap dead-letters the message)."""
        file = mappings_dir / "county" / f"{settings.county}.yaml"
        try:
            cfg = load_yaml_mapping(file, CountyConfig).model
        except MappingError:
            cfg = None  # the kit loads the tables itself and reports the file's problems
        skip = set(cfg.outbound.skip) if cfg else set()
        # A status word is needed for every state an event the county is sent can leave the case in.
        states: frozenset[str] | Literal["none"] = "none"
        if cfg and any(isinstance(f, OutboundField) and f.map == "status" for f in cfg.outbound.fields.values()):
            states = states_after(cfg.outbound.events)
        return [
            MappingTable(
                file=file, model=CountyConfig, kind="event_types", entries="outbound.events", cover=frozenset(e for e in EVENT_TYPES.values() if e not in skip)
            ),
            MappingTable(file=file, model=CountyConfig, kind="states", entries="codes.status", cover=states),
        ]

    def __init__(self, settings: CountySettings, context: AdapterContext) -> None:
        super().__init__(settings, context)
        # Only this county's file: the relay builds one adapter per destination and thread, and
        # the hub's start has already checked every county file together.
        files = {path.stem: path for path in county_files(context.mappings_dir)}
        if settings.county not in files:
            raise ConfigurationError(
                f"destination {context.destination!r}: no mappings/county/{settings.county}.yaml; configured: {', '.join(sorted(files)) or 'none'}"
            )
        try:
            self.county: CountyConfig = load_yaml_mapping(files[settings.county], CountyConfig).model
        except MappingError as exc:
            raise ConfigurationError(f"destination {context.destination!r}: {exc}") from exc
        self.url = str(settings.url) if settings.url else self.county.outbound.url
        self._county_units = set(self.county.codes.unit.values())
        self._wire = CountyWire(settings.timeout, settings.connect_timeout, settings.token.get_secret_value() if settings.token else None)

    def deliver(self, message: OutboundMessage) -> Delivery:
        cfg = self.county
        if message.event_type not in cfg.outbound.events:
            return Delivery(detail=f"not sent: {message.event_type} is not in {cfg.county}'s outbound.events")
        ticket_id = message.external_id or _ref(message.case, cfg.system)
        if not self._concerns_county(message, ticket_id):
            return Delivery(detail=f"not sent: none of {cfg.county}'s units holds case {message.case_number}")
        payload = message_to_payload(cfg, message, ticket_id)
        answer = self._wire.post_json(self.url, payload, message.idempotency_key, self.context.clock.now())
        returned = get_path(answer, cfg.outbound.answer_ticket_id) if isinstance(answer, dict) else None
        if returned is None or isinstance(returned, (bool, dict, list)) or str(returned) == "":
            if ticket_id is None:
                raise PermanentError(
                    f"county {cfg.county} accepted case {message.case_number} but its answer has no ticket id at {cfg.outbound.answer_ticket_id}",
                    detail=str(answer)[:300],
                )
            returned = ticket_id
        return Delivery(external_ref=external_ref(cfg, ticket_id or str(returned)), detail=f"{cfg.county} {cfg.outbound.events[message.event_type]}")

    def _concerns_county(self, message: OutboundMessage, ticket_id: str | None) -> bool:
        handling = message.case.get("handling") or {}
        units = {handling.get("lead_unit"), *(handling.get("co_units") or [])}
        if message.event_type in _HAND_OVER:
            data = message.event.get("data") or {}
            units |= {data.get("lead_unit"), *(data.get("co_units") or [])}
        return bool(units & self._county_units) or ticket_id is not None

    def external_system(self) -> str | None:
        return self.county.system

    def health(self) -> HealthReport:
        return self._wire.health(str(health_url(self.url, self.settings.health_path)))

    def close(self) -> None:
        self._wire.close()


def states_after(events: Iterable[str]) -> frozenset[str]:
    """The states a case can be in right after one of these events (lifecycle.TABLE)."""
    actions = {action for action, event_type in EVENT_TYPES.items() if event_type in set(events)}
    out: set[str] = set()
    for t in TABLE:
        if t.action.value not in actions:
            continue
        # A refused request goes back where the unit was: any state the request could come from.
        if t.target == PREVIOUS:
            out |= {r.source.value for r in TABLE if r.target == t.source}
        else:
            out.add(t.target.value if isinstance(t.target, CaseState) else str(t.target))
    return frozenset(out)


def _ref(case: dict[str, Any], system: str) -> str | None:
    for ref in case.get("external_refs") or []:
        if ref.get("system") == system:
            return ref.get("external_id")
    return None
