"""A sandbox county ticket system over real HTTP, shaped by the county's own file.

It receives dispatched cases at the county's outbound endpoint (kept once per
Idempotency-Key, a ticket id assigned on first sight), pushes tickets and updates to the
hub (signed when the county signs), serves a poll feed for counties that cannot push, and
fails on request (fault modes) so retries and dead letters can be watched.

    create_app(CountySandboxState(cfg, hub_url=..., api_key=..., secret=...))

Control endpoints (sandbox only): POST /control/tickets, POST /control/tickets/{id}/updates
(push to the hub), POST /control/feed (queue items for the poll feed), POST /control/faults,
GET /received.

In `hotline-hub sandbox` a CountyDesk (adapters/county/sandbox_desk.py) plays the county's
staff: it signs off and replies to what the hub dispatched and now and then registers a
ticket of its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from adapters.county.config import CountyConfig
from adapters.county.mapping import get_path, set_path
from adapters.county.signing import signed_headers
from integration_kit.peer_routes import kit_routes

log = logging.getLogger("hub.sandbox.county")

FAULTS = ("ok", "500", "503", "429", "400", "slow", "garbage", "no_id")
KIT_MODES = ("500", "429", "400", "garbage")  # the kit's fault modes this sandbox produces


@dataclass
class CountySandboxState:
    cfg: CountyConfig
    hub_url: str | None = None
    api_key: str | None = None
    secret: str | None = None
    clock: Callable[[], float] = time.time  # the county's own clock (Unix seconds), for signing
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)  # ticket id -> latest payload
    received: dict[str, dict[str, Any]] = field(default_factory=dict)  # Idempotency-Key -> first payload
    answers: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> ticket id answered
    order: list[str] = field(default_factory=list)
    attempts: int = 0
    duplicates: int = 0
    faults: list[str] = field(default_factory=list)
    slow_seconds: float = 5.0
    feed: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # ("tickets"|"updates", item)
    page_size: int = 50
    run: str = ""  # put in the ticket ids it makes up (sandbox.run.run_stamp), so runs never collide
    pushed: dict[str, str | None] = field(default_factory=dict)  # ticket id it registered itself -> hub case number
    lock: threading.Lock = field(default_factory=threading.Lock)
    _seq: int = 0

    def next_ticket_id(self) -> str:
        self._seq += 1
        return f"{self.cfg.county.upper()}-{self.run}{self._seq:06d}"

    # -- pushing to the hub (what the county's system does) ----------------------------------
    def push(self, path: str, payload: Any, idempotency_key: str | None = None, raw: bytes | None = None, timestamp: int | None = None) -> httpx.Response:
        if not self.hub_url or not self.api_key:
            raise RuntimeError("the sandbox county needs hub_url and api_key to push")
        body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
        headers = {"X-API-Key": self.api_key, "Content-Type": "application/json"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if self.secret:
            headers.update(signed_headers(self.secret, int(timestamp if timestamp is not None else self.clock()), body))
        return httpx.post(f"{self.hub_url}{path}", content=body, headers=headers, timeout=30)

    def push_tickets(self, tickets: Any, idempotency_key: str | None = None) -> httpx.Response:
        return self.push(f"/api/v1/counties/{self.cfg.county}/tickets", tickets, idempotency_key)

    def push_update(self, ticket_id: str, update: dict[str, Any]) -> httpx.Response:
        return self.push(f"/api/v1/counties/{self.cfg.county}/tickets/{ticket_id}/updates", update)


def _ticket_field(cfg: CountyConfig) -> str | None:
    """Where the county's own ticket id sits in what the hub sends it."""
    for target, spec in cfg.outbound.fields.items():
        if getattr(spec, "source", None) == "ticket_id":
            return target
    return None


def path_of(url: str) -> str:
    return httpx.URL(url).path or "/"


