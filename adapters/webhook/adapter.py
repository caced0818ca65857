"""Webhook adapter: one HTTPS endpoint receives canonical events as JSON.

The wire is plain httpx; the mapping is the identity (the canonical shape), so this
adapter is also the template for REST peers that accept our model as it is.
"""

from __future__ import annotations

import httpx
from pydantic import AnyHttpUrl, Field, SecretStr, model_validator

from adapters.http import classify_response, health_check, health_url, json_answer, peer_client, send
from hub.domain.model import ExternalRef
from hub.integration.contract import (
    Adapter,
    AdapterContext,
    AdapterError,
    AdapterSettings,
    Delivery,
    HealthReport,
    OutboundMessage,
    PermanentError,
    TransientError,
)


class WebhookSettings(AdapterSettings):
    url: AnyHttpUrl = Field(description="Where each message is POSTed.")
    token: SecretStr | None = Field(default=None, description="Sent as 'Authorization: Bearer <token>'.")
    connect_timeout: float = Field(default=3.0, gt=0, description="Seconds to open the connection.")
    timeout: float = Field(default=10.0, gt=0, description="Seconds for the whole exchange.")
    health_path: str = Field(default="/health", description="GET here answers 2xx when the peer is up.")
    system: str | None = Field(default=None, description="If set, the peer's 'id' in the answer is stored as this system's external ref.")
    batch_url: AnyHttpUrl | None = Field(
        default=None,
        description="The peer's batch endpoint, if it has one: up to "
        'batch_size messages POSTed at once as {"messages": [...]}, answered per '
        "message (docs/outbox.md, 'Batch delivery').",
    )
    batch_size: int = Field(default=1, ge=1, le=500, description="Messages per POST to batch_url; 1: one POST per message to url.")

    @model_validator(mode="after")
    def _batch_needs_its_url(self) -> WebhookSettings:
        if self.batch_size > 1 and self.batch_url is None:
            raise ValueError("batch_size > 1 needs batch_url (the peer's batch endpoint)")
        return self


# How the peer says how each message of a batch went.
_BATCH_OK = {"accepted", "duplicate"}
_BATCH_RETRY = {"retry", "busy"}
_BATCH_REFUSED = {"rejected"}


class WebhookAdapter(Adapter[WebhookSettings]):
    name = "webhook"
    settings_model = WebhookSettings

    def __init__(self, settings: WebhookSettings, context: AdapterContext) -> None:
        super().__init__(settings, context)
        token = settings.token.get_secret_value() if settings.token else None
        self._client = peer_client(token, httpx.Timeout(settings.timeout, connect=settings.connect_timeout))

    def deliver(self, message: OutboundMessage) -> Delivery:
        response = send(
            self._client, "POST", str(self.settings.url), json=message.model_dump(mode="json"), headers={"Idempotency-Key": message.idempotency_key}
        )
        answer = json_answer(response, self.context.clock.now())
        ref = None
        if self.settings.system and isinstance(answer, dict) and isinstance(answer.get("id"), str) and answer["id"]:
            ref = ExternalRef(system=self.settings.system, external_id=answer["id"])
        return Delivery(external_ref=ref)

    def external_system(self) -> str | None:
        return self.settings.system

    def batch_limit(self) -> int:
        return self.settings.batch_size

    def deliver_batch(self, messages: list[OutboundMessage]) -> list[Delivery | AdapterError]:
        """One POST to batch_url for the lot; each message keeps its own Idempotency-Key
        (in the body) and gets its own verdict from the peer's `results`."""
        if self.settings.batch_url is None or len(messages) == 1:
            return super().deliver_batch(messages)
        try:
            response = send(self._client, "POST", str(self.settings.batch_url), json={"messages": [m.model_dump(mode="json") for m in messages]})
        except TransientError as exc:
            return [exc] * len(messages)
        try:
            classify_response(response, self.context.clock.now())
        except PermanentError:
            # The peer refused the batch as a whole (one bad message, too large): each
            # message on its own gets its own verdict instead of sharing a neighbour's.
            return [r for m in messages for r in self._deliver_alone(m)]
        except TransientError as exc:
            return [exc] * len(messages)
        return self._batch_results(response, messages)

    def _deliver_alone(self, message: OutboundMessage) -> list[Delivery | AdapterError]:
        try:
            response = send(self._client, "POST", str(self.settings.batch_url), json={"messages": [message.model_dump(mode="json")]})
            classify_response(response, self.context.clock.now())
        except AdapterError as exc:
            return [exc]
        return self._batch_results(response, [message])

    def _batch_results(self, response: httpx.Response, messages: list[OutboundMessage]) -> list[Delivery | AdapterError]:
        try:
            answer = response.json()
            items = answer["results"]
            by_key = {str(i["idempotency_key"]): i for i in items if isinstance(i, dict) and "idempotency_key" in i}
        except (ValueError, KeyError, TypeError):
            error = TransientError("peer answered 2xx without per-message results", detail=response.text[:200])
            return [error] * len(messages)
        results: list[Delivery | AdapterError] = []
        for m in messages:
            item = by_key.get(m.idempotency_key) or {}
            status = str(item.get("status", ""))
            if status in _BATCH_OK:
                ref = None
                if self.settings.system and isinstance(item.get("id"), str) and item["id"]:
                    ref = ExternalRef(system=self.settings.system, external_id=item["id"])
                results.append(Delivery(external_ref=ref))
            elif status in _BATCH_REFUSED:
                results.append(PermanentError("peer refused the message", detail=str(item.get("error", ""))[:300]))
            elif status in _BATCH_RETRY:
                results.append(TransientError("peer asked to retry the message", detail=str(item.get("error", ""))[:300]))
            else:  # no verdict for it: it may or may not have been kept, so send it again (the key dedupes)
                results.append(TransientError(f"peer gave no verdict for this message (status {status!r})"))
        return results

    def health(self) -> HealthReport:
        return health_check(self._client, health_url(self.settings.url, self.settings.health_path))

    def close(self) -> None:
        self._client.close()
