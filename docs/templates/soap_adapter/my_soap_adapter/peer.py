"""Sandbox peer: a stand-in for MY SOAP SYSTEM on loopback, serving the saved WSDL and
answering its operations, with the kit's /_kit control endpoints.

    uvicorn --factory my_soap_adapter.peer:create_app --port 9100
    python -m zeep http://127.0.0.1:9100/CaseService?wsdl
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from lxml import etree

from my_soap_adapter.settings import PACKAGED_WSDL

TNS = "urn:my_soap_system:cases:v1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
FAULTS = ("500", "400", "429", "garbage")  # and "result:<code>": HTTP 200 carrying that ResultCode
# Hardened like the client: no entities resolved, no DTD loaded, nothing fetched.
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@dataclass
class PeerState:
    username: str = "sandbox"
    password: str = "sandbox-secret"
    received: dict[str, dict[str, Any]] = field(default_factory=dict)  # RequestId -> Case (first copy)
    order: list[str] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)  # CaseNo -> CaseId
    faults: list[str] = field(default_factory=list)
    serial: itertools.count = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)


def _fields(element: etree._Element) -> Any:
    children = [c for c in element if isinstance(c.tag, str)]
    return {etree.QName(c).localname: _fields(c) for c in children} if children else element.text


def _envelope(operation: str, **values: str) -> Response:
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    answer = etree.SubElement(etree.SubElement(env, f"{{{SOAP_ENV}}}Body"), f"{{{TNS}}}{operation}Response")
    for name, value in values.items():
        etree.SubElement(answer, f"{{{TNS}}}{name}").text = value
    return Response(etree.tostring(env, xml_declaration=True, encoding="utf-8"), media_type="text/xml; charset=utf-8")


def _fault(code: str, text: str) -> Response:
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    fault = etree.SubElement(etree.SubElement(env, f"{{{SOAP_ENV}}}Body"), f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(fault, "faultcode").text = f"soap:{code}"
    etree.SubElement(fault, "faultstring").text = text
    return Response(etree.tostring(env, xml_declaration=True, encoding="utf-8"), status_code=500, media_type="text/xml; charset=utf-8")


def create_app(state: PeerState | None = None) -> FastAPI:
    state = state or PeerState()
    app = FastAPI(title="sandbox MY SOAP SYSTEM")
    app.state.peer = state

    @app.get("/CaseService")
    def wsdl(request: Request) -> Response:
        text = PACKAGED_WSDL.read_text(encoding="utf-8")
        text = text.replace("http://127.0.0.1:9100/CaseService", f"{str(request.base_url).rstrip('/')}/CaseService")
        return Response(text, media_type="text/xml; charset=utf-8")

    @app.get("/{name}.xsd")  # the WSDL's schemaLocation, relative to where the WSDL was fetched
    def xsd(name: str) -> Response:
        path = PACKAGED_WSDL.parent / f"{name}.xsd"
        if not path.is_file():
            return PlainTextResponse("no such schema", status_code=404)
        return Response(path.read_bytes(), media_type="text/xml; charset=utf-8")

    @app.post("/CaseService")
    async def operation(request: Request) -> Response:
        with state.lock:
            fault = state.faults.pop(0) if state.faults else ""
        if fault == "429":
            return PlainTextResponse("busy", status_code=429, headers={"Retry-After": "1"})
        if fault == "garbage":
            return Response("<html><body>gateway</body></html>", media_type="text/html")
        try:
            root = etree.fromstring(await request.body(), parser=PARSER)
            body = root.find(f"{{{SOAP_ENV}}}Body")
            call = next(c for c in body if isinstance(c.tag, str))  # type: ignore[union-attr]
        except (etree.XMLSyntaxError, StopIteration, TypeError):
            return _fault("Client", "not a SOAP envelope")
        operation = etree.QName(call).localname
        token = root.find(f".//{{{WSSE}}}UsernameToken")
        if token is None or (token.findtext(f"{{{WSSE}}}Username"), token.findtext(f"{{{WSSE}}}Password")) != (state.username, state.password):
            return _fault("Client", "authentication failed")
        if fault == "500":
            return _fault("Server", "internal error")
        if fault == "400":
            return _fault("Client", "invalid request")
        if fault.startswith("result:"):
            return _envelope(operation.removesuffix("Request"), ResultCode=fault.removeprefix("result:"), ResultMessage="planned by /_kit/fault")
        if operation == "PingRequest":
            return _envelope("Ping", ResultCode="0")
        if operation != "SubmitCaseRequest":
            return _fault("Client", f"unknown operation {operation}")
        request_fields = _fields(call)
        key, case = request_fields.get("RequestId"), request_fields.get("Case")
        if not key or not isinstance(case, dict) or not case.get("CaseNo"):
            return _envelope("SubmitCase", ResultCode="1001", ResultMessage="RequestId and Case.CaseNo required")
        with state.lock:
            case_id = state.ids.setdefault(case["CaseNo"], f"MS{next(state.serial):06d}")
            if key not in state.received:  # a repeat of a RequestId: same answer, no new effect
                state.received[key] = case
                state.order.append(key)
        return _envelope("SubmitCase", ResultCode="0", CaseId=case_id)

    # -- conformance kit peer control (docs/integrator-guide.md) ---------------------------
    @app.post("/_kit/reset", status_code=204)
    def kit_reset() -> None:
        with state.lock:
            state.received.clear()
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
            return {"messages": [{"key": k, "case_number": state.received[k]["CaseNo"]} for k in state.order]}

    return app
