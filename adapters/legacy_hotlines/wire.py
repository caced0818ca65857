"""The wire to a legacy line's REST interface: httpx only, no mapping. Every failure is
the contract's TransientError (retry) or PermanentError (dead-letter)."""

from __future__ import annotations

from typing import Any

import httpx
from urllib.parse import quote

from adapters.webhook.adapter import classify_response
from hub.domain.clock import Clock
from hub.integration.contract import TransientError


class LegacyWire:
    def __init__(self, base_url: str, token: str | None, timeout: float, connect_timeout: float, clock: Clock) -> None:
        headers = {"User-Agent": "12345-hub"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.clock = clock
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers,
                                    timeout=httpx.Timeout(timeout, connect=connect_timeout))

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise TransientError(f"timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"transport failed: {type(exc).__name__}: {exc}") from exc
        classify_response(response, self.clock.now())
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError as exc:
            raise TransientError("the line answered 2xx with a body that is not JSON", detail=response.text[:200]) from exc

    def post_case(self, payload: dict[str, Any], idempotency_key: str) -> Any:
        return self._send("POST", "/cases", json=payload, headers={"Idempotency-Key": idempotency_key})

    def outgoing(self, cursor: str | None) -> Any:
        return self._send("GET", "/cases/outgoing", params={"cursor": cursor} if cursor else {})

    def ack(self, line_id: str, case_number: str) -> Any:
        return self._send("POST", f"/cases/{quote(line_id, safe='')}/ack", json={"hub_case_number": case_number})

    def health(self) -> httpx.Response:
        return self._client.get("/health")

    def close(self) -> None:
        self._client.close()
