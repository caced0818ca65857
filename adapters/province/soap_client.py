"""The SOAP wire client: zeep over requests, speaking province_exchange.wsdl and nothing else.

Hardening: answers with a DTD, entity declarations or external references are refused
before anything is expanded (XXE, billion laughs), huge trees are refused, and the WSDL is
read from the shipped file unless configured otherwise. Errors leave as the contract's
TransientError / PermanentError only.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any, Callable

import requests
from lxml import etree
from pydantic import SecretStr
from zeep import Client, Plugin, Settings
from zeep import exceptions as zx
from zeep.helpers import serialize_object
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from adapters.province.wire import PERSONAL_ELEMENTS, FaultPolicy, ProvincePermanentError, ProvinceTransientError, Wire
from hub.domain.access import mask_address, mask_name, mask_phone
from hub.logmask import mask_text

log = logging.getLogger("adapters.province.soap")

SHIPPED_WSDL = Path(__file__).with_name("province_exchange.wsdl")
BINDING = "{urn:sc12345:exchange:v1}ExchangeBinding"
FAULT_NS = "urn:sc12345:exchange:v1"

_MASKS: dict[str, Callable[[str | None], str | None]] = {
    "AppealerName": mask_name, "AppealerPhone": mask_phone, "Address": mask_address,
}


def hardened_settings() -> Settings:
    return Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True, xml_huge_tree=False)


def masked_envelope(envelope: etree._Element) -> str:
    """The envelope as text with personal data and WS-Security secrets masked."""
    doc = copy.deepcopy(envelope)
    for element in doc.iter():
        if not isinstance(element.tag, str):
            continue
        name = etree.QName(element).localname
        if name in PERSONAL_ELEMENTS:
            element.text = _MASKS[name](element.text)
        elif name in ("Password", "Nonce"):
            element.text = "***"
    return mask_text(etree.tostring(doc, encoding="unicode"))


class MaskingLogPlugin(Plugin):
    """Logs each envelope (DEBUG) with names, phones and addresses masked."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self.log = logger

    def egress(self, envelope, http_headers, operation, binding_options):  # noqa: ANN001 (zeep's signature)
        if self.log.isEnabledFor(logging.DEBUG):
            self.log.debug("province SOAP %s request: %s", operation.name, masked_envelope(envelope))
        return envelope, http_headers

    def ingress(self, envelope, http_headers, operation):  # noqa: ANN001
        if self.log.isEnabledFor(logging.DEBUG):
            self.log.debug("province SOAP %s answer: %s", operation.name, masked_envelope(envelope))
        return envelope, http_headers


class UnsafeAnswer(Exception):
    """An answer carrying a DTD or entity declarations (XXE, billion laughs)."""


