"""The SOAP wire client: zeep over requests, speaking province_exchange.wsdl and nothing else.

Hardening: answers with a DTD, entity declarations or external references are refused
before anything is expanded (XXE, billion laughs), huge trees are refused, and the WSDL is
read from the shipped file unless configured otherwise. Errors leave as the contract's
TransientError / PermanentError only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lxml import etree
from pydantic import SecretStr
from zeep import exceptions as zx
from zeep.helpers import serialize_object
from zeep.wsse.username import UsernameToken

from adapters import soap
from adapters.province.wire import FaultPolicy, ProvincePermanentError, ProvinceTransientError, Wire
from adapters.soap import NotSoap, UnsafeAnswer, hardened_settings  # noqa: F401  (this module's public names)
from hub.domain.access import mask_address, mask_name, mask_phone
from hub.integration.contract import AdapterError
from hub.logmask import mask_text

log = logging.getLogger("adapters.province.soap")

SHIPPED_WSDL = Path(__file__).with_name("province_exchange.wsdl")
BINDING = "{urn:sc12345:exchange:v1}ExchangeBinding"
FAULT_NS = "urn:sc12345:exchange:v1"

# PERSONAL_ELEMENTS (wire.py), each with its mask.
_MASKS: dict[str, Callable[[str | None], str | None]] = {
    "AppealerName": mask_name,
    "AppealerPhone": mask_phone,
    "Address": mask_address,
}


def masked_envelope(envelope: etree._Element) -> str:
    """The envelope as text with personal data and WS-Security secrets masked."""
    return soap.masked_envelope(envelope, _MASKS)


class ProvinceSoapClient:
    def __init__(
        self,
        *,
        endpoint: str,
        faults: FaultPolicy,
        wsdl: str | None = None,
        connect_timeout: float = 3.0,
        timeout: float = 10.0,
        encoding: str = "utf-8",
        username: str | None = None,
        password: SecretStr | None = None,
        password_digest: bool = False,
    ) -> None:
        self.endpoint, self.faults = endpoint, faults
        self.wsdl = wsdl or str(SHIPPED_WSDL)
        self.transport = soap.HardenedTransport(connect_timeout, timeout, encoding)
        self.wsse = UsernameToken(username, password.get_secret_value() if password else None, use_digest=password_digest) if username else None
        self._service: Any = None

    def service(self) -> Any:
        """Built on first use, so a remote WSDL that is down delays the first call, not the start."""
        if self._service is None:
            self._service = soap.load_service(
                self.wsdl,
                self.endpoint,
                BINDING,
                transport=self.transport,
                wsse=self.wsse,
                plugins=[soap.MaskingLogPlugin(log, _MASKS, "province")],
                transient=ProvinceTransientError,
                permanent=ProvincePermanentError,
            )
        return self._service

    def report_case(self, request: Wire) -> Wire:
        return self._call("ReportCase", request)

    def push_status(self, request: Wire) -> Wire:
        return self._call("PushStatus", request)

    def fetch_assigned(self, request: Wire) -> Wire:
        return self._call("FetchAssigned", request)

    def ack_assigned(self, request: Wire) -> Wire:
        return self._call("AckAssigned", request)

    def query_case(self, request: Wire) -> Wire:
        return self._call("QueryCase", request)

    def close(self) -> None:
        self.transport.session.close()

    def _call(self, operation: str, request: Wire) -> Wire:
        service = self.service()
        answer = soap.call_soap(
            "province",
            operation,
            lambda: getattr(service, operation)(**request),
            transient=ProvinceTransientError,
            permanent=ProvincePermanentError,
            on_fault=self._fault_error,
        )
        return self.faults.check_result(soap.plain(serialize_object(answer, dict)))

    def _fault_error(self, fault: zx.Fault) -> AdapterError:
        if fault.code is None:  # zeep found no soap:Fault: some XML that is not the province's answer
            return ProvinceTransientError(f"unusable answer: {mask_text(fault.message or '')}")
        code = soap.fault_code(fault, f"{{{FAULT_NS}}}ExchangeFault/{{{FAULT_NS}}}Code")
        return self.faults.error(code, mask_text(fault.message or ""), server_side=soap.server_side(fault))
