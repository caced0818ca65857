"""Sandbox peer: a stand-in for MY SYSTEM on loopback, with the kit's /_kit control endpoints.

uvicorn --factory my_adapter.peer:create_app --port 9100
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, PlainTextResponse

FAULTS = ("500", "429", "400", "garbage")


@dataclass
class PeerState:
    token: str = "sandbox-token"
    received: dict[str, dict[str, Any]] = field(default_factory=dict)  # Idempotency-Key -> body
    order: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def create_app(state: PeerState | None = None) -> FastAPI:
    state = state or PeerState()
    app = FastAPI(title="sandbox MY SYSTEM")

    @app.get("/api/ping")
    def ping() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/api/cases")
    async def post_case(
        request: Request, authorization: str | None = Header(default=None), idempotency_key: str | None = Header(default=None, alias="Idempotency-Key")
    ):
        if authorization != f"Bearer {state.token}":
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        with state.lock:
            fault = state.faults.pop(0) if state.faults else None
        if fault == "500":
            return PlainTextResponse("broken", status_code=500)
        if fault == "429":
            return PlainTextResponse("busy", status_code=429, headers={"Retry-After": "1"})
        if fault == "400":
            return JSONResponse({"error": "bad request"}, status_code=400)
        if fault == "garbage":
            return PlainTextResponse("<html>proxy", status_code=200)
        body = await request.json()
        if not idempotency_key:
            return JSONResponse({"error": "Idempotency-Key required"}, status_code=400)
        with state.lock:
            duplicate = idempotency_key in state.received
            if not duplicate:
                state.received[idempotency_key] = body
                state.order.append(idempotency_key)
        if duplicate:  # as many systems answer a repeated key: 409, naming what it already holds
            return JSONResponse({"error": "duplicate", "id": f"MY-{body['case_no']}"}, status_code=409)
        return {"id": f"MY-{body['case_no']}"}

    @app.post("/_kit/reset", status_code=204)
    def kit_reset() -> None:
        with state.lock:
            state.received.clear()
            state.order.clear()
            state.faults.clear()

    @app.post("/_kit/fault", status_code=204)
    async def kit_fault(request: Request):
        mode = (await request.json()).get("mode")
        if mode not in FAULTS:
            return JSONResponse({"error": f"mode {mode!r} not supported"}, status_code=422)
        with state.lock:
            state.faults.append(mode)
        return None

    @app.get("/_kit/received")
    def kit_received() -> dict[str, Any]:
        with state.lock:
            return {"messages": [{"key": k, "case_number": state.received[k]["case_no"]} for k in state.order]}

    return app
