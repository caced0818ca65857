"""The contract's methods, joining the wire client and the translator."""

from __future__ import annotations

from pathlib import Path

from hub.domain.model import ExternalRef
from hub.integration.contract import Adapter, AdapterContext, Delivery, HealthReport, OutboundMessage
from integration_kit import MappingTable, load_tables
from my_soap_adapter.mapping import Translator, tables
from my_soap_adapter.settings import MySoapSettings
from my_soap_adapter.wire import MySoapClient, ResultPolicy


class MySoapAdapter(Adapter[MySoapSettings]):
    name = "my_soap_system"
    settings_model = MySoapSettings

    @classmethod
    def mapping_tables(cls, settings: MySoapSettings, mappings_dir: Path) -> list[MappingTable]:
        return tables(settings.mapping_file)

    def __init__(self, settings: MySoapSettings, context: AdapterContext) -> None:
        super().__init__(settings, context)
        # A bad code table or WSDL stops the hub's start here, saying which file and why.
        codes = load_tables(self.mapping_tables(settings, context.mappings_dir), context.mappings_dir)[settings.mapping_file]
        self.translator = Translator(codes)
        self.wire = MySoapClient(
            wsdl=settings.wsdl,
            endpoint=str(settings.endpoint),
            username=settings.username,
            password=settings.password.get_secret_value(),
            results=ResultPolicy(ok=frozenset(codes.result_codes.ok), transient=frozenset(codes.result_codes.transient)),
            timeout=settings.timeout,
            connect_timeout=settings.connect_timeout,
        )

    def deliver(self, message: OutboundMessage) -> Delivery:
        answer = self.wire.submit_case(self.translator.submit_case(message))
        case_id = answer.get("CaseId")
        ref = ExternalRef(system=self.settings.system, external_id=case_id) if isinstance(case_id, str) and case_id else None
        return Delivery(external_ref=ref)

    def external_system(self) -> str | None:
        # The outbox then hands later messages of a case the peer's id as message.external_id.
        return self.settings.system

    def health(self) -> HealthReport:
        problem = self.wire.ping()
        return HealthReport(ok=problem is None, detail=problem or "Ping ok")

    def close(self) -> None:
        self.wire.close()
