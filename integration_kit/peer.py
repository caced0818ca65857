"""Peer control: how the kit makes the integrator's peer fail and asks what it received.

Over HTTP the peer (usually the integrator's sandbox simulator) exposes, next to its own API:

    POST /_kit/reset                    forget everything received, clear planned faults -> 204
    POST /_kit/fault  {"mode": "500"}   the NEXT delivery fails this way -> 204; 422 if the mode is unsupported
    GET  /_kit/received                 {"messages": [{"key": "...", "case_number": "...", "event_type": "..."}]}
                                        one item per message the peer ACCEPTED (a duplicate adds none), in order
    POST /_kit/offer                    queue one case for the hub to pull -> 201 {"external_id": "..."};
                                        404 when the peer never assigns cases

Fault modes, in the peer's own terms (a SOAP peer answers a soap:Server fault for "500"):
    "500"      the peer broke (HTTP 5xx, SOAP Server fault)            -> TransientError
    "429"      the peer is busy (HTTP 429/503 with Retry-After)        -> TransientError
    "garbage"  a success status with a body that cannot be parsed      -> TransientError
    "400"      the peer refuses the request as wrong (4xx, SOAP Client fault) -> PermanentError
The kit needs "500" and "400"; it also runs "429" and "garbage" when the peer supports them.

In-process tests pass any object with the same four methods (`PeerControl`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx

REQUIRED_MODES = ("500", "400")
OPTIONAL_MODES = ("429", "garbage")
TRANSIENT_MODES = ("500", "429", "garbage")


class UnsupportedFault(Exception):
    """The peer cannot produce this fault mode."""


class PeerControlError(Exception):
    """The peer's /_kit endpoints did not answer as the protocol says."""


@dataclass(frozen=True)
class Received:
    """One message the peer accepted. `key` is the idempotency key as the peer got it."""

    key: str | None = None
    case_number: str | None = None
    event_type: str | None = None


class PeerControl(Protocol):
    def reset(self) -> None: ...

    def fail_next(self, mode: str) -> None:
        """Make the next delivery fail in `mode`; raise UnsupportedFault if the peer cannot."""
        ...

    def received(self) -> list[Received]: ...

    def offer_case(self) -> str | None:
        """Queue one case for the hub to pull; its external id, or None if the peer never assigns cases."""
        ...


class HttpPeerControl:
    """PeerControl over the /_kit endpoints of a peer at `base_url`."""

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout)

    def _call(self, method: str, path: str, **kw) -> httpx.Response:  # noqa: ANN003
        try:
            return self._client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise PeerControlError(f"{method} {self.base_url}{path}: {type(exc).__name__}: {exc}") from exc

    def _expect(self, response: httpx.Response, *ok: int) -> httpx.Response:
        if response.status_code not in ok:
            raise PeerControlError(
                f"{response.request.method} {response.request.url} answered "
                f"{response.status_code} (expected {' or '.join(map(str, ok))}): {response.text[:200]}"
            )
        return response

    def reset(self) -> None:
        self._expect(self._call("POST", "/_kit/reset"), 200, 204)

    def fail_next(self, mode: str) -> None:
        response = self._call("POST", "/_kit/fault", json={"mode": mode})
        if response.status_code == 422:
            raise UnsupportedFault(f"peer does not support fault mode {mode!r}: {response.text[:200]}")
        self._expect(response, 200, 204)

    def received(self) -> list[Received]:
        response = self._expect(self._call("GET", "/_kit/received"), 200)
        try:
            items = response.json()["messages"]
            return [Received(key=i.get("key"), case_number=i.get("case_number"), event_type=i.get("event_type")) for i in items]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PeerControlError(f'GET {self.base_url}/_kit/received: not {{"messages": [{{"key": ...}}]}}: {response.text[:200]}') from exc

    def offer_case(self) -> str | None:
        response = self._call("POST", "/_kit/offer")
        if response.status_code == 404:
            return None
        self._expect(response, 200, 201)
        try:
            return str(response.json()["external_id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise PeerControlError(f"POST {self.base_url}/_kit/offer: no external_id in {response.text[:200]}") from exc

    def close(self) -> None:
        self._client.close()
