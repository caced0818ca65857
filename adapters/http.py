"""What every in-tree httpx wire shares: sorting what can go wrong in an HTTP call into the
contract's TransientError / PermanentError, as adapters/soap.py does for SOAP.

5xx, 408, 425, 429, timeouts and transport failures are TransientError (with Retry-After
when the peer sends one); any other non-2xx is PermanentError; a 2xx whose body is not JSON
is TransientError (the peer may have applied the call: again, with the same key).

Used by the webhook and SMS adapters, the county wire and the legacy line's REST wire, which
also share their health check here. The
province's REST wire reads its fault codes from the error body (mappings/province/faults.yaml)
and so sorts statuses itself, but its timeouts and transport failures are these.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from hub.integration.contract import AdapterError, HealthReport, PermanentError, TransientError
from hub.integration.http import http_client

# Statuses that say "not now" rather than "never": the peer or a gateway in front of it is
# busy, starting or timed out (RFC 9110 15.5.9, RFC 8470, RFC 6585).
TRANSIENT_STATUSES = frozenset({408, 425, 429})


def transient_status(status: int) -> bool:
    return status in TRANSIENT_STATUSES or status >= 500


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
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def classify_response(response: httpx.Response, now: datetime) -> None:
    """Raise the contract's error for a non-2xx answer; return quietly for 2xx."""
    status = response.status_code
    if 200 <= status < 300:
        return
    body = response.text[:300]
    if transient_status(status):
        raise TransientError(f"peer answered {status}", retry_after=retry_after_seconds(response.headers.get("Retry-After"), now), detail=body)
    raise PermanentError(f"peer refused with {status}", detail=body)


def send(
    client: httpx.Client, method: str, url: Any, *, label: str = "", transient: Callable[[str], AdapterError] = TransientError, **kwargs: Any
) -> httpx.Response:
    """Send; a timeout or a transport failure leaves as `transient` (its message begins with
    `label`), anything the peer answered is returned for the caller to judge."""
    try:
        return client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise transient(f"{label}timed out: {type(exc).__name__}") from exc
    except httpx.TransportError as exc:
        raise transient(f"{label}transport failed: {type(exc).__name__}: {exc}") from exc


def json_answer(response: httpx.Response, now: datetime, who: str = "peer") -> Any:
    """The JSON of a 2xx answer ({} for an empty one); the contract's error otherwise."""
    classify_response(response, now)
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError as exc:
        raise TransientError(f"{who} answered 2xx with a body that is not JSON", detail=response.text[:200]) from exc


def health_url(base: Any, path: str) -> httpx.URL:
    """The peer's health endpoint: `path` on the host of `base`, without its query."""
    return httpx.URL(str(base)).copy_with(path=path, query=None)


def health_check(client: httpx.Client, url: Any) -> HealthReport:
    """GET `url`: ok when the peer answers 2xx; never raises (the contract's health())."""
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        return HealthReport(ok=False, detail=f"{type(exc).__name__}: {exc}")
    return HealthReport(ok=response.is_success, detail=f"HTTP {response.status_code}")


def peer_client(token: str | None, timeout: httpx.Timeout, user_agent: str = "12345-hub", **kwargs: Any) -> httpx.Client:
    """The client of one peer: the hub's User-Agent and, when there is a token, a bearer
    Authorization header on every call (hub.integration.http.http_client underneath)."""
    headers = {"User-Agent": user_agent}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return http_client(headers=headers, timeout=timeout, **kwargs)
