"""A sandbox legacy line (its REST interface as the hub sees it), for tests and newcomers.

    POST /cases               a 12345 case handed over; answers {"id": "<line id>"}; the
                              Idempotency-Key header makes a resend return the same id
    GET  /cases/outgoing      cases the line took itself: {"items": [...], "next_cursor"}
    POST /cases/{id}/ack      the hub says which 12345 case holds one of them
    POST /status-changes      a later change of a case the line holds (by "id" or
                              "hub_case_number"); 404 when it holds none; the
                              Idempotency-Key makes a resend a no-op
    GET  /health

`create_app(state)`; state.faults makes the next POSTs fail, one fault each: "500", "503",
"429" (transient), "400" (refused), "garbage" (200 with a body that is not JSON).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, PlainTextResponse


@dataclass
class SandboxLine:
    line: str = "12315"
    id_field: str = "工单编号"  # the line's id column in its outgoing items (its mapping file's fields.original_id)
    required: tuple[str, ...] = ("hub_case_number",)
    received: dict[str, dict[str, Any]] = field(default_factory=dict)  # line id -> payload
    by_key: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> line id
    outgoing: list[dict[str, Any]] = field(default_factory=list)
    acks: dict[str, str] = field(default_factory=dict)  # line id -> hub case number
    order: list[str] = field(default_factory=list)  # Idempotency-Keys of cases and status changes taken, in order
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # line id -> status changes, arrival order
    status_keys: set[str] = field(default_factory=set)
    faults: list[str] = field(default_factory=list)
    page_size: int = 50
    lock: threading.Lock = field(default_factory=threading.Lock)


def create_app(state: SandboxLine | None = None) -> FastAPI:
    state = state or SandboxLine()
    app = FastAPI(title=f"sandbox legacy line {state.line}")
    app.state.line = state

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"ok": True, "line": state.line}

    @app.post("/cases", status_code=201)
    async def take_case(request: Request, idempotency_key: str | None = Header(default=None, alias="Idempotency-Key")) -> Any:
        with state.lock:
            fault = state.faults.pop(0) if state.faults else None
        if fault == "garbage":
            return PlainTextResponse("<html>gateway</html>", status_code=200)
        if fault is not None:
            status = int(fault)
            return JSONResponse({"error": f"sandbox fault {fault}"}, status_code=status,
                                headers={"Retry-After": "1"} if status in (429, 503) else None)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        missing = [k for k in state.required if not isinstance(body, dict) or not body.get(k)]
        if missing:
            return JSONResponse({"error": f"missing {', '.join(missing)}"}, status_code=422)
        with state.lock:
            if idempotency_key and idempotency_key in state.by_key:
                line_id = state.by_key[idempotency_key]
                return JSONResponse({"id": line_id, "duplicate": True}, status_code=200)
            line_id = f"{state.line}-H{len(state.received) + 1:06d}"
            state.received[line_id] = body
            if idempotency_key:
                state.by_key[idempotency_key] = line_id
                state.order.append(idempotency_key)
        return {"id": line_id}

    @app.post("/status-changes")
    async def status_change(request: Request,
                            idempotency_key: str | None = Header(default=None, alias="Idempotency-Key")) -> Any:
        with state.lock:
            fault = state.faults.pop(0) if state.faults else None
        if fault is not None and fault != "garbage":
            return JSONResponse({"error": f"sandbox fault {fault}"}, status_code=int(fault))
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        with state.lock:
            if idempotency_key and idempotency_key in state.status_keys:
                return {"ok": True, "duplicate": True}
            line_id = body.get("id") or next((i for i, c in state.received.items()
                                              if c.get("hub_case_number") == body.get("hub_case_number")), None) \
                or next((i for i, n in state.acks.items() if n == body.get("hub_case_number")), None)
            if line_id is None:
                return JSONResponse({"error": f"no case for {body.get('hub_case_number')}"}, status_code=404)
            state.statuses.setdefault(line_id, []).append(body)
            if idempotency_key:
                state.status_keys.add(idempotency_key)
                state.order.append(idempotency_key)
        return {"ok": True}

    @app.get("/cases/outgoing")
    async def outgoing(cursor: str | None = None) -> dict[str, Any]:
        start = int(cursor) if cursor and cursor.isdigit() else 0
        with state.lock:
            items = state.outgoing[start:start + state.page_size]
        return {"items": items, "next_cursor": str(start + len(items))}

    @app.post("/cases/{line_id}/ack")
    async def ack(line_id: str, request: Request) -> Any:
        body = await request.json()
        with state.lock:
            if not any(str(item.get(state.id_field)) == line_id for item in state.outgoing):
                return JSONResponse({"error": f"no outgoing case {line_id}"}, status_code=404)
            state.acks[line_id] = str(body.get("hub_case_number"))
        return {"ok": True}

    return app


def outgoing_case(state: SandboxLine, n: int, **changes: Any) -> dict[str, Any]:
    """A case the sandbox 12315 line took itself, in its export's column names."""
    item = {state.id_field: f"SC-LIVE-{n:05d}", "登记时间": "2025年09月26日 09:30", "投诉人": "测试人",
            "联系电话": "13800138000", "诉求类型": "投诉", "问题类别": "01", "标题": "网购商品质量问题",
            "诉求内容": "网购的电热水壶漏电，商家拒绝退货", "地址": "雁江区", "所属区域": "雁江区", "办理状态": "待处理"}
    item.update(changes)
    return item


def offer(state: SandboxLine, **changes: Any) -> str:
    with state.lock:
        item = outgoing_case(state, len(state.outgoing) + 1, **changes)
        state.outgoing.append(item)
    return str(item[state.id_field])

