"""The adapter: the contract's methods, joining the wire client and the translator."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from hotline_hub_example_soap_adapter.mapping import Translator, tables
from hotline_hub_example_soap_adapter.settings import NeighbourSettings
from hotline_hub_example_soap_adapter.wire import PlatformClient, ResultPolicy
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
)
from integration_kit import MappingTable, load_tables


class NeighbourAdapter(Adapter[NeighbourSettings]):
    name = "example_neighbour"
    settings_model = NeighbourSettings
    supports_pull = True

    @classmethod
    def mapping_tables(cls, settings: NeighbourSettings, mappings_dir: Path) -> list[MappingTable]:
        return tables(settings.mapping_file)

    def __init__(self, settings: NeighbourSettings, context: AdapterContext) -> None:
        super().__init__(settings, context)
        # A bad code table or WSDL stops the hub's start here, saying which file and why.
        codes = load_tables(self.mapping_tables(settings, context.mappings_dir), context.mappings_dir)[settings.mapping_file]
        self.translator = Translator(codes, settings.system)
        self.wire = PlatformClient(
            wsdl=settings.wsdl,
            endpoint=str(settings.endpoint),
            username=settings.username,
            password=settings.password.get_secret_value(),
            results=ResultPolicy(ok=frozenset(codes.result_codes.ok), transient=frozenset(codes.result_codes.transient)),
            timeout=settings.timeout,
            connect_timeout=settings.connect_timeout,
        )

    def deliver(self, message: OutboundMessage) -> Delivery:
        # The platform opens a ticket with ReportTicket and takes every later change with UpdateTicket.
        if message.event_type == "case.registered":
            answer = self.wire.report_ticket(self.translator.report_ticket(message))
        else:
            answer = self.wire.update_ticket(self.translator.update_ticket(message))
        ticket_id = answer.get("PlatformTicketId")
        ref = ExternalRef(system=self.settings.system, external_id=ticket_id) if isinstance(ticket_id, str) and ticket_id else None
        return Delivery(external_ref=ref)

    def pull(self, cursor: str | None) -> PullBatch:
        page = self.wire.fetch_transfers(cursor, self.settings.page_size)
        items = []
        for transfer in page.get("Transfer") or []:
            try:
                ref, draft = self.translator.draft(transfer)
            except (KeyError, TypeError, ValueError, ValidationError) as exc:
                raise MappingFailure(f"transfer {transfer.get('TransferId')!r} cannot be read: {exc}") from exc
            items.append(PulledCase(ref=ref, draft=draft, ack_token=ref.external_id))
        return PullBatch(items=items, next_cursor=page.get("NextCursor") or cursor)

    def acknowledge(self, item: PulledCase, case_number: str) -> None:
        transfer_id = item.ack_token or item.ref.external_id
        # Stable across retries of the same acknowledgement, so the platform applies it once.
        self.wire.ack_transfer(f"ack-{transfer_id}-{case_number}", transfer_id, case_number)

    def external_system(self) -> str | None:
        # The outbox then hands later messages of a case the peer's id as message.external_id.
        return self.settings.system

    def health(self) -> HealthReport:
        problem = self.wire.heartbeat()
        return HealthReport(ok=problem is None, detail=problem or "Heartbeat ok")

    def close(self) -> None:
        self.wire.close()
