"""The wire to a legacy line's REST interface: httpx only, no code translation. Every failure
is the contract's TransientError (retry) or PermanentError (dead-letter).

    POST /cases                a 12345 case (the line's column names); answers {"id": ...}
    POST /status-changes       a later change of a case the line holds; 404: it holds none
    GET  /cases/outgoing       cases the line took itself: {"items": [...], "next_cursor"}
    POST /cases/{id}/ack       12345 holds one of them as hub_case_number
    GET  /health
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from adapters.http import health_check, json_answer, peer_client, send
from adapters.legacy_hotlines.bridge.wire import OutgoingCase, StatusChange, TakenPage
from adapters.legacy_hotlines.config import LineMapping
from hub.domain.clock import Clock
from hub.integration.contract import HealthReport, PermanentError


class LegacyWire:
    def __init__(self, base_url: str, token: str | None, timeout: float, connect_timeout: float, clock: Clock) -> None:
        self.clock = clock
        self._client = peer_client(token, httpx.Timeout(timeout, connect=connect_timeout), base_url=base_url.rstrip("/"))

    def _send(self, method: str, path: str, *, missing: Any = None, **kwargs: Any) -> Any:
        response = send(self._client, method, path, **kwargs)
        if missing is not None and response.status_code == 404:
            return missing
        return json_answer(response, self.clock.now(), who="the line")

    def post_case(self, payload: dict[str, Any], idempotency_key: str) -> Any:
        return self._send("POST", "/cases", json=payload, headers={"Idempotency-Key": idempotency_key})

    def post_status(self, payload: dict[str, Any], idempotency_key: str) -> Any:
        """The line's answer, or None when it holds no such case (404)."""
        answer = self._send("POST", "/status-changes", missing=_MISSING, json=payload, headers={"Idempotency-Key": idempotency_key})
        return None if answer is _MISSING else answer

    def outgoing(self, cursor: str | None) -> Any:
        return self._send("GET", "/cases/outgoing", params={"cursor": cursor} if cursor else {})

    def ack(self, line_id: str, case_number: str) -> Any:
        return self._send("POST", f"/cases/{quote(line_id, safe='')}/ack", json={"hub_case_number": case_number})

    def health(self) -> HealthReport:
        return health_check(self._client, "/health")

    def close(self) -> None:
        self._client.close()


_MISSING = object()


class RestLine:
    """The LineTransport over REST: cases in the line's own column names (its mapping file's
    `fields`) and date format (the first of `date_formats`), as its exports write them."""

    def __init__(self, wire: LegacyWire, mapping: LineMapping) -> None:
        self.wire, self.mapping = wire, mapping

    def payload(self, case: OutgoingCase) -> dict[str, Any]:
        f, out = self.mapping.fields, {"hub_case_number": case.hub_case_number}
        for name, value in case.fields.items():
            column = getattr(f, name)
            if column is None or value is None:
                continue
            out[column] = value.strftime(self.mapping.date_formats[0]) if name == "received_at" else value
        return out

    def submit(self, case: OutgoingCase, key: str) -> str:
        answer = self.wire.post_case(self.payload(case), key)
        line_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(line_id, str) or not line_id:
            raise PermanentError(f"line {self.mapping.line} accepted the case but answered no 'id'", detail=str(answer)[:200])
        return line_id

    def push_status(self, change: StatusChange, key: str) -> bool:
        body = {
            "hub_case_number": change.hub_case_number,
            "id": change.line_case_id,
            "seq": change.seq,
            "event": change.event,
            "hub_state": change.hub_state,
            "status": change.status_code,
            "occurred_at": change.occurred_at.strftime(self.mapping.date_formats[0]),
            "unit": change.unit_code,
            "unit_name": change.unit_name,
            "opinion": change.opinion,
        }
        return self.wire.post_status({k: v for k, v in body.items() if v is not None}, key) is not None

    def taken(self, cursor: str | None) -> TakenPage:
        page = self.wire.outgoing(cursor)
        if not isinstance(page, dict) or not isinstance(page.get("items", []), list):
            raise PermanentError(f"line {self.mapping.line} answered a page that is not {{items: [...]}}", detail=str(page)[:200])
        next_cursor = page.get("next_cursor")
        return TakenPage(rows=list(page.get("items") or []), next_cursor=next_cursor if isinstance(next_cursor, str) else cursor)

    def acknowledge(self, line_case_id: str, hub_case_number: str) -> None:
        self.wire.ack(line_case_id, hub_case_number)

    def health(self) -> HealthReport:
        return self.wire.health()

    def close(self) -> None:
        self.wire.close()
