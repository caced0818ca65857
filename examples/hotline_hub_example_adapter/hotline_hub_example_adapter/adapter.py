"""The adapter: the contract's methods, joining the wire client and the translator."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from hotline_hub_example_adapter.mapping import Translator, tables
from hotline_hub_example_adapter.settings import WaterworksSettings
from hotline_hub_example_adapter.wire import RepairDeskClient
from hub.domain.model import ExternalRef
from hub.integration.contract import (
    Adapter,
    AdapterContext,
    Delivery,
    HealthReport,
    MappingFailure,
    OutboundMessage,
    PullBatch,
    PulledCase,
    TransientError,
)
from integration_kit import MappingTable, load_tables


class WaterworksAdapter(Adapter[WaterworksSettings]):
    name = "example_waterworks"
    settings_model = WaterworksSettings
    supports_pull = True

    @classmethod
    def mapping_tables(cls, settings: WaterworksSettings, mappings_dir: Path) -> list[MappingTable]:
        return tables(settings.mapping_file)

    def __init__(self, settings: WaterworksSettings, context: AdapterContext) -> None:
        super().__init__(settings, context)
        # A bad or incomplete code table stops the hub's start here, with file and line.
        codes = load_tables(self.mapping_tables(settings, context.mappings_dir), context.mappings_dir)[settings.mapping_file]
        self.translator = Translator(codes, settings.system)
        self.wire = RepairDeskClient(str(settings.base_url), settings.app_key.get_secret_value(), settings.timeout, settings.connect_timeout)

    def deliver(self, message: OutboundMessage) -> Delivery:
        answer = self.wire.post_ticket(self.translator.ticket(message), request_id=message.idempotency_key)
        ticket_id = answer.get("ticketId") if isinstance(answer, dict) else None
        if not isinstance(ticket_id, str) or not ticket_id:
            raise TransientError("repair desk accepted the ticket but returned no ticketId", detail=str(answer)[:200])
        return Delivery(external_ref=ExternalRef(system=self.settings.system, external_id=ticket_id))

    def pull(self, cursor: str | None) -> PullBatch:
        page = self.wire.assignments(cursor, self.settings.page_size)
        items = []
        for raw in page.get("items", []):
            try:
                ref, draft = self.translator.draft(raw)
            except (KeyError, TypeError, ValueError, ValidationError) as exc:
                raise MappingFailure(f"assignment {raw.get('ticketId')!r} cannot be read: {exc}") from exc
            items.append(PulledCase(ref=ref, draft=draft, ack_token=ref.external_id))
        return PullBatch(items=items, next_cursor=page.get("next") or cursor)

    def acknowledge(self, item: PulledCase, case_number: str) -> None:
        self.wire.ack(item.ack_token or item.ref.external_id, case_number)

    def external_system(self) -> str | None:
        # The outbox then hands later messages of a case the peer's id as message.external_id.
        return self.settings.system

    def health(self) -> HealthReport:
        ok = self.wire.ping()
        return HealthReport(ok=ok, detail="ping ok" if ok else "ping failed")

    def close(self) -> None:
        self.wire.close()
