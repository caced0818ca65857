"""The wire to a line's WebService: zeep over requests, speaking legacy_exchange.wsdl and
nothing else. Hardened as the province's client is (adapters/soap.py): no DTD, no entity
declarations, no external references, separate connect and read timeouts, envelopes
logged (DEBUG) with names, phones and addresses masked. Every failure leaves as the
contract's TransientError or PermanentError.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from zeep import exceptions as zx
from zeep.helpers import serialize_object

from adapters import soap
from adapters.legacy_hotlines.bridge.wire import OutgoingCase, StatusChange, TakenPage
from adapters.legacy_hotlines.config import LineMapping
from hub.domain.access import mask_address, mask_name, mask_phone
from hub.integration.contract import AdapterError, HealthReport, PermanentError, TransientError
from hub.logmask import mask_text

log = logging.getLogger("adapters.legacy.soap")

SHIPPED_WSDL = Path(__file__).with_name("legacy_exchange.wsdl")
TNS = "urn:sc12345:legacy-line:v1"
BINDING = f"{{{TNS}}}LineExchangeBinding"
MASKS = {"AppealerName": mask_name, "AppealerPhone": mask_phone, "Address": mask_address}
# The line's own "no such case": a status for a case it never held is not worth a dead letter.
UNKNOWN_CASE = "UNKNOWN_CASE"
# Codes legacy_exchange.wsdl documents as "this request can never succeed".
PERMANENT_FAULTS = frozenset({"INVALID_REQUEST", "AUTH_FAILED", UNKNOWN_CASE, "UNKNOWN_CODE", "REQUEST_CONFLICT"})

# Canonical field (LineMapping.fields) <-> tns:LineCase element.
ELEMENTS = {
    "original_id": "LineCaseId",
    "received_at": "ReceivedTime",
    "person_name": "AppealerName",
    "person_phone": "AppealerPhone",
    "request_type": "AppealType",
    "category": "CategoryCode",
    "title": "Title",
    "content": "Content",
    "division": "AreaCode",
    "address": "Address",
    "urgency": "Urgency",
    "status": "StatusCode",
    "unit": "HandlerUnit",
}


class LineFaultError:
    """Mixin naming the line's fault code on the error the adapter raises."""

    code: str | None = None


