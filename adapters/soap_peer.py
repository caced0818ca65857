"""The server side of SOAP for the in-tree sandbox peers (the province, the SOAP legacy
line): reading a call, writing answers and faults in a WSDL's element order, serving the
WSDL at its own address, and the hostile answers the clients must refuse.

adapters/soap.py is the hub's client side; this is what the simulators the tests and
`hotline-hub sandbox` run share, so each keeps only its own operations and state.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from lxml import etree

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"

# Hardened like the hub's client: a sandbox must not be the easy target either.
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True)


class NotAnEnvelope(ValueError):
    """The request body is not a SOAP envelope with a call in its body."""


def read_call(body: bytes) -> tuple[etree._Element, str, dict[str, Any]]:
    """(the envelope, the operation's name, its request as a dict) of a SOAP request."""
    try:
        root = etree.fromstring(body, parser=PARSER)
        soap_body = root.find(f"{{{SOAP_ENV}}}Body")
        call = next(c for c in soap_body if isinstance(c.tag, str))
    except (etree.XMLSyntaxError, StopIteration, TypeError) as exc:
        raise NotAnEnvelope("not a SOAP envelope") from exc
    return root, etree.QName(call).localname.removesuffix("Request"), to_dict(call) or {}


def to_dict(element: etree._Element) -> Any:
    """Child elements by local name, recursively; a leaf is its text; a name that repeats
    (maxOccurs > 1, e.g. the province's Attachment) a list of them."""
    children = [c for c in element if isinstance(c.tag, str)]
    if not children:
        return element.text
    grouped: dict[str, list[Any]] = {}
    for child in children:
        grouped.setdefault(etree.QName(child).localname, []).append(to_dict(child))
    return {name: values[0] if len(values) == 1 else values for name, values in grouped.items()}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class EnvelopeWriter:
    """Answers and faults of one WSDL. `sequences` gives the xsd:sequence order of the complex
    types the peer sends back (element name -> child names): a strict client such as zeep
    refuses elements out of order, so the dicts the state keeps are written in that order."""

    def __init__(self, tns: str, sequences: Mapping[str, tuple[str, ...]], fault_detail: str) -> None:
        self.tns, self.sequences, self.fault_detail = tns, sequences, fault_detail

    def _append(self, parent: etree._Element, name: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, list):
            for item in value:
                self._append(parent, name, item)
            return
        if name in self.sequences and isinstance(value, dict):
            value = {k: value.get(k) for k in self.sequences[name]}
        child = etree.SubElement(parent, f"{{{self.tns}}}{name}")
        if isinstance(value, dict):
            for key, inner in value.items():
                self._append(child, key, inner)
        else:
            child.text = _text(value)

    def envelope(self, body: etree._Element) -> etree._Element:
        env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV, "tns": self.tns})
        etree.SubElement(env, f"{{{SOAP_ENV}}}Body").append(body)
        return env

    def answer(self, operation: str, answer: Mapping[str, Any]) -> etree._Element:
        body = etree.Element(f"{{{self.tns}}}{operation}Response")
        for key, value in answer.items():
            self._append(body, key, value)
        return self.envelope(body)

    def fault(self, code: str, message: str, server: bool) -> etree._Element:
        """soap:Server (worth a retry) or soap:Client, with the WSDL's fault detail (Code, Message)."""
        node = etree.Element(f"{{{SOAP_ENV}}}Fault")
        etree.SubElement(node, "faultcode").text = "soap:Server" if server else "soap:Client"
        etree.SubElement(node, "faultstring").text = message
        detail = etree.SubElement(etree.SubElement(node, "detail"), f"{{{self.tns}}}{self.fault_detail}")
        etree.SubElement(detail, f"{{{self.tns}}}Code").text = code
        etree.SubElement(detail, f"{{{self.tns}}}Message").text = message
        return self.envelope(node)

    def hostile(self, operation: str, field: str) -> tuple[str, str]:
        """(an answer declaring an external entity, the billion-laughs expansion) of `operation`
        with the attack in `field`: what a hardened client must refuse without harm."""
        head = f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body><{operation}Response xmlns="{self.tns}"><Result><ResultCode>0</ResultCode></Result>'
        tail = f"</{operation}Response></soap:Body></soap:Envelope>"
        xxe = f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n{head}<{field}>&xxe;</{field}>{tail}'
        lols = "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
        billion = f'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">{lols}]>\n{head}<{field}>&lol9;</{field}>{tail}'
        return xxe, billion


def xml_response(envelope: etree._Element, encoding: str = "utf-8", status: int = 200) -> Response:
    return Response(etree.tostring(envelope, encoding=encoding, xml_declaration=True), status_code=status, media_type=f"text/xml; charset={encoding}")


def wsdl_response(request: Request, wsdl: Path, shipped_address: str) -> Response:
    """GET …?wsdl: the WSDL with its soap:address rewritten to where this peer answers."""
    if "wsdl" not in {k.lower() for k in request.query_params}:
        return Response(f"GET {request.url.path}?wsdl for the service description", media_type="text/plain", status_code=400)
    here = f"{str(request.base_url).rstrip('/')}{request.url.path}"
    return Response(wsdl.read_text(encoding="utf-8").replace(shipped_address, here), media_type="text/xml; charset=utf-8")