class NotSoap(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class _ProvinceTransport(Transport):
    """requests with separate connect and read timeouts, and requests in the province's encoding."""

    def __init__(self, connect_timeout: float, timeout: float, encoding: str) -> None:
        session = requests.Session()
        session.headers["User-Agent"] = "12345-hub"
        super().__init__(timeout=timeout, operation_timeout=(connect_timeout, timeout), session=session)
        self.encoding = encoding

    def post_xml(self, address, envelope, headers):  # noqa: ANN001
        body = etree.tostring(envelope, encoding=self.encoding, xml_declaration=True)
        headers = {**headers, "Content-Type": f"text/xml; charset={self.encoding}"}
        return self.post(address, body, headers)

    def post(self, address, message, headers):  # noqa: ANN001
        # zeep's own post logs raw bodies at DEBUG, personal data included: the plugin logs instead.
        response = self.session.post(address, data=message, headers=headers, timeout=self.operation_timeout)
        head = response.content[:4096]
        # Defence in depth beside zeep's forbid_dtd: no answer of this exchange has a DTD,
        # so one that does is refused before any parser sees it.
        if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
            raise UnsafeAnswer("the answer declares a DTD or entities")
        media = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if response.status_code != 200 and not media.endswith("xml"):
            raise NotSoap(response.status_code)  # a gateway's error page, not the province's SOAP fault
        return response


class ProvinceSoapClient:
    def __init__(self, *, endpoint: str, faults: FaultPolicy, wsdl: str | None = None, connect_timeout: float = 3.0,
                 timeout: float = 10.0, encoding: str = "utf-8", username: str | None = None,
                 password: SecretStr | None = None, password_digest: bool = False) -> None:
        self.endpoint, self.faults = endpoint, faults
        self.wsdl = wsdl or str(SHIPPED_WSDL)
        self.transport = _ProvinceTransport(connect_timeout, timeout, encoding)
        self.wsse = (UsernameToken(username, password.get_secret_value() if password else None, use_digest=password_digest)
                     if username else None)
        self._service: Any = None

    def service(self) -> Any:
        """Built on first use, so a remote WSDL that is down delays the first call, not the start."""
        if self._service is None:
            try:
                client = Client(self.wsdl, transport=self.transport, settings=hardened_settings(),
                                wsse=self.wsse, plugins=[MaskingLogPlugin()])
            except (requests.RequestException, zx.TransportError) as exc:
                raise ProvinceTransientError(f"could not load the WSDL {self.wsdl}: {exc}") from exc
            except (zx.Error, OSError, etree.XMLSyntaxError) as exc:
                raise ProvincePermanentError(f"the WSDL {self.wsdl} is unusable: {exc}") from exc
            self._service = client.create_service(BINDING, self.endpoint)
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
        try:
            answer = getattr(service, operation)(**request)
        except zx.Fault as fault:
            raise self._fault_error(fault) from None
        except NotSoap as exc:
            if exc.status in (408, 425, 429) or exc.status >= 500:
                raise ProvinceTransientError(f"province {operation}: {exc} without a SOAP answer") from None
            raise ProvincePermanentError(f"province {operation}: {exc} without a SOAP answer") from None
        except (UnsafeAnswer, zx.DTDForbidden, zx.EntitiesForbidden, zx.ExternalReferenceForbidden) as exc:
            # A DTD in an answer is either an attack or a broken gateway: never expand it, never retry blindly.
            raise ProvincePermanentError(f"province {operation}: refused an answer with {type(exc).__name__}") from None
        except zx.TransportError as exc:
            status = exc.status_code or 0
            if status in (408, 425, 429) or status >= 500 or status == 200:  # 200 with broken XML: a proxy page
                raise ProvinceTransientError(f"province {operation}: HTTP {status} without a usable SOAP answer") from None
            raise ProvincePermanentError(f"province {operation}: HTTP {status}") from None
        except (zx.XMLSyntaxError, etree.XMLSyntaxError) as exc:
            raise ProvinceTransientError(f"province {operation}: malformed XML answer: {exc}") from None
        except requests.Timeout as exc:
            raise ProvinceTransientError(f"province {operation}: timed out ({type(exc).__name__})") from None
        except requests.RequestException as exc:
            raise ProvinceTransientError(f"province {operation}: transport failed: {type(exc).__name__}") from None
        except (zx.ValidationError, TypeError) as exc:
            # Our request does not fit the WSDL: sending it again cannot help.
            raise ProvincePermanentError(f"province {operation}: request does not fit the WSDL: {exc}") from None
        except zx.Error as exc:
            raise ProvincePermanentError(f"province {operation}: unusable answer: {exc}") from None
        return self.faults.check_result(_plain(serialize_object(answer, dict)))

    def _fault_error(self, fault: zx.Fault) -> Exception:
        if fault.code is None:  # zeep found no soap:Fault: some XML that is not the province's answer
            return ProvinceTransientError(f"unusable answer: {mask_text(fault.message or '')}")
        code = None
        if isinstance(fault.detail, etree._Element):
            node = fault.detail.find(f"{{{FAULT_NS}}}ExchangeFault/{{{FAULT_NS}}}Code")
            code = node.text.strip() if node is not None and node.text else None
        server_side = (fault.code or "").split(":")[-1] == "Server"
        return self.faults.error(code, mask_text(fault.message or ""), server_side=server_side)


def _plain(value: Any) -> Any:
    """zeep's OrderedDicts and None-for-missing lists into plain dicts and lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
