"""A sandbox legacy line (its REST interface as the hub sees it), for tests and newcomers.

    POST /cases               a 12345 case handed over; answers {"id": "<line id>"}; the
                              Idempotency-Key header makes a resend return the same id
    GET  /cases/outgoing      cases the line took itself: {"items": [...], "next_cursor"}
    POST /cases/{id}/ack      the hub says which 12345 case holds one of them
    POST /status-changes      a later change of a case the line holds (by "id" or
                              "hub_case_number"); 404 when it holds none; the
                              Idempotency-Key makes a resend a no-op
    GET  /health
    GET  /sandbox/state       what crossed: cases received, status changes, cases taken, acks

`create_app(state)`; state.faults makes the next POSTs fail, one fault each: "500", "503",
"429" (transient), "400" (refused), "garbage" (200 with a body that is not JSON).

`sandbox_peers(first_port)` is what `hotline-hub sandbox` starts: one sandbox line per
双号并行 line in mappings/legacy/lines.yaml (REST here, SOAP in sandbox_soap.py), a
legacy_bridge destination for each, and a LineDesk that makes the line take a call now and
then and logs what crosses.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from adapters.legacy_hotlines.bridge.wire_soap import ELEMENTS
from adapters.legacy_hotlines.config import LineMapping, MergeMode, load_legacy, reverse
from adapters.legacy_hotlines.sandbox_soap import SoapLineState
from adapters.legacy_hotlines.sandbox_soap import create_app as create_soap_app
from adapters.legacy_hotlines.tables import LegacyCursorRow
from hub.features import Peer
from hub.settings import Settings
from sandbox.run import run_stamp

Crossed = tuple[dict[str, str], dict[str, list[str]], dict[str, str]]  # received, status events, acks (by line id)


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
    run: str = ""  # put in the ids it makes up (sandbox.run.run_stamp), so runs never collide
    lock: threading.Lock = field(default_factory=threading.Lock)

    def crossed(self) -> Crossed:
        """By line id: the 12345 case numbers received, the status events pushed, the acks of cases it took."""
        with self.lock:
            return (
                {i: str(c.get("hub_case_number")) for i, c in self.received.items()},
                {i: [str(c.get("event")) for c in changes] for i, changes in self.statuses.items()},
                dict(self.acks),
            )


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
            return JSONResponse({"error": f"sandbox fault {fault}"}, status_code=status, headers={"Retry-After": "1"} if status in (429, 503) else None)
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
            line_id = f"{state.line}-H{state.run}{len(state.received) + 1:06d}"
            state.received[line_id] = body
            if idempotency_key:
                state.by_key[idempotency_key] = line_id
                state.order.append(idempotency_key)
        return {"id": line_id}

    @app.post("/status-changes")
    async def status_change(request: Request, idempotency_key: str | None = Header(default=None, alias="Idempotency-Key")) -> Any:
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
            line_id = (
                body.get("id")
                or next((i for i, c in state.received.items() if c.get("hub_case_number") == body.get("hub_case_number")), None)
                or next((i for i, n in state.acks.items() if n == body.get("hub_case_number")), None)
            )
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
            items = state.outgoing[start : start + state.page_size]
        return {"items": items, "next_cursor": str(start + len(items))}

    @app.post("/cases/{line_id}/ack")
    async def ack(line_id: str, request: Request) -> Any:
        body = await request.json()
        with state.lock:
            if not any(str(item.get(state.id_field)) == line_id for item in state.outgoing):
                return JSONResponse({"error": f"no outgoing case {line_id}"}, status_code=404)
            state.acks[line_id] = str(body.get("hub_case_number"))
        return {"ok": True}

    @app.get("/sandbox/state")
    async def sandbox_state() -> dict[str, Any]:
        """What crossed, for newcomers and the sandbox's end-to-end test."""
        received, statuses, acks = state.crossed()
        with state.lock:
            outgoing = [str(item.get(state.id_field)) for item in state.outgoing]
        return {"received": received, "statuses": statuses, "outgoing": outgoing, "acks": acks}

    return app


def outgoing_case(state: SandboxLine, n: int, **changes: Any) -> dict[str, Any]:
    """A case the sandbox 12315 line took itself, in its export's column names."""
    item = {
        state.id_field: f"SC-LIVE-{state.run}{n:05d}",
        "登记时间": "2025年09月26日 09:30",
        "投诉人": "测试人",
        "联系电话": "13800138000",
        "诉求类型": "投诉",
        "问题类别": "01",
        "标题": "网购商品质量问题",
        "诉求内容": "网购的电热水壶漏电，商家拒绝退货",
        "地址": "雁江区",
        "所属区域": "雁江区",
        "办理状态": "待处理",
    }
    item.update(changes)
    return item


def offer(state: SandboxLine, **changes: Any) -> str:
    with state.lock:
        item = outgoing_case(state, len(state.outgoing) + 1, **changes)
        state.outgoing.append(item)
    return str(item[state.id_field])


# -- `hotline-hub sandbox` ------------------------------------------------------------------
log = logging.getLogger("hub.sandbox.legacy")


def taken_fields(mapping: LineMapping, line_id: str, when: datetime) -> dict[str, Any]:
    """A call the line took itself, by canonical field name, in the line's own codes (its mapping file read in reverse)."""
    codes = mapping.codes
    division = reverse(codes.division).get("512002")
    return {
        k: v
        for k, v in {
            "original_id": line_id,
            "received_at": when,
            "person_name": "孙七",
            "person_phone": "13600136000",
            "request_type": reverse(codes.request_type).get("complaint"),
            "category": next(iter(codes.category)),
            "title": f"{mapping.name_zh}受理的来电",
            "content": f"市民拨打{mapping.line}反映问题，本热线受理后由12345同步跟进。",
            "division": division,
            "address": "雁江区和平路3号",
            "status": reverse(codes.status).get("accepted") or next(iter(codes.status)),
        }.items()
        if v is not None
    }


