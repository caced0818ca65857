"""A sandbox SMS gateway (a real HTTP server on loopback) for tests and `make run`: it keeps
each SMS once per id, as a gateway that dedupes does, and can be told to be down."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse

from hub.domain.access import mask_phone


@dataclass
class GatewayState:
    messages: list[dict[str, Any]] = field(default_factory=list)  # {"to", "text", "id"}, first copy of each id
    attempts: int = 0
    down: bool = False  # answer 503 to every send (a gateway outage)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def to(self, phone: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.messages if m["to"] == phone]


def create_gateway(state: GatewayState | None = None) -> FastAPI:
    state = state or GatewayState()
    app = FastAPI(title="sandbox SMS gateway")
    app.state.gateway = state

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "down" if state.down else "ok"}

    @app.post("/send")
    async def send(request: Request, idempotency_key: str | None = Header(default=None, alias="Idempotency-Key")):
        with state.lock:
            state.attempts += 1
            if state.down:
                return JSONResponse({"error": "gateway down (sandbox)"}, status_code=503, headers={"Retry-After": "1"})
        body = await request.json()
        if not isinstance(body, dict) or not all(isinstance(body.get(k), str) and body[k] for k in ("to", "text", "id")):
            return JSONResponse({"error": "to, text and id are required"}, status_code=400)
        with state.lock:
            if all(m["id"] != body["id"] for m in state.messages):
                state.messages.append({"to": body["to"], "text": body["text"], "id": body["id"]})
        return {"status": "queued", "id": body["id"]}

    @app.get("/messages")
    def messages(to: str | None = None) -> list[dict[str, Any]]:
        """What the gateway was given (the sandbox's phones are made up): ?to=138... for one phone."""
        with state.lock:
            return [m for m in state.messages if to is None or m["to"] == to]

    @app.post("/sandbox/down")
    def set_down(down: bool = True) -> dict[str, Any]:
        state.down = down
        return {"down": state.down}

    return app


def describe(message: dict[str, Any]) -> str:
    """A log line for a received SMS: the phone masked, the text left out (it may hold a code)."""
    return f"sms: to {mask_phone(message['to'])} ({len(message['text'])} characters)"
