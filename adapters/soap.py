"""What every in-tree zeep client shares: XML hardening, a transport with connect and read
timeouts, envelope logging with personal data masked, and the sorting of what can go
wrong in a SOAP call into the contract's TransientError / PermanentError.

Used by adapters/province/wire_soap.py and adapters/legacy_hotlines/bridge/wire_soap.py; each
keeps only what its WSDL makes its own (operations, element names, fault codes).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from typing import Any

import requests
from lxml import etree
from zeep import Client, Plugin, Settings
from zeep import exceptions as zx
from zeep.transports import Transport

from hub.integration.contract import AdapterError, TransientError
from hub.logmask import mask_text

Masks = Mapping[str, Callable[[str | None], str | None]]
# WS-Security secrets are never logged, whatever the WSDL.
_SECRETS = ("Password", "Nonce")


def hardened_settings() -> Settings:
    """No DTDs, no entity declarations, no external references, no huge trees."""
    return Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True, xml_huge_tree=False)


def masked_envelope(envelope: etree._Element, masks: Masks) -> str:
    """The envelope as text: elements named in `masks` masked by their function, secrets starred."""
    doc = copy.deepcopy(envelope)
    for element in doc.iter():
        if not isinstance(element.tag, str):
            continue
        name = etree.QName(element).localname
        if name in masks:
            element.text = masks[name](element.text)
        elif name in _SECRETS:
            element.text = "***"
    return mask_text(etree.tostring(doc, encoding="unicode"))


class MaskingLogPlugin(Plugin):
    """Logs each envelope (DEBUG) with personal data masked."""

    def __init__(self, logger: logging.Logger, masks: Masks, label: str) -> None:
        self.log, self.masks, self.label = logger, masks, label

    def egress(self, envelope, http_headers, operation, binding_options):  # noqa: ANN001 (zeep's signature)
        if self.log.isEnabledFor(logging.DEBUG):
            self.log.debug("%s SOAP %s request: %s", self.label, operation.name, masked_envelope(envelope, self.masks))
        return envelope, http_headers

    def ingress(self, envelope, http_headers, operation):  # noqa: ANN001
        if self.log.isEnabledFor(logging.DEBUG):
            self.log.debug("%s SOAP %s answer: %s", self.label, operation.name, masked_envelope(envelope, self.masks))
        return envelope, http_headers


class UnsafeAnswer(Exception):
    """An answer carrying a DTD or entity declarations (XXE, billion laughs)."""


class NotSoap(Exception):
    def __init__(self, status: int, retry_after: str | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.retry_after = status, retry_after


class HardenedTransport(Transport):
    """requests with separate connect and read timeouts, requests in the peer's encoding,
    and answers with a DTD refused before any parser sees them."""

    def __init__(self, connect_timeout: float, timeout: float, encoding: str = "utf-8") -> None:
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
        # Defence in depth beside zeep's forbid_dtd: no answer of these exchanges has a DTD,
        # so one that does is refused before any parser sees it.
        if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
            raise UnsafeAnswer("the answer declares a DTD or entities")
        media = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if response.status_code != 200 and not media.endswith("xml"):
            # A gateway's error page, not the peer's SOAP fault.
            raise NotSoap(response.status_code, response.headers.get("Retry-After"))
        return response


def load_service(
    wsdl: str,
    endpoint: str,
    binding: str,
    *,
    transport: Transport,
    plugins: list[Plugin],
    transient: Callable[..., AdapterError],
    permanent: Callable[..., AdapterError],
    wsse: Any = None,
) -> Any:
    """The zeep service of `binding` at `endpoint`, from the WSDL (a file or a URL), hardened.
    A WSDL that cannot be fetched is `transient` (the peer may be down); one that is not a
    usable WSDL is `permanent` (fetching it again gives the same)."""
    try:
        client = Client(wsdl, transport=transport, settings=hardened_settings(), wsse=wsse, plugins=plugins)
    except (requests.RequestException, zx.TransportError) as exc:
        raise transient(f"could not load the WSDL {wsdl}: {exc}") from exc
    except (zx.Error, OSError, etree.XMLSyntaxError) as exc:
        raise permanent(f"the WSDL {wsdl} is unusable: {exc}") from exc
    return client.create_service(binding, endpoint)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def call_soap(
    label: str,
    operation: str,
    call: Callable[[], Any],
    *,
    transient: Callable[..., TransientError],
    permanent: Callable[..., AdapterError],
    on_fault: Callable[[zx.Fault], AdapterError],
) -> Any:
    """Run one zeep call; every failure leaves as `transient(msg)` or `permanent(msg)`
    (or what `on_fault` makes of a soap:Fault). Bugs in our own code are not caught."""
    try:
        return call()
    except zx.Fault as fault:
        raise on_fault(fault) from None
    except NotSoap as exc:
        if exc.status in (408, 425, 429) or exc.status >= 500:
            error = transient(f"{label} {operation}: {exc} without a SOAP answer")
            error.retry_after = _retry_after(exc.retry_after)
            raise error from None
        raise permanent(f"{label} {operation}: {exc} without a SOAP answer") from None
    except (UnsafeAnswer, zx.DTDForbidden, zx.EntitiesForbidden, zx.ExternalReferenceForbidden) as exc:
        # A DTD in an answer is either an attack or a broken gateway: never expand it, never retry blindly.
        raise permanent(f"{label} {operation}: refused an answer with {type(exc).__name__}") from None
    except zx.TransportError as exc:
        status = exc.status_code or 0
        if status in (408, 425, 429) or status >= 500 or status == 200:  # 200 with broken XML: a proxy page
            raise transient(f"{label} {operation}: HTTP {status} without a usable SOAP answer") from None
        raise permanent(f"{label} {operation}: HTTP {status}") from None
    except (zx.XMLSyntaxError, etree.XMLSyntaxError) as exc:
        raise transient(f"{label} {operation}: malformed XML answer: {exc}") from None
    except requests.Timeout as exc:
        raise transient(f"{label} {operation}: timed out ({type(exc).__name__})") from None
    except requests.RequestException as exc:
        raise transient(f"{label} {operation}: transport failed: {type(exc).__name__}") from None
    except zx.XMLParseError as exc:
        # An answer that does not fit the WSDL (a required element missing, one it does not
        # know): the peer may have applied the call, so it goes again with the same key (safe
        # by design) and is dead-lettered only when the attempts run out.
        raise transient(f"{label} {operation}: unreadable answer: {exc}") from None
    except (zx.ValidationError, TypeError) as exc:
        # Our request does not fit the WSDL: sending it again cannot help.
        raise permanent(f"{label} {operation}: request does not fit the WSDL: {exc}") from None
    except zx.Error as exc:
        raise permanent(f"{label} {operation}: unusable answer: {exc}") from None


def fault_code(fault: zx.Fault, detail_path: str) -> str | None:
    """The peer's own code from soap:Fault/detail (an ElementPath relative to detail).

    Lenient in: the path's elements are matched by local name, so a detail whose elements
    carry no namespace (some stacks send it so) or another prefix's is read as well."""
    if not isinstance(fault.detail, etree._Element):
        return None
    node: etree._Element = fault.detail
    for step in detail_path.split("/"):
        name = etree.QName(step).localname
        found = next((child for child in node if isinstance(child.tag, str) and etree.QName(child).localname == name), None)
        if found is None:
            return None
        node = found
    return node.text.strip() if node.text and node.text.strip() else None


def server_side(fault: zx.Fault) -> bool:
    """soap:Server (1.1) or soap:Receiver (1.2): the peer broke, not our request."""
    return (fault.code or "").split(":")[-1] in ("Server", "Receiver")


def plain(value: Any) -> Any:
    """zeep's OrderedDicts and None-for-missing lists into plain dicts and lists."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
