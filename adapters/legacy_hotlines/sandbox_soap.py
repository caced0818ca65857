"""A sandbox department line that speaks SOAP (legacy_exchange.wsdl), for tests and newcomers:
a real HTTP peer with SOAP at /soap (the WSDL at GET /soap?wsdl) and the conformance kit's
/_kit endpoints (integration_kit/peer.py); GET /sandbox/state shows what crossed.

It keeps what it receives (cases from 12345 deduplicated by RequestId, status pushes in
arrival order), offers cases it took itself (FetchTaken), records acknowledgements, and
fails on request: each SOAP call pops the next entry of `state.faults`:
    ok         answer normally (to place a fault later in a sequence)
    500        soap:Server fault with a code the WSDL does not document (E500)   -> transient
    busy       soap:Server fault BUSY                                           -> transient
    400        soap:Client fault INVALID_REQUEST                                -> permanent
    429        HTTP 429 with an HTML page and Retry-After: 1                    -> transient
    garbage    HTTP 200 with an HTML page that is not XML                        -> transient
    xxe        an answer declaring an external entity (file:///etc/passwd)      -> refused, permanent
    billion    an answer with the billion-laughs entity expansion               -> refused, permanent

Start it alone:  uvicorn --factory adapters.legacy_hotlines.sandbox_soap:create_app --port 8005
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from adapters.legacy_hotlines.bridge.wire_soap import SHIPPED_WSDL, TNS
from adapters.soap_peer import EnvelopeWriter, NotAnEnvelope, read_call, wsdl_response, xml_response
from integration_kit.peer_routes import kit_routes

CST = timezone(timedelta(hours=8))

# xsd:sequence order of tns:LineCase: a strict client refuses elements out of order.
LINE_CASE = (
    "LineCaseId",
    "HubCaseNo",
    "ReceivedTime",
    "AppealerName",
    "AppealerPhone",
    "AppealType",
    "CategoryCode",
    "Title",
    "Content",
    "AreaCode",
    "Address",
    "Urgency",
    "StatusCode",
    "HandlerUnit",
)

XML = EnvelopeWriter(TNS, {"Case": LINE_CASE}, fault_detail="LineFault")
XXE, BILLION = XML.hostile("SubmitCase", "LineCaseId")

FAULTS = {"500": ("E500", "内部错误", True), "busy": ("BUSY", "系统繁忙", True), "400": ("INVALID_REQUEST", "报文格式错误", False)}
MODES = ("ok", *FAULTS, "429", "garbage", "xxe", "billion")


class LineFault(Exception):
    def __init__(self, code: str, message: str, server: bool = False) -> None:
        super().__init__(message)
        self.code, self.message, self.server = code, message, server


@dataclass
class SoapLineState:
    line: str = "12320"
    received: dict[str, dict[str, Any]] = field(default_factory=dict)  # line id -> LineCase from 12345
    submits: dict[str, str] = field(default_factory=dict)  # RequestId -> line id
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # line id -> pushes, arrival order
    status_requests: dict[str, dict[str, Any]] = field(default_factory=dict)  # RequestId -> first answer
    taken: list[dict[str, Any]] = field(default_factory=list)  # LineCases the line took itself, in order
    acks: dict[str, str] = field(default_factory=dict)  # line id -> 12345 case number
    accepted: list[dict[str, str]] = field(default_factory=list)  # writes that took effect: key, case_number, event_type
    calls: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    counter: int = 0
    run: str = ""  # put in the ids it makes up (sandbox.run.run_stamp), so runs never collide
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            for store in (self.received, self.submits, self.statuses, self.status_requests, self.acks):
                store.clear()
            for seq in (self.taken, self.accepted, self.calls, self.faults):
                seq.clear()

    def crossed(self) -> tuple[dict[str, str], dict[str, list[str]], dict[str, str]]:
        """By line id: the 12345 case numbers received, the status events pushed, the acks of cases it took."""
        with self.lock:
            return (
                {i: str(c.get("HubCaseNo")) for i, c in self.received.items()},
                {i: [str(p.get("Event")) for p in pushes] for i, pushes in self.statuses.items()},
                dict(self.acks),
            )

    def take(self, **fields: Any) -> str:
        """The line takes a case itself (a call to 12320); returns its id. Fields override a demo case."""
        with self.lock:
            self.counter += 1
            case = {
                "LineCaseId": f"{self.line}-T{self.run}{self.counter:05d}",
                "ReceivedTime": datetime(2025, 9, 26, 9, 30, tzinfo=CST).isoformat(),
                "AppealerName": "王五",
                "AppealerPhone": "13700137000",
                "AppealType": "1",
                "CategoryCode": "YL01",
                "Title": "医院收费不透明",
                "Content": "市某医院检查收费与公示价格不符，请求核查。",
                "AreaCode": "512002",
                "Address": "雁江区健康路8号",
                "Urgency": "1",
                "StatusCode": "01",
                **fields,
            }
            self.taken.append(case)
            return str(case["LineCaseId"])

    # -- the operations ----------------------------------------------------------------------
    def handle(self, operation: str, req: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.calls.append(operation)
            if req.get("Line") not in (None, self.line):
                raise LineFault("INVALID_REQUEST", f"this is line {self.line}, not {req.get('Line')}")
            handler = getattr(self, f"_op_{operation}", None)
            if handler is None:
                raise LineFault("INVALID_REQUEST", f"unknown operation {operation}")
            return handler(req)

    def _op_SubmitCase(self, req: dict[str, Any]) -> dict[str, Any]:
        key, case = _required(req, "RequestId"), req.get("Case")
        if not isinstance(case, dict):
            raise LineFault("INVALID_REQUEST", "Case is required")
        for name in ("HubCaseNo", "ReceivedTime", "CategoryCode", "Content"):
            _required(case, name, f"Case.{name}")
        if key in self.submits:
            return {"Result": _ok(), "LineCaseId": self.submits[key], "Duplicate": True}
        self.counter += 1
        line_id = f"{self.line}-H{self.run}{self.counter:05d}"
        self.submits[key] = line_id
        self.received[line_id] = {**case, "LineCaseId": line_id}
        self.accepted.append({"key": key, "case_number": case["HubCaseNo"], "event_type": "submit"})
        return {"Result": _ok(), "LineCaseId": line_id}

    def _find(self, req: dict[str, Any]) -> str:
        line_id, hub_no = req.get("LineCaseId"), req.get("HubCaseNo")
        if line_id:
            if line_id in self.received or any(c["LineCaseId"] == line_id for c in self.taken):
                return str(line_id)
            raise LineFault("UNKNOWN_CASE", f"no case {line_id}")
        for lid, case in self.received.items():
            if case.get("HubCaseNo") == hub_no:
                return lid
        for lid, number in self.acks.items():
            if number == hub_no:
                return lid
        raise LineFault("UNKNOWN_CASE", f"no case for 12345 case {hub_no}")

    def _op_PushStatus(self, req: dict[str, Any]) -> dict[str, Any]:
        key = _required(req, "RequestId")
        if key in self.status_requests:
            return self.status_requests[key]
        line_id = self._find(req)
        seq = int(_required(req, "Seq"))
        pushes = self.statuses.setdefault(line_id, [])
        if pushes and seq <= pushes[-1]["Seq"]:
            raise LineFault("STALE_SEQUENCE", f"seq {seq} after {pushes[-1]['Seq']}")
        pushes.append({**req, "Seq": seq})
        self.accepted.append({"key": key, "case_number": str(req.get("HubCaseNo")), "event_type": str(req.get("Event"))})
        answer = {"Result": _ok(), "LastSeq": seq}
        self.status_requests[key] = answer
        return answer

    def _op_FetchTaken(self, req: dict[str, Any]) -> dict[str, Any]:
        start = int(req.get("Cursor") or 0)
        page = self.taken[start : start + int(req.get("MaxCount") or 0)]
        return {"Result": _ok(), "Case": page, "NextCursor": str(start + len(page))}

    def _op_Acknowledge(self, req: dict[str, Any]) -> dict[str, Any]:
        line_id = _required(req, "LineCaseId")
        if not any(c["LineCaseId"] == line_id for c in self.taken):
            raise LineFault("UNKNOWN_CASE", f"no taken case {line_id}")
        self.acks[line_id] = _required(req, "HubCaseNo")
        return {"Result": _ok()}


def _ok() -> dict[str, str]:
    return {"ResultCode": "0", "ResultMessage": "成功"}


def _required(req: dict[str, Any], key: str, name: str | None = None) -> Any:
    if req.get(key) in (None, ""):
        raise LineFault("INVALID_REQUEST", f"{name or key} is required")
    return req[key]


def soap_fault(fault: LineFault) -> Response:
    return xml_response(XML.fault(fault.code, fault.message, fault.server), status=500)


def create_app(state: SoapLineState | None = None) -> FastAPI:
    state = state or SoapLineState()
    app = FastAPI(title=f"sandbox legacy line {state.line} (SOAP)")
    app.state.line = state

    @app.get("/soap")
    def wsdl(request: Request) -> Response:
        return wsdl_response(request, SHIPPED_WSDL, "http://127.0.0.1:8005/soap")

    @app.post("/soap")
    async def soap(request: Request) -> Response:
        with state.lock:
            fault = state.faults.pop(0) if state.faults else None
        if fault == "429":
            return Response("<html><body>429 Too Many Requests</body></html>", status_code=429, media_type="text/html", headers={"Retry-After": "1"})
        if fault == "garbage":
            return Response("<html><body>gateway<br></body></html>", media_type="text/html")
        if fault == "xxe":
            return Response(XXE, media_type="text/xml")
        if fault == "billion":
            return Response(BILLION, media_type="text/xml")
        try:
            _, operation, req = read_call(await request.body())
        except NotAnEnvelope:
            return soap_fault(LineFault("INVALID_REQUEST", "not a SOAP envelope"))
        try:
            if fault in FAULTS:
                raise LineFault(*FAULTS[fault])
            answer = state.handle(operation, req)
        except LineFault as exc:
            return soap_fault(exc)
        return xml_response(XML.answer(operation, answer))

    # -- the conformance kit's control (integration_kit/peer.py) ---------------------------
    def kit_plan(mode: str) -> None:
        with state.lock:
            state.faults.append(mode)

    def kit_received() -> list[dict[str, Any]]:
        with state.lock:
            return [{"key": a["key"], "case_number": a["case_number"]} for a in state.accepted]

    app.include_router(kit_routes(modes=MODES, reset=state.reset, plan=kit_plan, received=kit_received, offer=state.take))

    @app.get("/sandbox/state")
    def sandbox_state() -> dict[str, Any]:
        """What crossed, for newcomers and the sandbox's end-to-end test."""
        received, statuses, acks = state.crossed()
        with state.lock:
            taken = [c["LineCaseId"] for c in state.taken]
        return {"received": received, "statuses": statuses, "taken": taken, "acks": acks}

    return app