class LineTransientError(TransientError, LineFaultError):
    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class LinePermanentError(PermanentError, LineFaultError):
    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class SoapLine:
    """The LineTransport over SOAP."""

    def __init__(
        self,
        *,
        mapping: LineMapping,
        endpoint: str,
        transient_faults: Iterable[str],
        wsdl: str | None = None,
        connect_timeout: float = 3.0,
        timeout: float = 10.0,
        encoding: str = "utf-8",
        page_size: int = 50,
    ) -> None:
        self.mapping, self.endpoint, self.page_size = mapping, endpoint, page_size
        self.line = mapping.line
        self.transient_faults = frozenset(transient_faults)
        self.wsdl = wsdl or str(SHIPPED_WSDL)
        self.transport = soap.HardenedTransport(connect_timeout, timeout, encoding)
        self._service: Any = None

    def service(self) -> Any:
        """Built on first use, so a remote WSDL that is down delays the first call, not the start."""
        if self._service is None:
            self._service = soap.load_service(
                self.wsdl,
                self.endpoint,
                BINDING,
                transport=self.transport,
                plugins=[soap.MaskingLogPlugin(log, MASKS, f"line {self.line}")],
                transient=LineTransientError,
                permanent=LinePermanentError,
            )
        return self._service

    # -- the four operations ---------------------------------------------------------------
    def submit(self, case: OutgoingCase, key: str) -> str:
        body = {ELEMENTS[name]: value for name, value in case.fields.items() if value is not None}
        answer = self._call("SubmitCase", {"RequestId": key, "Line": self.line, "Case": {"HubCaseNo": case.hub_case_number, **body}})
        line_id = answer.get("LineCaseId")
        if not isinstance(line_id, str) or not line_id:
            raise LinePermanentError(f"line {self.line} accepted SubmitCase but answered no LineCaseId")
        return line_id

    def push_status(self, change: StatusChange, key: str) -> bool:
        request = {
            "RequestId": key,
            "Line": self.line,
            "HubCaseNo": change.hub_case_number,
            "LineCaseId": change.line_case_id,
            "Seq": change.seq,
            "Event": change.event,
            "HubState": change.hub_state,
            "StatusCode": change.status_code,
            "OccurredTime": change.occurred_at,
            "HandlerUnit": change.unit_code,
            "HandlerUnitName": change.unit_name,
            "Opinion": change.opinion,
        }
        try:
            self._call("PushStatus", {k: v for k, v in request.items() if v is not None})
        except LinePermanentError as exc:
            if exc.code == UNKNOWN_CASE:
                return False
            raise
        return True

    def taken(self, cursor: str | None) -> TakenPage:
        answer = self._call("FetchTaken", {"Line": self.line, "Cursor": cursor or None, "MaxCount": self.page_size})
        f = self.mapping.fields
        rows = []
        for item in answer.get("Case") or []:
            # Into the line's column names, so the export's RowMapper reads it like an export row.
            rows.append(
                {getattr(f, name): item.get(element) for name, element in ELEMENTS.items() if getattr(f, name) is not None and item.get(element) is not None}
            )
        return TakenPage(rows=rows, next_cursor=answer.get("NextCursor") or cursor)

    def acknowledge(self, line_case_id: str, hub_case_number: str) -> None:
        self._call(
            "Acknowledge", {"RequestId": f"ack:{line_case_id}:{hub_case_number}", "Line": self.line, "LineCaseId": line_case_id, "HubCaseNo": hub_case_number}
        )

    def health(self) -> HealthReport:
        try:
            self._call("FetchTaken", {"Line": self.line, "Cursor": None, "MaxCount": 1})
        except AdapterError as exc:
            return HealthReport(ok=False, detail=str(exc))
        return HealthReport(ok=True, detail=f"line {self.line} WebService answers")

    def close(self) -> None:
        self.transport.session.close()

    # -- one call ------------------------------------------------------------------------------
    def _call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        service = self.service()
        answer = soap.call_soap(
            f"line {self.line}",
            operation,
            lambda: getattr(service, operation)(**request),
            transient=LineTransientError,
            permanent=LinePermanentError,
            on_fault=self._fault_error,
        )
        answer = soap.plain(serialize_object(answer, dict))
        if not isinstance(answer, dict):
            raise LineTransientError(f"line {self.line} {operation}: answer is not a {operation}Response")
        # zeep answers a response whose only element is its Result with the Result itself.
        result = answer if "ResultCode" in answer else answer.get("Result")
        if not isinstance(result, dict):  # strict out: the line may have applied it, so again with the same key
            raise LineTransientError(f"line {self.line} {operation}: unreadable answer: no Result")
        code = str(result.get("ResultCode", "0"))
        if code != "0":  # a failure reported in-band rather than as a fault: the line's judgement
            raise self._error(code, str(result.get("ResultMessage") or ""), server_side=False)
        return answer

    def _fault_error(self, fault: zx.Fault) -> AdapterError:
        if fault.code is None:  # zeep found no soap:Fault: some XML that is not the line's answer
            return LineTransientError(f"line {self.line}: unusable answer: {mask_text(fault.message or '')}")
        code = soap.fault_code(fault, f"{{{TNS}}}LineFault/{{{TNS}}}Code")
        return self._error(code, mask_text(fault.message or ""), server_side=soap.server_side(fault))

    def _error(self, code: str | None, message: str, *, server_side: bool) -> AdapterError:
        text = f"line {self.line} fault {code or '(no code)'}: {message}"
        if code in self.transient_faults:
            return LineTransientError(text, code=code)
        if code in PERMANENT_FAULTS:
            return LinePermanentError(text, code=code)
        # A code the WSDL does not document (or none): the faultcode says whose fault it is.
        return LineTransientError(text, code=code) if server_side else LinePermanentError(text, code=code)