class LineDesk:
    """A 双号并行 line's own seats in `hotline-hub sandbox`. Each `act()` is one round: every
    `take_every` rounds the line takes a call itself (the hub's puller brings it in), and what
    crossed since the last round is logged: 'legacy <line>: OUT ...' for 12345 cases handed
    over and status changes pushed to the line, 'legacy <line>: IN ...' for the line's own
    cases the hub pulled and acknowledged (returned, for the demo agent to carry on)."""

    def __init__(self, line: str, take: Callable[[], str], crossed: Callable[[], Crossed], take_every: int = 20) -> None:
        self.line, self.take, self.crossed, self.take_every = line, take, crossed, take_every
        self.rounds = 0
        self._received: set[str] = set()
        self._pushed: dict[str, int] = {}
        self._acked: set[str] = set()

    def take_call(self) -> None:
        log.info("legacy %s: the line took call %s itself", self.line, self.take())

    def act(self) -> list[tuple[str, str | None]]:
        self.rounds += 1
        if self.rounds % self.take_every == 0:
            self.take_call()
        received, statuses, acks = self.crossed()
        for line_id, number in received.items():
            if line_id not in self._received:
                self._received.add(line_id)
                log.info("legacy %s: OUT  hub case %s handed over to the line, its id %s", self.line, number, line_id)
        for line_id, events in statuses.items():
            for event in events[self._pushed.get(line_id, 0) :]:
                log.info(
                    "legacy %s: OUT  status %s pushed for line case %s (hub case %s)", self.line, event, line_id, received.get(line_id) or acks.get(line_id)
                )
            self._pushed[line_id] = len(events)
        brought: list[tuple[str, str | None]] = []
        for line_id, number in acks.items():
            if line_id not in self._acked:
                self._acked.add(line_id)
                log.info("legacy %s: IN   call %s taken by the line, pulled once and acknowledged as hub case %s", self.line, line_id, number)
                brought.append((number, None))
        return brought


def _forget_cursor(line: str) -> Callable[[Any], None]:
    """The sandbox line starts empty each run; a pull cursor kept in var/ from the last run would skip its first calls."""

    def prepare(hub: Any) -> None:
        with hub.db.write() as s:
            row = s.get(LegacyCursorRow, line)
            if row is not None:
                s.delete(row)

    return prepare


def sandbox_peers(first_port: int, poll_interval: float = 5.0) -> list[Any]:
    """A sandbox line for each 双号并行 line in mappings/legacy/lines.yaml (REST or SOAP, as its
    bridge says), on first_port, first_port + 1, ...; a legacy_bridge destination pointing the
    hub at it (so its puller runs too); and its desk. Each line takes its first call before the
    hub's workers start, so the puller's first round brings it in."""
    config = load_legacy(Settings().mappings_dir)
    run = run_stamp()
    peers: list[Any] = []
    for entry in config.lines.values():
        if entry.mode is not MergeMode.PARALLEL or entry.bridge is None:
            continue
        mapping, port = config.mapping(entry.line), first_port + len(peers)
        tz, base = ZoneInfo(mapping.timezone), f"http://127.0.0.1:{port}"
        if entry.bridge.transport == "soap":
            soap = SoapLineState(line=entry.line, run=run)

            def take_soap(state: SoapLineState = soap, m: LineMapping = mapping, tz: ZoneInfo = tz) -> str:
                line_id = f"{state.line}-T{state.run}{len(state.taken) + 1:05d}"
                fields = taken_fields(m, line_id, datetime.now(tz))
                fields["received_at"] = fields["received_at"].isoformat()
                return state.take(**{ELEMENTS[name]: value for name, value in fields.items()})

            take: Callable[[], str] = take_soap
            crossed, url, kind = soap.crossed, base + "/soap", "SOAP at /soap (WSDL at /soap?wsdl)"
            app_factory: Callable[[], Any] = partial(create_soap_app, soap)
        else:
            rest = SandboxLine(line=entry.line, id_field=mapping.fields.original_id, run=run)

            def take_rest(state: SandboxLine = rest, m: LineMapping = mapping, tz: ZoneInfo = tz) -> str:
                with state.lock:
                    line_id = f"{state.line}-T{state.run}{len(state.outgoing) + 1:05d}"
                    fields = taken_fields(m, line_id, datetime.now(tz))
                    fields["received_at"] = fields["received_at"].strftime(m.date_formats[0])
                    state.outgoing.append({getattr(m.fields, name): value for name, value in fields.items() if getattr(m.fields, name) is not None})
                return line_id

            take = take_rest
            crossed, url, kind = rest.crossed, base, "REST"
            app_factory = partial(create_app, rest)
        desk = LineDesk(entry.line, take, crossed)
        forget = _forget_cursor(entry.line)

        def prepare(hub: Any, forget: Callable[[Any], None] = forget, desk: LineDesk = desk) -> None:
            forget(hub)
            desk.take_call()

        peers.append(
            Peer(
                f"line{entry.line}",
                port,
                app_factory,
                # personal_data: the line handles the complaint, so it must see the person (docs/legacy.md)
                {
                    "adapter": "legacy_bridge",
                    "events": ["case.*"],
                    "personal_data": True,
                    "settings": {"line": entry.line, "base_url": url, "poll_interval": poll_interval},
                },
                f"legacy line {entry.line} {entry.name_zh} (双号并行, {kind}): takes a call every {desk.take_every} demo rounds; GET /sandbox/state",
                act=desk.act,
                prepare=prepare,
            )
        )
    return peers
