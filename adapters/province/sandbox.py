"""Sandbox province (省平台模拟器): a real HTTP peer speaking province_exchange.wsdl (SOAP at
/soap, the WSDL at GET /soap?wsdl) and the same operations as JSON under /rest/.

It keeps what it receives (reported cases, status pushes in arrival order, deduplicated by
RequestId), assigns cases to the city, and fails on request: each call pops the next
entry of `state.faults`:
    ok         answer normally (to place a fault later in a sequence)
    transient  soap:Server fault BUSY (REST: 503)       permanent  soap:Client fault INVALID_REQUEST (REST: 400)
    unknown    soap:Server fault E999 (not in faults.yaml) http503   503 with an HTML page
    slow       answers after state.slow_seconds        gbk        this answer encoded GBK
    malformed  200 with broken XML / JSON              xxe        an answer with an external entity (file:///etc/passwd)
    billion    an answer with the billion-laughs entity expansion
    xxe-utf16  the XXE answer encoded UTF-16 (gets past byte scans; zeep's forbid_dtd must refuse it)
Set `state.encoding = "GBK"` to answer everything in GBK.

WS-Security: with `state.security_password` set, every SOAP call must carry a
UsernameToken (user `state.security_user`, when set) whose password checks out, as
PasswordText or as PasswordDigest (Base64(SHA-1(nonce + created + password))); anything
else is a soap:Client fault AUTH_FAILED, as a real platform answers a wrong password.

Start it alone:  uvicorn --factory adapters.province.sandbox:create_app --port 8002
(`hotline-hub sandbox` starts it beside the hub and points a destination at it.)
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from lxml import etree

from adapters.province.wire_soap import SHIPPED_WSDL
from adapters.soap_peer import SOAP_ENV, EnvelopeWriter, NotAnEnvelope, read_call, wsdl_response, xml_response

TNS = "urn:sc12345:exchange:v1"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PASSWORD_DIGEST = "#PasswordDigest"
CST = timezone(timedelta(hours=8))


class SandboxFault(Exception):
    def __init__(self, code: str, message: str, server: bool = False) -> None:
        super().__init__(message)
        self.code, self.message, self.server = code, message, server


@dataclass
class ProvinceState:
    reported: dict[str, dict[str, Any]] = field(default_factory=dict)  # province id -> WorkOrder from the city
    report_requests: dict[str, str] = field(default_factory=dict)  # RequestId -> province id
    assigned: list[dict[str, Any]] = field(default_factory=list)  # WorkOrders assigned to the city, in order
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # province id -> pushes, arrival order
    status_requests: dict[str, dict[str, Any]] = field(default_factory=dict)  # RequestId -> first answer
    acks: dict[str, str] = field(default_factory=dict)  # province id -> city case number
    calls: list[str] = field(default_factory=list)  # operations answered, for tests
    accepted: list[str] = field(default_factory=list)  # RequestIds that took effect, arrival order
    security_users: list[str] = field(default_factory=list)  # WS-Security usernames seen
    security_kinds: list[str] = field(default_factory=list)  # their password types: PasswordText / PasswordDigest
    security_user: str | None = None  # when set (with security_password): the only user accepted
    security_password: str | None = None  # when set: every SOAP call must carry this password (text or digest)
    faults: list[str] = field(default_factory=list)
    slow_seconds: float = 3.0
    encoding: str = "utf-8"
    counter: int = 0
    run: str = ""  # put in the ids it makes up (sandbox.run.run_stamp), so runs never collide
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _next_id(self) -> str:
        self.counter += 1
        return f"SC{datetime.now(CST):%Y%m%d}{self.run}{self.counter:06d}"

    def assign(self, **fields: Any) -> str:
        """省转办: assign a case to the city; returns the province's id. Fields override a demo case."""
        with self.lock:
            province_id = fields.pop("ProvinceCaseId", None) or self._next_id()
            order = {
                "ProvinceCaseId": province_id,
                "Channel": "12345-SC",
                "ReceivedTime": datetime.now(CST).replace(microsecond=0).isoformat(),
                "AppealerName": "李四",
                "AppealerPhone": "13900139000",
                "AppealerType": "1",
                "Anonymous": False,
                "Confidential": False,
                "AppealType": "03",
                "CategoryCode": "B01",
                "Title": "网购商品质量投诉",
                "Content": "在本市商家处购买的电器存在质量问题，商家拒绝退换，请求处理。",
                "AreaCode": "512002000000",
                "Address": "雁江区娇子大道88号",
                "Urgency": "1",
                **fields,
            }
            self.assigned.append(order)
            return province_id

    def pushes(self, province_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.statuses.get(province_id, []))

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {
                "reported": self.reported,
                "assigned": self.assigned,
                "statuses": self.statuses,
                "acks": self.acks,
                "calls": self.calls,
                "pending_faults": self.faults,
            }

    # -- the operations, shared by SOAP and REST -------------------------------------------
    def handle(self, operation: str, req: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.calls.append(operation)
            handler = getattr(self, f"_op_{operation}", None)
            if handler is None:
                raise SandboxFault("INVALID_REQUEST", f"unknown operation {operation}")
            return handler(req)

    def _op_ReportCase(self, req: dict[str, Any]) -> dict[str, Any]:
        request_id, order = _required(req, "RequestId"), req.get("WorkOrder")
        if not isinstance(order, dict) or not order.get("CityCaseNo"):
            raise SandboxFault("INVALID_REQUEST", "WorkOrder.CityCaseNo is required")
        for key in ("AppealType", "CategoryCode", "Title", "Content", "AreaCode"):
            if not order.get(key):
                raise SandboxFault("INVALID_REQUEST", f"WorkOrder.{key} is required")
        if request_id in self.report_requests:
            province_id = self.report_requests[request_id]
        else:
            province_id = self._next_id()
            self.report_requests[request_id] = province_id
            self.reported[province_id] = {**order, "ProvinceCaseId": province_id}
            self.accepted.append(request_id)
        return {"Result": _ok(), "ProvinceCaseId": province_id}

    def _find_case(self, req: dict[str, Any]) -> str:
        province_id = req.get("ProvinceCaseId")
        known = set(self.reported) | {o["ProvinceCaseId"] for o in self.assigned}
        if province_id:
            if province_id not in known:
                raise SandboxFault("UNKNOWN_CASE", f"no case {province_id}")
            return province_id
        city_no = req.get("CityCaseNo")
        for pid, order in self.reported.items():
            if order.get("CityCaseNo") == city_no:
                return pid
        raise SandboxFault("UNKNOWN_CASE", f"no case for city case {city_no}")

    def _op_PushStatus(self, req: dict[str, Any]) -> dict[str, Any]:
        request_id = _required(req, "RequestId")
        if request_id in self.status_requests:
            return self.status_requests[request_id]
        province_id = self._find_case(req)
        seq = int(_required(req, "Seq"))
        pushes = self.statuses.setdefault(province_id, [])
        if pushes and seq <= pushes[-1]["Seq"]:
            raise SandboxFault("STALE_SEQUENCE", f"seq {seq} after {pushes[-1]['Seq']}")
        pushes.append({**req, "Seq": seq})
        self.accepted.append(request_id)
        answer = {"Result": _ok(), "LastSeq": seq}
        self.status_requests[request_id] = answer
        return answer

    def _op_FetchAssigned(self, req: dict[str, Any]) -> dict[str, Any]:
        start = int(req.get("Cursor") or 0)
        count = int(req.get("MaxCount") or 50)
        page = self.assigned[start : start + count]
        return {"Result": _ok(), "WorkOrder": page, "NextCursor": str(start + len(page))}

    def _op_AckAssigned(self, req: dict[str, Any]) -> dict[str, Any]:
        province_id = _required(req, "ProvinceCaseId")
        if province_id not in {o["ProvinceCaseId"] for o in self.assigned}:
            raise SandboxFault("UNKNOWN_CASE", f"no assigned case {province_id}")
        self.acks[province_id] = _required(req, "CityCaseNo")
        return {"Result": _ok()}

    def _op_QueryCase(self, req: dict[str, Any]) -> dict[str, Any]:
        province_id = self._find_case({"ProvinceCaseId": _required(req, "ProvinceCaseId")})
        order = self.reported.get(province_id) or next(o for o in self.assigned if o["ProvinceCaseId"] == province_id)
        pushes = self.statuses.get(province_id, [])
        return {
            "Result": _ok(),
            "WorkOrder": order,
            "StatusCode": pushes[-1]["StatusCode"] if pushes else None,
            "LastSeq": pushes[-1]["Seq"] if pushes else None,
        }


def check_username_token(envelope: etree._Element, user: str | None, password: str | None) -> None:
    """SandboxFault AUTH_FAILED unless the envelope's UsernameToken carries `password`
    (and `user`, when given). No password configured: no check."""
    if password is None:
        return
    token = envelope.find(f"{{{SOAP_ENV}}}Header/{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
    if token is None:
        raise SandboxFault("AUTH_FAILED", "认证失败: no WS-Security UsernameToken")
    name = token.findtext(f"{{{WSSE}}}Username")
    sent = token.find(f"{{{WSSE}}}Password")
    if user is not None and name != user:
        raise SandboxFault("AUTH_FAILED", "认证失败: unknown user")
    if sent is None or not sent.text:
        raise SandboxFault("AUTH_FAILED", "认证失败: no password")
    if (sent.get("Type") or "").endswith(PASSWORD_DIGEST):
        nonce, created = token.findtext(f"{{{WSSE}}}Nonce"), token.findtext(f"{{{WSU}}}Created")
        if not nonce or not created:
            raise SandboxFault("AUTH_FAILED", "认证失败: a PasswordDigest needs Nonce and Created")
        try:
            raw_nonce = base64.b64decode(nonce, validate=True)
        except ValueError:
            raise SandboxFault("AUTH_FAILED", "认证失败: Nonce is not Base64") from None
        expected = base64.b64encode(hashlib.sha1(raw_nonce + created.encode() + password.encode()).digest()).decode()
    else:  # PasswordText, or no Type (the profile's default)
        expected = password
    if not hmac.compare_digest(sent.text.encode(), expected.encode()):
        raise SandboxFault("AUTH_FAILED", "认证失败: wrong password")


def _ok() -> dict[str, str]:
    return {"ResultCode": "0", "ResultMessage": "成功"}


def _required(req: dict[str, Any], key: str) -> Any:
    if req.get(key) in (None, ""):
        raise SandboxFault("INVALID_REQUEST", f"{key} is required")
    return req[key]


# -- XML ------------------------------------------------------------------------------------
# xsd:sequence order of tns:WorkOrder: a strict client refuses elements out of order.
WORK_ORDER_FIELDS = (
    "ProvinceCaseId",
    "CityCaseNo",
    "Channel",
    "ReceivedTime",
    "AppealerName",
    "AppealerPhone",
    "AppealerType",
    "Anonymous",
    "Confidential",
    "AppealType",
    "CategoryCode",
    "Title",
    "Content",
    "AreaCode",
    "Address",
    "Longitude",
    "Latitude",
    "Urgency",
    "DueTime",
)
XML = EnvelopeWriter(TNS, {"WorkOrder": WORK_ORDER_FIELDS}, fault_detail="ExchangeFault")
XXE, BILLION = XML.hostile("ReportCase", "ProvinceCaseId")


def soap_fault(fault: SandboxFault) -> etree._Element:
    return XML.fault(fault.code, fault.message, fault.server)


FAULTS = {"transient": ("BUSY", "系统繁忙", True), "permanent": ("INVALID_REQUEST", "报文格式错误", False), "unknown": ("E999", "未知错误", True)}


def create_app(state: ProvinceState | None = None, assign_every: float | None = None) -> FastAPI:
    """The sandbox province. `assign_every` seconds, it assigns a demo case to the city."""
    state = state or ProvinceState()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        task = asyncio.create_task(_assign_loop(state, assign_every)) if assign_every else None
        yield
        if task is not None:
            task.cancel()

    app = FastAPI(title="sandbox province (省平台模拟器)", lifespan=lifespan)
    app.state.province = state

    async def next_fault() -> str | None:
        with state.lock:
            fault = state.faults.pop(0) if state.faults else None
        if fault == "slow":
            await asyncio.sleep(state.slow_seconds)
        return fault

    @app.get("/soap")
    def wsdl(request: Request) -> Response:
        return wsdl_response(request, SHIPPED_WSDL, "http://127.0.0.1:8002/soap")

    @app.post("/soap")
    async def soap(request: Request) -> Response:
        fault = await next_fault()
        encoding = "GBK" if fault == "gbk" else state.encoding
        if fault == "http503":
            return Response("<html><body>503 Service Unavailable</body></html>", status_code=503, media_type="text/html")
        if fault == "malformed":
            return Response(f'<?xml version="1.0"?><soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body><broken', media_type="text/xml")
        if fault == "xxe":
            return Response(XXE, media_type="text/xml")
        if fault == "billion":
            return Response(BILLION, media_type="text/xml")
        if fault == "xxe-utf16":  # the same attack in an encoding a byte scan for "<!DOCTYPE" misses
            return Response(XXE.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"), media_type="text/xml")
        try:
            root, operation, req = read_call(await request.body())
        except NotAnEnvelope:
            return xml_response(soap_fault(SandboxFault("INVALID_REQUEST", "not a SOAP envelope")), encoding, 500)
        user = root.find(f".//{{{WSSE}}}UsernameToken/{{{WSSE}}}Username")
        if user is not None:
            kind = root.find(f".//{{{WSSE}}}UsernameToken/{{{WSSE}}}Password")
            with state.lock:
                state.security_users.append(user.text or "")
                state.security_kinds.append("PasswordDigest" if kind is not None and (kind.get("Type") or "").endswith(PASSWORD_DIGEST) else "PasswordText")
        try:
            check_username_token(root, state.security_user, state.security_password)
            if fault in FAULTS:
                raise SandboxFault(*FAULTS[fault])
            answer = state.handle(operation, req)
        except SandboxFault as exc:
            return xml_response(soap_fault(exc), encoding, 500)
        return xml_response(XML.answer(operation, answer), encoding)

    rest_ops = {
        "report-case": "ReportCase",
        "push-status": "PushStatus",
        "fetch-assigned": "FetchAssigned",
        "ack-assigned": "AckAssigned",
        "query-case": "QueryCase",
    }

    @app.post("/rest/{path}")
    async def rest(path: str, request: Request) -> Response:
        fault = await next_fault()
        encoding = "GBK" if fault == "gbk" else state.encoding
        if fault == "http503":
            return Response("<html>503</html>", status_code=503, media_type="text/html")
        if fault in ("malformed", "xxe", "billion"):
            return Response('{"Result": {"ResultCode": "0"', media_type="application/json")
        if path not in rest_ops:
            return JSONResponse({"Code": "INVALID_REQUEST", "Message": f"no operation {path}"}, status_code=404)
        try:
            charset = request.headers.get("content-type", "").partition("charset=")[2] or "utf-8"
            req = json.loads((await request.body()).decode(charset))
            if fault in FAULTS:
                raise SandboxFault(*FAULTS[fault])
            answer = state.handle(rest_ops[path], req)
        except SandboxFault as exc:
            return _json(encoding, {"Code": exc.code, "Message": exc.message}, 503 if exc.server else 400)
        except (ValueError, LookupError):
            return _json(encoding, {"Code": "INVALID_REQUEST", "Message": "body is not JSON"}, 400)
        return _json(encoding, answer)

    # -- the sandbox's own controls ------------------------------------------------------------
    @app.post("/sandbox/assign")
    async def assign(request: Request) -> dict[str, str]:
        fields = await request.json() if await request.body() else {}
        return {"ProvinceCaseId": state.assign(**fields)}

    @app.post("/sandbox/faults")
    async def faults(request: Request) -> dict[str, Any]:
        body = await request.json()
        with state.lock:
            state.faults.extend(body.get("faults", []))
            return {"pending": state.faults}

    @app.get("/sandbox/state")
    def summary() -> dict[str, Any]:
        return state.summary()

    return app


def _json(encoding: str, body: dict[str, Any], status: int = 200) -> Response:
    text = json.dumps(body, ensure_ascii=False, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v))
    return Response(text.encode(encoding), status_code=status, media_type=f"application/json; charset={encoding}")


async def _assign_loop(state: ProvinceState, every: float) -> None:
    titles = [("03", "B01", "网购商品质量投诉"), ("02", "A01", "小区路灯损坏求助"), ("01", "C02", "医保异地报销咨询")]
    n = 0
    while True:
        await asyncio.sleep(every)
        kind, category, title = titles[n % len(titles)]
        state.assign(AppealType=kind, CategoryCode=category, Title=title)
        n += 1
