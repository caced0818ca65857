"""SMS adapter: a generic HTTP SMS gateway. Each outbox message carries a sealed token (the
phone and the filled template, adapters/sms/seal.py); the adapter opens it, POSTs
{"to", "text", "id"} to the gateway and forgets it. Logs show the phone masked and never the
text (it may carry the retrieval code). A gateway that is down, slow or busy (5xx, 429, a
timeout) is a TransientError: the outbox retries it later, and intake never waits for it."""

from __future__ import annotations

import logging

import httpx
from pydantic import AnyHttpUrl, Field, SecretStr

from adapters.http import classify_response, health_check, health_url, peer_client, send
from adapters.sms.seal import Unsealable, unseal
from hub.domain.access import mask_phone
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

log = logging.getLogger("adapters.sms")


class SmsSettings(AdapterSettings):
    url: AnyHttpUrl = Field(description='The gateway\'s send endpoint: POST {"to", "text", "id"} as JSON.')
    seal_key: SecretStr = Field(
        min_length=16,
        description="Seals the phone and text inside the outbox message (the "
        "channels feature seals with it, this adapter opens). Changing it strands queued SMS.",
    )
    token: SecretStr | None = Field(default=None, description="Sent as 'Authorization: Bearer <token>'.")
    timeout: float = Field(default=10.0, gt=0, description="Seconds for the whole exchange.")
    health_path: str = Field(default="/health", description="GET here answers 2xx when the gateway is up.")


class SmsAdapter(Adapter[SmsSettings]):
    name = "sms"
    settings_model = SmsSettings

    def __init__(self, settings: SmsSettings, context: AdapterContext) -> None:
        super().__init__(settings, context)
        token = settings.token.get_secret_value() if settings.token else None
        self._client = peer_client(token, httpx.Timeout(settings.timeout, connect=min(3.0, settings.timeout)))

    def deliver(self, message: OutboundMessage) -> Delivery:
        sealed = message.event.get("sealed")
        if not isinstance(sealed, str):
            raise PermanentError(f"message {message.idempotency_key} is not an SMS (no sealed token)")
        try:
            to, text = unseal(self.settings.seal_key.get_secret_value(), sealed)
        except Unsealable as exc:
            raise ConfigurationError(str(exc)) from exc
        response = send(
            self._client,
            "POST",
            str(self.settings.url),
            label="SMS gateway ",
            json={"to": to, "text": text, "id": message.idempotency_key},
            headers={"Idempotency-Key": message.idempotency_key},
        )
        classify_response(response, self.context.clock.now())
        log.info("sms %s to %s for case %s sent", message.event.get("template"), mask_phone(to), message.case_number)
        return Delivery(detail=f"sms {message.event.get('template')} to {mask_phone(to)}")

    def health(self) -> HealthReport:
        return health_check(self._client, health_url(self.settings.url, self.settings.health_path))

    def close(self) -> None:
        self._client.close()
