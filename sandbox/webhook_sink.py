"""A sandbox peer that receives webhook deliveries: it keeps each message once per
Idempotency-Key (as a well-behaved peer does) and can be told to fail, so tests and
newcomers can watch retries, dead letters and dedupe happen over real HTTP."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from integration_kit.peer_routes import kit_routes


@dataclass
class SinkState:
    received: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> message, first copy
    order: list[str] = field(default_factory=list)
    attempts: int = 0
    duplicates: int = 0
    # Fault plan: each request pops the next fault, if any ('ok', '500', '429', 'slow', 'garbage', '400').
    # (A reset connection is a transport fault: tests put tests.support.faults.ResettingProxy in front.)
    faults: list[str] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)  # size of each batch received
    slow_seconds: float = 5.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def create_sink(state: SinkState | None = None) -> FastAPI:
    state = state or SinkState()
    app = FastAPI(title="sandbox webhook sink")
    app.state.sink = state

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/events")
    async def receive(request: Request, idempotency_key: str | None = Header(default=None, alias="Idempotency-Key")):
        with state.lock:
            state.attempts += 1
            fault = state.faults.pop(0) if state.faults else "ok"
        answer = _fault_answer(fault, state)
        if answer is not None:
            return answer
        if not idempotency_key:
            return JSONResponse({"error": "Idempotency-Key required"}, status_code=400)
        body = await request.json()
        with state.lock:
            if idempotency_key in state.received:
                state.duplicates += 1
            else:
                state.received[idempotency_key] = body
                state.order.append(idempotency_key)
        await _answer_late(fault, state)
        return {"id": f"SINK-{body.get('case_number', '?')}", "key": idempotency_key}

    @app.post("/events/batch")
    async def receive_batch(request: Request):
        """Up to 500 messages at once, each kept once per its idempotency_key, with a
        verdict per message (docs/outbox.md, 'Batch delivery')."""
        with state.lock:
            state.attempts += 1
            fault = state.faults.pop(0) if state.faults else "ok"
        if fault in ("500", "429", "400", "slow", "garbage"):
            answer = _fault_answer(fault, state)
            if answer is not None:
                return answer
        try:
            body = await request.json()
        except ValueError:
            body = None
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not all(isinstance(m, dict) and m.get("idempotency_key") for m in messages):
            return JSONResponse({"error": "messages: a list of messages, each with its idempotency_key"}, status_code=400)
        results = []
        with state.lock:
            for m in messages:
                key = str(m["idempotency_key"])
                if m.get("event_type") == "sink.refuse":  # lets tests refuse one message of a batch
                    results.append({"idempotency_key": key, "status": "rejected", "error": "refused by the sink"})
                    continue
                if key in state.received:
                    state.duplicates += 1
                    status = "duplicate"
                else:
                    state.received[key] = m
                    state.order.append(key)
                    status = "accepted"
                results.append({"idempotency_key": key, "status": status, "id": f"SINK-{m.get('case_number', '?')}"})
        state.batches.append(len(messages))
        await _answer_late(fault, state)
        return {"results": results}

    @app.get("/received")
    def received() -> dict[str, Any]:
        with state.lock:
            return {"count": len(state.order), "duplicates": state.duplicates, "attempts": state.attempts, "messages": [state.received[k] for k in state.order]}

    # -- the conformance kit's peer control (docs/integrator-guide.md, integration_kit/peer.py),
    # the kit's own routes as the county and legacy SOAP sandboxes mount them; the sink assigns
    # no cases, so POST /_kit/offer answers 404.
    def reset() -> None:
        with state.lock:
            state.received.clear()
            state.order.clear()
            state.faults.clear()
            state.batches.clear()
            state.attempts = state.duplicates = 0

    def plan(mode: str) -> None:
        with state.lock:
            state.faults.append(mode)

    def kit_received() -> list[dict[str, Any]]:
        with state.lock:
            return [{"key": k, "case_number": state.received[k].get("case_number"), "event_type": state.received[k].get("event_type")} for k in state.order]

    app.include_router(kit_routes(modes=KIT_FAULTS, reset=reset, plan=plan, received=kit_received, no_offer="the webhook sink assigns no cases to pull"))
    return app


async def _answer_late(fault: str, state: SinkState) -> None:
    """'slow': the peer has applied the message but answers after slow_seconds (past a client's
    timeout: the client retries what the peer already holds, and its key dedupes it). The
    sleep does not block the sink's other connections, as a slow peer's would not."""
    if fault == "slow":
        await asyncio.sleep(state.slow_seconds)


def _fault_answer(fault: str, state: SinkState):
    """The answer a planned fault gives instead of the normal one (None: answer normally)."""
    if fault == "500":
        return PlainTextResponse("upstream broke", status_code=500)
    if fault == "429":
        return PlainTextResponse("slow down", status_code=429, headers={"Retry-After": "1"})
    if fault == "400":
        return JSONResponse({"error": "bad case"}, status_code=400)
    if fault == "garbage":
        return PlainTextResponse("<html>proxy error", status_code=200)
    return None


# The sink's faults the kit may plan through POST /_kit/fault.
KIT_FAULTS = ("500", "429", "400", "garbage", "slow")
