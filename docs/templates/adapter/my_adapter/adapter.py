"""The contract's methods, joining the wire client and the translator."""

from __future__ import annotations

from pathlib import Path

from hub.domain.model import ExternalRef
from hub.integration.contract import Adapter, AdapterContext, Delivery, HealthReport, OutboundMessage
from integration_kit import MappingTable, load_tables
from my_adapter.mapping import Translator, tables
from my_adapter.settings import MySettings
from my_adapter.wire import MyClient


class MyAdapter(Adapter[MySettings]):
    name = "my_system"
    settings_model = MySettings

    @classmethod
    def mapping_tables(cls, settings: MySettings, mappings_dir: Path) -> list[MappingTable]:
        return tables(settings.mapping_file)

    def __init__(self, settings: MySettings, context: AdapterContext) -> None:
        super().__init__(settings, context)
        codes = load_tables(self.mapping_tables(settings, context.mappings_dir), context.mappings_dir)[settings.mapping_file]
        self.translator = Translator(codes)
        self.wire = MyClient(str(settings.base_url), settings.api_token.get_secret_value(), settings.timeout, settings.connect_timeout)

    def deliver(self, message: OutboundMessage) -> Delivery:
        answer = self.wire.post_case(self.translator.payload(message), message.idempotency_key)
        peer_id = answer.get("id") if isinstance(answer, dict) else None
        ref = ExternalRef(system=self.settings.system, external_id=peer_id) if isinstance(peer_id, str) and peer_id else None
        return Delivery(external_ref=ref)

    def external_system(self) -> str | None:
        # The outbox then hands later messages of a case the peer's id as message.external_id.
        return self.settings.system

    def health(self) -> HealthReport:
        ok = self.wire.ping()
        return HealthReport(ok=ok, detail="ping ok" if ok else "ping failed")

    def close(self) -> None:
        self.wire.close()
