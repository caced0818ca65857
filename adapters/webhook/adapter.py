"""Webhook adapter: one HTTPS endpoint receives canonical events as JSON.

The wire is plain httpx; the mapping is the identity (the canonical shape), so this
adapter is also the template for REST peers that accept our model as it is.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from datetime import datetime, timezone

import httpx
from pydantic import AnyHttpUrl, Field, SecretStr

from hub.integration.contract import (
    Adapter, AdapterContext, AdapterSettings, Delivery, HealthReport, OutboundMessage, PermanentError, TransientError,
)
from hub.domain.model import ExternalRef


class WebhookSettings(AdapterSettings):
    url: AnyHttpUrl = Field(description="Where each message is POSTed.")
    token: SecretStr | None = Field(default=None, description="Sent as 'Authorization: Bearer <token>'.")
    connect_timeout: float = Field(default=3.0, gt=0, description="Seconds to open the connection.")
    timeout: float = Field(default=10.0, gt=0, description="Seconds for the whole exchange.")
    health_path: str = Field(default="/health", description="GET here answers 2xx when the peer is up.")
    system: str | None = Field(default=None, description="If set, the peer's 'id' in the answer is stored as this system's external ref.")


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After is either seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())


def classify_response(response: httpx.Response, now: datetime) -> None:
    """Raise the contract's error for a non-2xx answer; return quietly for 2xx."""
    status = response.status_code
    if 200 <= status < 300:
        return
    body = response.text[:300]
    if status in (408, 425, 429) or status >= 500:
        raise TransientError(f"peer answered {status}", retry_after=retry_after_seconds(response.headers.get("Retry-After"), now), detail=body)
    raise PermanentError(f"peer refused with {status}", detail=body)


class WebhookAdapter(Adapter[WebhookSettings]):
    name = "webhook"
    settings_model = WebhookSettings

    def __init__(self, settings: WebhookSettings, context: AdapterContext) -> None:
        super().__init__(settings, context)
        headers = {"User-Agent": "12345-hub"}
        if settings.token:
            headers["Authorization"] = f"Bearer {settings.token.get_secret_value()}"
        self._client = httpx.Client(headers=headers,
                                    timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout))

    def deliver(self, message: OutboundMessage) -> Delivery:
        try:
            response = self._client.post(str(self.settings.url), json=message.model_dump(mode="json"),
                                         headers={"Idempotency-Key": message.idempotency_key})
        except httpx.TimeoutException as exc:
            raise TransientError(f"timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"transport failed: {type(exc).__name__}: {exc}") from exc
        classify_response(response, self.context.clock.now())
        try:
            answer = response.json() if response.content else {}
        except ValueError as exc:
            raise TransientError("peer answered 2xx with a body that is not JSON", detail=response.text[:200]) from exc
        ref = None
        if self.settings.system and isinstance(answer, dict) and isinstance(answer.get("id"), str) and answer["id"]:
            ref = ExternalRef(system=self.settings.system, external_id=answer["id"])
        return Delivery(external_ref=ref)

    def health(self) -> HealthReport:
        url = httpx.URL(str(self.settings.url)).copy_with(path=self.settings.health_path, query=None)
        try:
            response = self._client.get(url)
        except httpx.HTTPError as exc:
            return HealthReport(ok=False, detail=f"{type(exc).__name__}: {exc}")
        return HealthReport(ok=response.is_success, detail=f"HTTP {response.status_code}")

    def close(self) -> None:
        self._client.close()
