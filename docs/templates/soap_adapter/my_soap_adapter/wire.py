"""The wire client: SOAP through zeep and nothing else. It knows the WSDL's operations, SOAP
faults and the system's result codes, and turns every answer into the contract's errors; it
does not know the hub's codes (that is mapping.py)."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import zeep
from lxml import etree
from zeep import exceptions as zx
from zeep.helpers import serialize_object
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from hub.integration.contract import AdapterError, ConfigurationError, PermanentError, TransientError
from hub.logmask import mask_text

log = logging.getLogger(__name__)

# The binding's qualified name, as `python -m zeep <wsdl>` lists it under "Bindings".
BINDING = "{urn:my_soap_system:cases:v1}CaseServiceBinding"
TRANSIENT_FAULTS = {"Server", "Receiver"}  # SOAP 1.1 / 1.2 "the peer broke"; Client/Sender: "your request is wrong"
# Elements whose text never reaches a log line: personal data your WSDL may carry, and WS-Security.
MASKED_ELEMENTS = frozenset({"ContactName", "ContactPhone", "Address", "Password", "Nonce"})
# XML hardening: no DTD, no entity expansion, no external references, no huge trees.
HARDENED = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True, xml_huge_tree=False)


@dataclass(frozen=True)
class ResultPolicy:
    """The system's <ResultCode> in an HTTP 200 answer (result_codes in the mapping YAML)."""

    ok: frozenset[str]
    transient: frozenset[str]

    def check(self, operation: str, answer: dict[str, Any]) -> dict[str, Any]:
        code = str(answer.get("ResultCode"))
        if code in self.ok:
            return answer
        text = f"{operation}: result code {code}: {mask_text(str(answer.get('ResultMessage') or ''))}"
        if code in self.transient:
            raise TransientError(text)
        raise PermanentError(text)  # listed as permanent, or unknown: an operator should look


def masked(envelope: etree._Element) -> str:
    doc = copy.deepcopy(envelope)
    for element in doc.iter():
        if isinstance(element.tag, str) and etree.QName(element).localname in MASKED_ELEMENTS:
            element.text = "***"
    return mask_text(etree.tostring(doc, encoding="unicode"))


class MaskedLog(zeep.Plugin):
    """Logs every envelope at DEBUG, masked (zeep's own transport logging is bypassed below)."""

    def egress(self, envelope, http_headers, operation, binding_options):  # noqa: ANN001 (zeep's signature)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("SOAP %s request: %s", operation.name, masked(envelope))
        return envelope, http_headers

    def ingress(self, envelope, http_headers, operation):  # noqa: ANN001
        if log.isEnabledFor(logging.DEBUG):
            log.debug("SOAP %s answer: %s", operation.name, masked(envelope))
        return envelope, http_headers


class _Transport(Transport):
    """requests with a connect and a read timeout; an answer that is not XML never reaches zeep."""

    def __init__(self, connect_timeout: float, timeout: float) -> None:
        super().__init__(timeout=timeout, operation_timeout=(connect_timeout, timeout))

    def post(self, address, message, headers):  # noqa: ANN001
        try:
            response = self.session.post(address, data=message, headers=headers, timeout=self.operation_timeout)
        except requests.Timeout as exc:
            raise TransientError(f"timed out: {type(exc).__name__}") from None
        except requests.RequestException as exc:  # refused, reset, DNS, TLS
            raise TransientError(f"transport failed: {type(exc).__name__}") from None
        status = response.status_code
        if not response.headers.get("Content-Type", "").split(";")[0].strip().lower().endswith("xml"):
            # A gateway's page, not the system's SOAP answer. A 2xx like that may or may not have
            # landed: retry, the RequestId dedupes.
            detail = mask_text(response.text[:200])
            if status in (408, 425, 429) or status >= 500 or 200 <= status < 300:
                retry = response.headers.get("Retry-After")
                raise TransientError(f"HTTP {status} without a SOAP answer", detail=detail, retry_after=float(retry) if retry and retry.isdigit() else None)
            raise PermanentError(f"HTTP {status} without a SOAP answer", detail=detail)
        return response


class MySoapClient:
    def __init__(self, *, wsdl: Path, endpoint: str, username: str, password: str, results: ResultPolicy, timeout: float, connect_timeout: float) -> None:
        self.results = results
        self._transport = _Transport(connect_timeout, timeout)
        try:
            client = zeep.Client(str(wsdl), transport=self._transport, settings=HARDENED, wsse=UsernameToken(username, password), plugins=[MaskedLog()])
            self._service = client.create_service(BINDING, endpoint)
        except OSError as exc:  # the WSDL, or an XSD it imports, is not where it should be
            raise ConfigurationError(f"wsdl {wsdl}: cannot read {exc.filename or wsdl}: {exc.strerror or exc}") from None
        except (zx.Error, ValueError) as exc:
            raise ConfigurationError(f"wsdl {wsdl}: not a usable WSDL: {exc}") from None

    def submit_case(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._call("SubmitCase", request)

    def ping(self) -> str | None:
        """None when the system answers; what went wrong otherwise."""
        try:
            self._call("Ping", {})
        except AdapterError as exc:
            return str(exc)
        return None

    def close(self) -> None:
        self._transport.session.close()

    def _call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        try:
            answer = getattr(self._service, operation)(**request)
        except zx.Fault as exc:
            text = f"{operation}: SOAP fault {exc.code}: {mask_text(exc.message or '')}"
            if (exc.code or "").rsplit(":", 1)[-1] in TRANSIENT_FAULTS:
                raise TransientError(text) from None
            raise PermanentError(text) from None
        except (zx.DTDForbidden, zx.EntitiesForbidden, zx.ExternalReferenceForbidden) as exc:
            # An attack or a broken gateway: never expanded, never retried blindly.
            raise PermanentError(f"{operation}: refused an answer with {type(exc).__name__}") from None
        except zx.TransportError as exc:  # XML that is not a SOAP answer, or an error status with broken XML
            status = exc.status_code or 0
            if status in (408, 425, 429) or status >= 500 or 200 <= status < 300:
                raise TransientError(f"{operation}: HTTP {status} without a usable SOAP answer") from None
            raise PermanentError(f"{operation}: HTTP {status} without a usable SOAP answer") from None
        except zx.XMLSyntaxError as exc:  # a 2xx that is not XML: it may or may not have landed
            raise TransientError(f"{operation}: answer is not XML: {exc}") from None
        except (zx.ValidationError, TypeError) as exc:  # our request does not fit the WSDL: resending cannot help
            raise PermanentError(f"{operation}: request does not fit the WSDL: {exc}") from None
        except zx.Error as exc:
            raise PermanentError(f"{operation}: unusable answer: {exc}") from None
        return self.results.check(operation, serialize_object(answer, dict) or {})