def create_app(state: CountySandboxState) -> FastAPI:
    cfg = state.cfg
    app = FastAPI(title=f"sandbox county {cfg.county} ({cfg.name_zh})")
    app.state.county = state
    ticket_field = _ticket_field(cfg)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "county": cfg.county}

    @app.post(path_of(cfg.outbound.url))
    async def receive(request: Request, idempotency_key: str | None = Header(default=None, alias="Idempotency-Key")):
        with state.lock:
            state.attempts += 1
            fault = state.faults.pop(0) if state.faults else "ok"
        if fault in ("500", "503"):
            return PlainTextResponse("county system broke", status_code=int(fault))
        if fault == "429":
            return PlainTextResponse("slow down", status_code=429, headers={"Retry-After": "2"})
        if fault == "400":
            return JSONResponse({"error": "bad ticket"}, status_code=400)
        if fault == "slow":
            await asyncio.sleep(state.slow_seconds)  # not time.sleep: that would stop every other request too
        if fault == "garbage":
            return PlainTextResponse("<html>proxy error", status_code=200)
        if not idempotency_key:
            return JSONResponse({"error": "Idempotency-Key required"}, status_code=400)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "not JSON"}, status_code=400)
        with state.lock:
            if idempotency_key in state.received:
                state.duplicates += 1
                ticket_id = state.answers[idempotency_key]
            else:
                known = get_path(body, ticket_field) if ticket_field else None
                ticket_id = str(known) if known else state.next_ticket_id()
                if ticket_field:
                    set_path(body, ticket_field, ticket_id)
                state.received[idempotency_key] = body
                state.answers[idempotency_key] = ticket_id
                state.order.append(idempotency_key)
                state.tickets[ticket_id] = body
        answer: dict[str, Any] = {}
        if fault != "no_id":
            set_path(answer, cfg.outbound.answer_ticket_id, ticket_id)
        return answer

    @app.get("/received")
    def received() -> dict[str, Any]:
        with state.lock:
            return {
                "count": len(state.order),
                "duplicates": state.duplicates,
                "attempts": state.attempts,
                "messages": [state.received[k] for k in state.order],
                "tickets": sorted(state.tickets),
                "pushed": dict(state.pushed),
            }

    if cfg.transport.poll_url:

        @app.get(path_of(cfg.transport.poll_url))
        def feed(cursor: str | None = None) -> dict[str, Any]:
            t = cfg.transport
            start = int(cursor) if cursor and cursor.isdigit() else 0
            with state.lock:
                page = state.feed[start : start + state.page_size]
            return {
                t.poll_tickets_key: [item for kind, item in page if kind == "tickets"],
                t.poll_updates_key: [item for kind, item in page if kind == "updates"],
                t.poll_cursor_key: str(start + len(page)),
            }

    @app.post("/control/feed")
    async def add_to_feed(request: Request) -> dict[str, int]:
        body = await request.json()
        with state.lock:
            for kind in ("tickets", "updates"):
                state.feed.extend((kind, item) for item in body.get(kind, []))
            return {"queued": len(state.feed)}

    # -- the conformance kit's control (integration_kit/peer.py), so an integrator can run
    # `hotline-hub kit check --adapter county --peer …` against a county's sandbox ---------------
    def kit_reset() -> None:
        with state.lock:
            for store in (state.received, state.answers, state.order, state.tickets, state.faults):
                store.clear()

    def kit_plan(mode: str) -> None:
        with state.lock:
            state.faults.append(mode)

    def kit_received() -> list[dict[str, Any]]:
        with state.lock:
            return [{"key": k} for k in state.order]

    # A county pushes its tickets; the hub never pulls them from the adapter: no offer.
    app.include_router(
        kit_routes(
            modes=KIT_MODES, reset=kit_reset, plan=kit_plan, received=kit_received, no_offer="a county pushes its tickets to the hub; it assigns none to pull"
        )
    )

    @app.post("/control/faults")
    async def set_faults(request: Request) -> dict[str, Any]:
        body = await request.json()
        faults = [f for f in body.get("faults", []) if f in FAULTS]
        with state.lock:
            state.faults[:] = faults
        return {"faults": faults}

    def _cannot_push() -> JSONResponse | None:
        if state.hub_url and state.api_key:
            return None
        return JSONResponse(
            {
                "error": f"this sandbox county has no hub key: create one with "
                f"`hotline-hub keys create --party {cfg.key_party} --role county "
                f"--division {cfg.divisions[0]}` and set it on the state"
            },
            status_code=409,
        )

    @app.post("/control/tickets")
    async def push_tickets(request: Request) -> JSONResponse:
        if (refused := _cannot_push()) is not None:
            return refused
        resp = state.push_tickets(await request.json(), request.headers.get("Idempotency-Key"))
        return JSONResponse(resp.json(), status_code=resp.status_code)

    @app.post("/control/tickets/{ticket_id}/updates")
    async def push_update(ticket_id: str, request: Request) -> JSONResponse:
        if (refused := _cannot_push()) is not None:
            return refused
        resp = state.push_update(ticket_id, await request.json())
        return JSONResponse(resp.json(), status_code=resp.status_code)

    return app
