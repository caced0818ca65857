"""Sandbox peer: the neighbouring province's platform on loopback, serving the saved WSDL and
answering its operations, with the conformance kit's /_kit control endpoints.

    uvicorn --factory hotline_hub_example_soap_adapter.peer:create_app --port 9100
    hub settings: {endpoint: http://127.0.0.1:9100/ws/CrossRegionExchange, username: city-512000, password: sandbox-secret}

Like the platform (as its code book describes it) it checks the WS-Security user, keeps the
first answer per MessageId and repeats it for a retry, refuses an update for an unknown
ticket or with a Seq at or below the last (1002, 1004), and hands out transfers until acked.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from lxml import etree

from hotline_hub_example_soap_adapter.settings import PACKAGED_WSDL

TNS = "urn:example:neighbour-12345:exchange:v2"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PATH = "/ws/CrossRegionExchange"
# "result:<code>": HTTP 200 carrying that Result/Code; "xxe": an answer declaring an external entity.
FAULTS = ("500", "400", "429", "garbage", "xxe")
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
XXE = (
    f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<soap:Envelope xmlns:soap="{SOAP_ENV}">'
    f'<soap:Body><ReportTicketResponse xmlns="{TNS}"><Result><Code>0000</Code></Result>'
    "<PlatformTicketId>&xxe;</PlatformTicketId></ReportTicketResponse></soap:Body></soap:Envelope>"
)
# xsd:sequence order of tns:Transfer: a strict client refuses elements out of order.
TRANSFER_FIELDS = ("TransferId", "AppealType", "ItemCode", "Title", "Content", "RegionCode", "Address", "ContactName", "ContactPhone", "ReportedAt")


@dataclass
class PlatformState:
    username: str = "city-512000"
    password: str = "sandbox-secret"
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)  # MessageId -> Ticket (first copy)
    order: list[str] = field(default_factory=list)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # MessageId -> first answer
    ids: dict[str, str] = field(default_factory=dict)  # CityCaseNo -> PlatformTicketId
    last_seq: dict[str, int] = field(default_factory=dict)  # PlatformTicketId -> last Seq taken
    transfers: list[dict[str, Any]] = field(default_factory=list)
    acked: dict[str, str] = field(default_factory=dict)  # TransferId -> CityCaseNo
    faults: list[str] = field(default_factory=list)
    serial: itertools.count = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def transfer(self, **fields: Any) -> str:
        """跨省转办: queue a case for the city; returns its TransferId."""
        with self.lock:
            transfer_id = f"KS{next(self.serial):08d}"
            self.transfers.append(
                {
                    "TransferId": transfer_id,
                    "AppealType": "03",
                    "ItemCode": "KS-0101",
                    "Title": "异地网购商品质量投诉",
                    "Content": "在资阳商家网购的电器有质量问题，商家拒绝退换。",
                    "RegionCode": "512002",
                    "Address": "雁江区娇子大道88号",
                    "ContactName": "王五",
                    "ContactPhone": "13700137000",
                    "ReportedAt": "2025-09-26T09:30:00+08:00",
                    **fields,
                }
            )
            return transfer_id

    # -- the operations (called with the lock held) ------------------------------------------
    def ReportTicket(self, req: dict[str, Any]) -> dict[str, Any]:
        ticket = req.get("Ticket") or {}
        if not ticket.get("CityCaseNo"):
            return _result("1001", "Ticket.CityCaseNo required")
        ticket_id = self.ids.setdefault(ticket["CityCaseNo"], f"NB{next(self.serial):08d}")
        return self._take(req["MessageId"], ticket, ticket_id)

    def UpdateTicket(self, req: dict[str, Any]) -> dict[str, Any]:
        ticket = req.get("Ticket") or {}
        ticket_id = req.get("PlatformTicketId") or self.ids.get(ticket.get("CityCaseNo") or "")
        if ticket_id not in self.last_seq:
            return _result("1002", f"no ticket for {ticket.get('CityCaseNo')}")
        if int(ticket.get("Seq") or 0) <= self.last_seq[ticket_id]:
            return _result("1004", f"Seq {ticket.get('Seq')} after {self.last_seq[ticket_id]}")
        return self._take(req["MessageId"], ticket, ticket_id)

    def _take(self, message_id: str, ticket: dict[str, Any], ticket_id: str) -> dict[str, Any]:
        self.tickets[message_id] = ticket
        self.order.append(message_id)
        self.last_seq[ticket_id] = max(self.last_seq.get(ticket_id, 0), int(ticket.get("Seq") or 0))
        return {"Result": {"Code": "0000", "Message": "成功"}, "PlatformTicketId": ticket_id}

    def FetchTransfers(self, req: dict[str, Any]) -> dict[str, Any]:
        cursor, limit = req.get("Cursor") or "", int(req.get("MaxCount") or 50)
        page = [t for t in self.transfers if t["TransferId"] not in self.acked and t["TransferId"] > cursor][:limit]
        return {
            "Result": {"Code": "0000"},
            "Transfer": [{k: t.get(k) for k in TRANSFER_FIELDS} for t in page],
            "NextCursor": page[-1]["TransferId"] if page else (cursor or None),
        }

    def AckTransfer(self, req: dict[str, Any]) -> dict[str, Any]:
        if not any(t["TransferId"] == req.get("TransferId") for t in self.transfers):
            return _result("1002", f"no transfer {req.get('TransferId')}")
        self.acked[req["TransferId"]] = req.get("CityCaseNo") or ""
        return {"Result": {"Code": "0000"}}

    def Heartbeat(self, req: dict[str, Any]) -> dict[str, Any]:
        return {"Result": {"Code": "0000"}}


def _result(code: str, message: str) -> dict[str, Any]:
    return {"Result": {"Code": code, "Message": message}}


def _fields(element: etree._Element) -> Any:
    children = [c for c in element if isinstance(c.tag, str)]
    return {etree.QName(c).localname: _fields(c) for c in children} if children else element.text


def _append(parent: etree._Element, name: str, value: Any) -> None:
    if value is None:
        return
    for item in value if isinstance(value, list) else [value]:
        child = etree.SubElement(parent, f"{{{TNS}}}{name}")
        if isinstance(item, dict):
            for key, inner in item.items():
                _append(child, key, inner)
        else:
            child.text = str(item)


def _xml(env: etree._Element, status: int = 200) -> Response:
    return Response(etree.tostring(env, xml_declaration=True, encoding="utf-8"), status_code=status, media_type="text/xml; charset=utf-8")


def _envelope(operation: str, answer: dict[str, Any]) -> Response:
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    body = etree.SubElement(etree.SubElement(env, f"{{{SOAP_ENV}}}Body"), f"{{{TNS}}}{operation}Response")
    for name, value in answer.items():
        _append(body, name, value)
    return _xml(env)


def _fault(code: str, text: str) -> Response:
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    fault = etree.SubElement(etree.SubElement(env, f"{{{SOAP_ENV}}}Body"), f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(fault, "faultcode").text = f"soap:{code}"
    etree.SubElement(fault, "faultstring").text = text
    return _xml(env, 500)


OPERATIONS = ("ReportTicket", "UpdateTicket", "FetchTransfers", "AckTransfer", "Heartbeat")
WRITES = ("ReportTicket", "UpdateTicket", "AckTransfer")  # deduplicated on MessageId


def create_app(state: PlatformState | None = None) -> FastAPI:
    state = state or PlatformState()
    app = FastAPI(title="sandbox cross-provincial exchange (a neighbouring province's 12345 platform, fictional)")
    app.state.platform = state

    @app.get(PATH)
    def wsdl(request: Request) -> Response:
        text = PACKAGED_WSDL.read_text(encoding="utf-8")
        text = text.replace("https://exchange.neighbour-12345.example/ws/CrossRegionExchange", f"{str(request.base_url).rstrip('/')}{PATH}")
        return Response(text, media_type="text/xml; charset=utf-8")

    @app.get("/ws/{name}.xsd")  # the WSDL's schemaLocation, relative to where the WSDL was fetched
    def xsd(name: str) -> Response:
        path = PACKAGED_WSDL.parent / f"{name}.xsd"
        if not path.is_file():
            return PlainTextResponse("no such schema", status_code=404)
        return Response(path.read_bytes(), media_type="text/xml; charset=utf-8")

    @app.post(PATH)
    async def exchange(request: Request) -> Response:
        with state.lock:
            fault = state.faults.pop(0) if state.faults else ""
        if fault == "429":
            return PlainTextResponse("rate limited", status_code=429, headers={"Retry-After": "2"})
        if fault == "garbage":
            return Response("<html><body>网关错误</body></html>", media_type="text/html")
        if fault == "xxe":
            return Response(XXE, media_type="text/xml")
        try:
            root = etree.fromstring(await request.body(), parser=PARSER)
            call = next(c for c in root.find(f"{{{SOAP_ENV}}}Body") if isinstance(c.tag, str))  # type: ignore[union-attr]
        except (etree.XMLSyntaxError, StopIteration, TypeError):
            return _fault("Client", "not a SOAP envelope")
        token = root.find(f".//{{{WSSE}}}UsernameToken")
        if token is None or (token.findtext(f"{{{WSSE}}}Username"), token.findtext(f"{{{WSSE}}}Password")) != (state.username, state.password):
            return _fault("Client", "authentication failed")
        operation = etree.QName(call).localname.removesuffix("Request")
        if fault == "500":
            return _fault("Server", "内部错误")
        if fault == "400":
            return _fault("Client", "报文不符合接口规范")
        if fault.startswith("result:"):
            return _envelope(operation, _result(fault.removeprefix("result:"), "planned by /_kit/fault"))
        if operation not in OPERATIONS:
            return _fault("Client", f"unknown operation {operation}")
        req = _fields(call) or {}
        with state.lock:
            message_id = req.get("MessageId") if operation in WRITES else None
            if operation in WRITES and not message_id:
                answer = _result("1001", "MessageId required")
            elif message_id in state.answers:  # a retry: the first answer again, no new effect
                answer = state.answers[message_id]
            else:
                answer = getattr(state, operation)(req)
                if message_id and answer["Result"]["Code"] == "0000":
                    state.answers[message_id] = answer
        return _envelope(operation, answer)

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
        if mode not in FAULTS and not (isinstance(mode, str) and mode.startswith("result:")):
            return JSONResponse({"error": f"mode {mode!r} not supported: {', '.join(FAULTS)}, result:<code>"}, status_code=422)
        with state.lock:
            state.faults.append(mode)
        return None

    @app.get("/_kit/received")
    def kit_received() -> dict[str, Any]:
        with state.lock:
            return {"messages": [{"key": k, "case_number": state.tickets[k]["CityCaseNo"]} for k in state.order]}

    @app.post("/_kit/offer", status_code=201)
    def kit_offer() -> dict[str, str]:
        return {"external_id": state.transfer()}

    return app
