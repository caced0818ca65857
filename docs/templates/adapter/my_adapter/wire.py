"""The wire client: HTTP only. It turns the peer's answers into the contract's errors."""

from __future__ import annotations

from typing import Any

import httpx

from hub.integration.contract import PermanentError, TransientError


class MyClient:
    def __init__(self, base_url: str, token: str, timeout: float, connect_timeout: float) -> None:
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=httpx.Timeout(timeout, connect=connect_timeout)
        )

    def post_case(self, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        try:
            response = self._client.post("/cases", json=body, headers={"Idempotency-Key": idempotency_key})
        except httpx.TimeoutException as exc:
            raise TransientError(f"timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"transport failed: {type(exc).__name__}: {exc}") from exc
        if response.status_code in (408, 425, 429) or response.status_code >= 500:
            retry = response.headers.get("Retry-After")
            raise TransientError(
                f"peer answered {response.status_code}", detail=response.text[:300], retry_after=float(retry) if retry and retry.isdigit() else None
            )
        if response.status_code == 409:
            # "Already have it": the peer deduplicated this Idempotency-Key. For the contract a
            # duplicate is a success (the outbox may send a message again), never a dead letter.
            # Its body names the peer's id for the case, as the first answer did.
            return self._json(response, default={})
        if response.status_code >= 400:
            raise PermanentError(f"peer refused with {response.status_code}", detail=response.text[:300])
        try:
            return response.json()
        except ValueError as exc:  # a 2xx we cannot read: retry; the idempotency key dedupes
            raise TransientError("peer answered 2xx with a body that is not JSON", detail=response.text[:200]) from exc

    @staticmethod
    def _json(response: httpx.Response, default: dict[str, Any]) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            return default
        return body if isinstance(body, dict) else default

    def ping(self) -> bool:
        try:
            return self._client.get("/ping").is_success
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self._client.close()
