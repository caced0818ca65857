"""The wire client: HTTP to the repair desk and nothing else. It knows paths, headers and
status codes; it does not know the hub's codes (that is mapping.py)."""

from __future__ import annotations

from typing import Any

import httpx

from hub.integration.contract import PermanentError, TransientError


class RepairDeskClient:
    def __init__(self, base_url: str, app_key: str, timeout: float, connect_timeout: float) -> None:
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), headers={"X-App-Key": app_key, "User-Agent": "12345-hub"}, timeout=httpx.Timeout(timeout, connect=connect_timeout)
        )

    def _send(self, method: str, path: str, **kw: Any) -> Any:
        try:
            response = self._client.request(method, path, **kw)
        except httpx.TimeoutException as exc:
            raise TransientError(f"repair desk timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"repair desk unreachable: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            retry = response.headers.get("Retry-After")
            raise TransientError(f"repair desk answered {status}", detail=response.text[:300], retry_after=float(retry) if retry and retry.isdigit() else None)
        if status >= 400:
            # 4xx: the desk says this request is wrong; resending it cannot help.
            raise PermanentError(f"repair desk refused with {status}", detail=response.text[:300])
        try:
            return response.json() if response.content else {}
        except ValueError as exc:
            # A 2xx we cannot read (a proxy's HTML page): we do not know if it landed; retry, the key dedupes.
            raise TransientError("repair desk answered 2xx with a body that is not JSON", detail=response.text[:200]) from exc

    def post_ticket(self, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        return self._send("POST", "/tickets", json=body, headers={"X-Request-Id": request_id})

    def assignments(self, after: str | None, limit: int) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if after:
            params["after"] = after
        return self._send("GET", "/assignments", params=params)

    def ack(self, ticket_id: str, hub_number: str) -> None:
        self._send("POST", f"/assignments/{ticket_id}/ack", json={"hub_number": hub_number})

    def ping(self) -> bool:
        try:
            return self._client.get("/ping").is_success
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self._client.close()
