"""Sandbox peer: a tiny repair desk on loopback, with the conformance kit's /_kit control.

    uvicorn --factory hotline_hub_example_adapter.peer:create_app --port 9100
    hub settings: {base_url: http://127.0.0.1:9100/api/v2, app_key: sandbox-key}

Like the real desk (as its documentation describes it) it dedupes tickets by X-Request-Id,
refuses a request without the app key, and hands out assignments until they are acked.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, PlainTextResponse

FAULTS = ("500", "429", "400", "garbage")


@dataclass
class DeskState:
    app_key: str = "sandbox-key"
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)  # X-Request-Id -> ticket (first copy)
    order: list[str] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)  # hub case number -> ticketId
    assignments: list[dict[str, Any]] = field(default_factory=list)
    acked: dict[str, str] = field(default_factory=dict)  # ticketId -> hub number
    faults: list[str] = field(default_factory=list)
    serial: itertools.count = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)


def create_app(state: DeskState | None = None) -> FastAPI:
    state = state or DeskState()
    app = FastAPI(title="sandbox repair desk (Ziyang Water Group, fictional)")
    app.state.desk = state

    def authorised(key: str | None) -> bool:
        return key == state.app_key

    @app.get("/api/v2/ping")
    def ping() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/api/v2/tickets")
    async def post_ticket(request: Request, x_app_key: str | None = Header(default=None), x_request_id: str | None = Header(default=None)):
        if not authorised(x_app_key):
            return JSONResponse({"errcode": 40101, "errmsg": "bad app key"}, status_code=401)
        with state.lock:
            fault = state.faults.pop(0) if state.faults else None
        if fault == "500":
            return PlainTextResponse("internal error", status_code=500)
        if fault == "429":
            return PlainTextResponse("busy", status_code=429, headers={"Retry-After": "2"})
        if fault == "400":
            return JSONResponse({"errcode": 40001, "errmsg": "kind not allowed"}, status_code=400)
        if fault == "garbage":
            return PlainTextResponse("<html>gateway", status_code=200)
        body = await request.json()
        if not x_request_id or not isinstance(body, dict) or not body.get("ticket_no"):
            return JSONResponse({"errcode": 40002, "errmsg": "X-Request-Id and ticket_no required"}, status_code=400)
        with state.lock:
            ticket_id = state.ids.setdefault(body["ticket_no"], f"WS{next(state.serial):06d}")
            if x_request_id not in state.tickets:
                state.tickets[x_request_id] = {**body, "ticketId": ticket_id}
                state.order.append(x_request_id)
                return JSONResponse({"ticketId": ticket_id}, status_code=201)
        return JSONResponse({"ticketId": ticket_id}, status_code=200)  # a repeat: same answer, no new effect

    @app.get("/api/v2/assignments")
    def assignments(limit: int = 50, after: str | None = None, x_app_key: str | None = Header(default=None)):
        if not authorised(x_app_key):
            return JSONResponse({"errcode": 40101, "errmsg": "bad app key"}, status_code=401)
        with state.lock:
            pending = [a for a in state.assignments if a["ticketId"] not in state.acked]
            if after:
                pending = [a for a in pending if a["ticketId"] > after]
            page = pending[:limit]
        return {"items": page, "next": page[-1]["ticketId"] if page else after}

    @app.post("/api/v2/assignments/{ticket_id}/ack")
    async def ack(ticket_id: str, request: Request, x_app_key: str | None = Header(default=None)):
        if not authorised(x_app_key):
            return JSONResponse({"errcode": 40101, "errmsg": "bad app key"}, status_code=401)
        body = await request.json()
        with state.lock:
            if not any(a["ticketId"] == ticket_id for a in state.assignments):
                return JSONResponse({"errcode": 40401, "errmsg": "no such assignment"}, status_code=404)
            state.acked[ticket_id] = str(body.get("hub_number"))
        return {"ok": True}

    # -- conformance kit peer control (docs/integrator-guide.md) ---------------------------
    @app.post("/_kit/reset", status_code=204)
    def kit_reset() -> None:
        with state.lock:
            state.tickets.clear()
            state.order.clear()
            state.faults.clear()

    @app.post("/_kit/fault", status_code=204)
    async def kit_fault(request: Request):
        mode = (await request.json()).get("mode")
        if mode not in FAULTS:
            return JSONResponse({"error": f"mode {mode!r} not supported: {', '.join(FAULTS)}"}, status_code=422)
        with state.lock:
            state.faults.append(mode)
        return None

    @app.get("/_kit/received")
    def kit_received() -> dict[str, Any]:
        with state.lock:
            return {"messages": [{"key": k, "case_number": state.tickets[k]["ticket_no"]} for k in state.order]}

    @app.post("/_kit/offer", status_code=201)
    def kit_offer() -> dict[str, str]:
        with state.lock:
            ticket_id = f"WS{next(state.serial):06d}"
            state.assignments.append(
                {
                    "ticketId": ticket_id,
                    "category": "GS-01",
                    "district": "512002",
                    "title": "停水三天",
                    "content": "小区停水三天，未见通知。",
                    "reported_at": "2025-09-26T09:00:00+08:00",
                    "address": "雁江区某小区",
                }
            )
        return {"external_id": ticket_id}

    return app
