"""The wire to a county's REST API: httpx and HTTP status classification (adapters/http.py),
nothing else.

5xx, 408, 425, 429, timeouts and transport failures are TransientError (with Retry-After
when the county sends one); any other non-2xx is PermanentError.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from adapters.http import health_check, json_answer, peer_client, send
from hub.integration.contract import HealthReport


class CountyWire:
    def __init__(self, timeout: float, connect_timeout: float, token: str | None = None) -> None:
        self._client = peer_client(token, httpx.Timeout(timeout, connect=connect_timeout), user_agent="12345-hub county adapter")

    def _send(self, method: str, url: str, now: datetime, **kwargs: Any) -> Any:
        return json_answer(send(self._client, method, url, label="county ", **kwargs), now, who="county")

    def post_json(self, url: str, payload: dict[str, Any], idempotency_key: str, now: datetime) -> Any:
        return self._send("POST", url, now, json=payload, headers={"Idempotency-Key": idempotency_key})

    def get_json(self, url: str, params: dict[str, str], now: datetime) -> Any:
        return self._send("GET", url, now, params=params)

    def health(self, url: str) -> HealthReport:
        return health_check(self._client, url)

    def close(self) -> None:
        self._client.close()
