"""The REST/JSON wire client for provinces that left SOAP: the same five operations as
POSTs of JSON named like the WSDL's elements, answers in the same shape.

    POST {endpoint}/report-case     ReportCaseRequest   -> ReportCaseResponse
    POST {endpoint}/push-status     PushStatusRequest   -> PushStatusResponse
    POST {endpoint}/fetch-assigned  FetchAssignedRequest-> FetchAssignedResponse
    POST {endpoint}/ack-assigned    AckAssignedRequest  -> AckAssignedResponse
    POST {endpoint}/query-case      QueryCaseRequest    -> QueryCaseResponse

An error answer is non-2xx with the ExchangeFault shape: {"Code": ..., "Message": ...}.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from typing import Any

import httpx
from pydantic import SecretStr

from adapters.http import send, transient_status
from adapters.province.wire import PERSONAL_ELEMENTS, FaultPolicy, ProvincePermanentError, ProvinceTransientError, Wire
from hub.integration.http import http_client
from hub.logmask import mask_text

log = logging.getLogger("adapters.province.rest")

PATHS = {
    "report_case": "report-case",
    "push_status": "push-status",
    "fetch_assigned": "fetch-assigned",
    "ack_assigned": "ack-assigned",
    "query_case": "query-case",
}


def _json_default(value: Any) -> str:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("***" if k in PERSONAL_ELEMENTS and v else _masked(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


class ProvinceRestClient:
    def __init__(
        self,
        *,
        endpoint: str,
        faults: FaultPolicy,
        connect_timeout: float = 3.0,
        timeout: float = 10.0,
        encoding: str = "utf-8",
        token: SecretStr | None = None,
    ) -> None:
        self.endpoint, self.faults, self.encoding = endpoint.rstrip("/"), faults, encoding
        headers = {"User-Agent": "12345-hub", "Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        # default_encoding: a province that answers GBK without a charset is read as configured.
        self._client = http_client(headers=headers, timeout=httpx.Timeout(timeout, connect=connect_timeout), default_encoding=encoding)

    def report_case(self, request: Wire) -> Wire:
        return self._call("report_case", request)

    def push_status(self, request: Wire) -> Wire:
        return self._call("push_status", request)

    def fetch_assigned(self, request: Wire) -> Wire:
        return self._call("fetch_assigned", request)

    def ack_assigned(self, request: Wire) -> Wire:
        return self._call("ack_assigned", request)

    def query_case(self, request: Wire) -> Wire:
        return self._call("query_case", request)

    def close(self) -> None:
        self._client.close()

    def _call(self, operation: str, request: Wire) -> Wire:
        body = json.dumps(request, ensure_ascii=False, default=_json_default).encode(self.encoding)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("province REST %s request: %s", operation, mask_text(json.dumps(_masked(request), ensure_ascii=False, default=_json_default)))
        response = send(
            self._client,
            "POST",
            f"{self.endpoint}/{PATHS[operation]}",
            content=body,
            label=f"province {operation}: ",
            transient=ProvinceTransientError,
            headers={"Content-Type": f"application/json; charset={self.encoding}"},
        )
        answer = self._json(operation, response)
        status = response.status_code
        if not 200 <= status < 300:
            code = answer.get("Code") if isinstance(answer, dict) else None
            message = str(answer.get("Message", "")) if isinstance(answer, dict) else ""
            server_side = transient_status(status)
            raise self.faults.error(str(code) if code else None, mask_text(message) or f"HTTP {status}", server_side=server_side)
        if not isinstance(answer, dict):
            raise ProvinceTransientError(f"province {operation}: answer is not a JSON object")
        if log.isEnabledFor(logging.DEBUG):
            log.debug("province REST %s answer: %s", operation, mask_text(json.dumps(_masked(answer), ensure_ascii=False)))
        return self.faults.check_result(answer)

    def _json(self, operation: str, response: httpx.Response) -> Any:
        if not response.content:
            return {}
        try:
            # response.text decodes by the declared charset (GBK included), then JSON.
            return json.loads(response.text)
        except ValueError:
            if response.status_code >= 500 or 200 <= response.status_code < 300:
                raise ProvinceTransientError(f"province {operation}: HTTP {response.status_code} with a body that is not JSON") from None
            raise ProvincePermanentError(f"province {operation}: HTTP {response.status_code}") from None
