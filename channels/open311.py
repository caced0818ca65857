"""Open311 GeoReport v2 under /open311/v2 (docs/channels.md, "Open311 GeoReport v2").

The same channel party model as the channel API: `api_key` is a channel key (role `channel`);
a request is registered through the channel intake (the same CaseDraft path: validation,
Idempotency-Key, the per-key rate limit) with the key's channel; a key reads back only the
requests it filed, as GeoReport's citizen-side fields (no person, no description, no unit
staff). Discovery and the service list are public, as the specification has them.

Formats by extension: `.json`, or `.xml` (GeoReport's element names). Refusals keep HTTP's
4xx and carry GeoReport's error list, `[{"code": 400, "description": "..."}]` (or
`<errors><error>...`), not the hub's problem+json: GeoReport clients read that shape. The two
answers that come before the route (413 for a body over the limit, 503 when the database
cannot serve) stay problem+json, as everywhere in the hub.

Over 400 lines on purpose: GeoReport v2 is one specification (discovery, services, requests,
tokens; JSON and XML), and its routes share the refusal shape and the field mapping above them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from channels.citizen import STATE_TEXT, approved_reply
from channels.open311_map import Open311Map, georeport_status, states_for
from channels.rates import RateLimited
from channels.service import ChannelService
from hub.db.repository import CaseQuery, CaseRepository
from hub.domain.access import Actor
from hub.domain.errors import AccessDenied, CaseNotFound, RuleViolation
from hub.domain.model import Case, CaseDraft, Role
from hub.keys import KeyError_
from hub.mappings import UnknownCode
from hub.read_audit import record_read
from hub.service import ContentTooLarge, IdempotencyConflict

BASE = "/open311/v2"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-12-06T00:00:00+08:00"  # when these endpoints last changed (discovery)
LOCAL = ZoneInfo("Asia/Shanghai")
MAX_RESULTS = 200  # GET requests.json answers at most this many, newest first
DEFAULT_DAYS = 90  # without start_date: the 90 days before end_date (the specification's default)
XML_TYPE = "text/xml; charset=utf-8"

Format = Literal["json", "xml"]
FormatPath = Annotated[Format, Path(description="`json` or `xml`")]


# -- the wire shapes (GeoReport's field names) -------------------------------------------------------
class GeoReportError(BaseModel):
    code: int = Field(description="The HTTP status again, as GeoReport has it.")
    description: str


class Endpoint(BaseModel):
    specification: str
    url: str
    changeset: str
    type: Literal["production", "test"]
    formats: list[str]


class Discovery(BaseModel):
    changeset: str
    contact: str
    key_service: str
    endpoints: list[Endpoint]


class GeoService(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: Literal["realtime", "batch", "blackbox"]
    keywords: str
    group: str


class AttributeValue(BaseModel):
    key: str
    name: str


class Attribute(BaseModel):
    variable: bool
    code: str
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool
    datatype_description: str
    order: int
    description: str
    values: list[AttributeValue]


class ServiceDefinition(BaseModel):
    service_code: str
    attributes: list[Attribute]


class Created(BaseModel):
    service_request_id: str = Field(description="The case number (工单号).")
    service_notice: str
    account_id: str | None = None


class TokenAnswer(BaseModel):
    """GET tokens/{token}: the request a token became. This endpoint gives the id at once (the
    case number, in the POST's answer), so a token is that id and always maps to itself."""

    service_request_id: str = Field(description="The case number (工单号).")
    token: str


class ServiceRequest(BaseModel):
    """What a channel reads back: GeoReport's fields about the request, never about the person
    (no name, phone, e-mail, description or photo)."""

    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str = Field(description="The state in plain Chinese, and the approved reply once there is one.")
    service_name: str
    service_code: str
    agency_responsible: str = Field(description="The lead unit once one holds the case; the 12345 centre before.")
    service_notice: str
    requested_datetime: str
    updated_datetime: str
    address: str | None = Field(description="Not for a confidential (保密) case.")
    lat: float | None
    long: float | None


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class NewRequest(BaseModel):
    """POST requests.json, GeoReport's fields (form-encoded as the specification has it, or JSON).
    The person's e-mail, device and account ids are taken and not kept: the hub has no place for
    them and keeps no personal data it does not need."""

    model_config = ConfigDict(extra="forbid")

    api_key: str | None = Field(default=None, max_length=200, description="The channel key (or the X-API-Key header).")
    jurisdiction_id: str | None = Field(default=None, max_length=16)
    service_code: Annotated[str, Field(min_length=1, max_length=32)]
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)
    address_string: Annotated[Text, Field(max_length=256)] | None = None
    address_id: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=254)
    device_id: str | None = Field(default=None, max_length=128)
    account_id: str | None = Field(default=None, max_length=128)
    first_name: Annotated[Text, Field(max_length=32)] | None = None
    last_name: Annotated[Text, Field(max_length=32)] | None = None
    phone: str | None = Field(default=None, max_length=32)
    description: Annotated[Text, Field(max_length=5000)] | None = None
    media_url: str | None = Field(default=None, max_length=1024)
    division_code: str | None = Field(
        default=None, alias="attribute[division_code]", max_length=12, description="The service's one attribute: the county (区县) the place is in."
    )


# -- errors in GeoReport's shape -----------------------------------------------------------------------
class GeoReportRefusal(Exception):
    def __init__(self, status: int, description: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.headers = status, description, headers


def _format_of(request: Request) -> Format:
    return "xml" if request.url.path.endswith(".xml") else "json"


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def _refusal(exc: Exception) -> GeoReportRefusal | None:
    if isinstance(exc, GeoReportRefusal):
        return exc
    if isinstance(exc, RequestValidationError | ValidationError):
        errors = exc.errors()
        return GeoReportRefusal(400, "; ".join(f"{_field(e['loc'])}: {e['msg']}" for e in errors[:5]))
    if isinstance(exc, UnknownCode):
        return GeoReportRefusal(400, str(exc))
    if isinstance(exc, ContentTooLarge):
        return GeoReportRefusal(413, f"description: {exc}")
    if isinstance(exc, IdempotencyConflict):
        return GeoReportRefusal(400, f"Idempotency-Key: {exc}")
    if isinstance(exc, RateLimited):
        return GeoReportRefusal(429, str(exc), {"Retry-After": str(exc.retry_after)})
    if isinstance(exc, AccessDenied):
        return GeoReportRefusal(403, str(exc))
    if isinstance(exc, CaseNotFound):
        return GeoReportRefusal(404, "no such service request among this key's own")
    if isinstance(exc, RuleViolation):
        return GeoReportRefusal(409, str(exc))
    if isinstance(exc, HTTPException):
        return GeoReportRefusal(exc.status_code, str(exc.detail), getattr(exc, "headers", None))
    return None


class GeoReportRoute(APIRoute):
    """Every refusal of these routes, validation included, as GeoReport's error list."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except Exception as exc:
                refusal = _refusal(exc)
                if refusal is None:
                    raise  # a database outage (503) or a bug: the hub's own handlers answer
                return render(
                    _format_of(request),
                    [GeoReportError(code=refusal.status, description=refusal.description)],
                    "errors",
                    status=refusal.status,
                    headers=refusal.headers,
                )

        return handler


# -- rendering ------------------------------------------------------------------------------------------
ITEM_TAGS = {
    "errors": "error",
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}


def _xml(parent: ET.Element, tag: str, value: Any) -> None:
    element = ET.SubElement(parent, tag)
    if isinstance(value, dict):
        for k, v in value.items():
            _xml(element, k, v)
    elif isinstance(value, list):
        for item in value:
            _xml(element, ITEM_TAGS.get(tag, "item"), item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)


def render(fmt: Format, body: BaseModel | Sequence[BaseModel], root: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    data = body.model_dump(mode="json") if isinstance(body, BaseModel) else [b.model_dump(mode="json") for b in body]
    if fmt == "json":
        return JSONResponse(data, status_code=status, headers=headers)
    if isinstance(data, list):
        top = ET.Element(root)
        for item in data:
            _xml(top, ITEM_TAGS.get(root, "item"), item)
    else:
        top = ET.Element(root)
        for k, v in data.items():
            _xml(top, k, v)
    text = '<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="unicode")
    return Response(text.encode("utf-8"), status_code=status, media_type=XML_TYPE, headers=headers)


def _answers(model: Any, description: str, *refusals: int, **meanings: str) -> dict[int | str, dict[str, Any]]:
    """`responses=`: the answer in both formats, and each refusal as GeoReport's error list."""
    xml_errors = {"text/xml": {"schema": {"type": "string", "description": "<errors><error><code/><description/></error></errors>"}}}
    default = {
        400: "A parameter or field is missing, invalid or unknown: the description names it",
        401: "No API key, or a key the hub does not know (or revoked)",
        403: "Not a channel key",
        404: "No such object (or not one this key may know of)",
        409: "Refused by the case's state",
        413: "A field is larger than the hub takes",
        415: "The body's media type is not one this operation reads",
        429: "Too many requests: retry after the time given",
    }
    out: dict[int | str, dict[str, Any]] = {200: {"description": description, "model": model, "content": {"text/xml": {"schema": {"type": "string"}}}}}
    for status in (400, *refusals):
        out[status] = {"description": meanings.get(f"d{status}", default[status]), "model": list[GeoReportError], "content": xml_errors}
    return out


# -- the routes -----------------------------------------------------------------------------------------
router = APIRouter(prefix=BASE, tags=["open311"], route_class=GeoReportRoute)
EXTRA = {"x-error-format": "georeport"}  # hub.api.problems.describe_problems leaves these refusals as they are


ApiKeyQuery = Annotated[str | None, Query(max_length=200, description="The channel key (or the X-API-Key header).")]
Jurisdiction = Annotated[str | None, Query(max_length=16, description="The city's code (optional)")]
RequestId = Annotated[str, Path(min_length=8, max_length=40, pattern=r"^[0-9A-Za-z-]+$")]  # a case number (工单号), as the channel routes' CaseNumber


def _service(request: Request) -> ChannelService:
    return request.app.state.hub.handles.get(ChannelService)


def _map(request: Request) -> Open311Map:
    return request.app.state.hub.handles.get(Open311Map)


def _key(request: Request, api_key: str | None) -> Actor:
    presented = api_key or request.headers.get("x-api-key")
    if not presented:
        raise GeoReportRefusal(401, "api_key: required (a channel key), as a parameter or the X-API-Key header", {"WWW-Authenticate": "Bearer"})
    try:
        actor = request.app.state.hub.keys.authenticate(presented)
    except KeyError_ as exc:
        raise GeoReportRefusal(401, f"api_key: {exc}", {"WWW-Authenticate": "Bearer"}) from None
    if actor.role is not Role.CHANNEL:
        raise GeoReportRefusal(403, f"api_key: role '{actor.role.value}' may not do this; needs a channel key")
    request.state.actor = actor
    return actor


def _jurisdiction(request: Request, given: str | None) -> None:
    region = request.app.state.hub.settings.region_code
    if given is not None and given != region:
        raise GeoReportRefusal(404, f"jurisdiction_id: unknown jurisdiction {given!r}; this endpoint serves {region}")


def _own_key(request: Request, api_key: str | None, jurisdiction_id: str | None) -> Actor:
    """The channel behind a keyed GeoReport call: its key (401, 403), then the jurisdiction it
    names (404), in that order on every keyed route."""
    actor = _key(request, api_key)
    _jurisdiction(request, jurisdiction_id)
    return actor


def _when(value: datetime) -> str:
    return value.astimezone(LOCAL).isoformat(timespec="seconds")


@router.get(
    "/discovery.{fmt}",
    summary="Open311: what this endpoint offers (discovery)",
    operation_id="getOpen311Discovery",
    response_model=Discovery,
    responses=_answers(Discovery, "The endpoint, its specification and formats"),
    openapi_extra=EXTRA,
)
def discovery(request: Request, fmt: FormatPath) -> Response:
    url = str(request.base_url).rstrip("/") + BASE
    body = Discovery(
        changeset=CHANGESET,
        contact=_map(request).agency,
        key_service="channel keys: hotline-hub keys create --role channel (the 12345 centre)",
        endpoints=[Endpoint(specification=SPECIFICATION, url=url, changeset=CHANGESET, type="production", formats=["application/json", "text/xml"])],
    )
    return render(fmt, body, "discovery")


def _services(request: Request) -> list[GeoService]:
    return [
        GeoService(service_code=s.code, service_name=s.name, description=s.name, metadata=True, type="realtime", keywords=s.keywords, group=s.group)
        for s in _map(request).services.values()
    ]


@router.get(
    "/services.{fmt}",
    summary="Open311: the services (the categories a request may name)",
    operation_id="listOpen311Services",
    response_model=list[GeoService],
    responses=_answers(list[GeoService], "The services, in Chinese", 404, d404="Unknown jurisdiction_id"),
    openapi_extra=EXTRA,
)
def services(request: Request, fmt: FormatPath, jurisdiction_id: Jurisdiction = None) -> Response:
    _jurisdiction(request, jurisdiction_id)
    return render(fmt, _services(request), "services")


@router.get(
    "/services/{service_code}.{fmt}",
    summary="Open311: one service's definition (its attributes)",
    operation_id="getOpen311Service",
    response_model=ServiceDefinition,
    responses=_answers(ServiceDefinition, "The service's attributes", 404, d404="No such service, or unknown jurisdiction_id"),
    openapi_extra=EXTRA,
)
def service_definition(
    request: Request,
    service_code: Annotated[str, Path(max_length=32)],
    fmt: FormatPath,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    _jurisdiction(request, jurisdiction_id)
    mapping = _map(request)
    if service_code not in mapping.services:
        raise GeoReportRefusal(404, f"service_code: no service {service_code!r}; the services are in services.{fmt}")
    counties = [AttributeValue(key=d.code, name=d.name) for d in mapping.divisions]
    body = ServiceDefinition(
        service_code=service_code,
        attributes=[
            Attribute(
                variable=True,
                code="division_code",
                datatype="singlevaluelist",
                required=False,
                datatype_description="区县代码",
                order=1,
                description="问题所在区县（不填由12345中心确定）",
                values=counties,
            )
        ],
    )
    return render(fmt, body, "service_definition")


async def _read_body(request: Request) -> dict[str, Any]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if kind == "application/json":
        try:
            parsed = json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            raise GeoReportRefusal(400, "body: not readable as JSON") from None
        if not isinstance(parsed, dict):
            raise GeoReportRefusal(400, "body: a JSON object of GeoReport's fields is expected")
        return parsed
    if kind in ("application/x-www-form-urlencoded", ""):
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=False, strict_parsing=False)
        except UnicodeDecodeError:
            raise GeoReportRefusal(400, "body: not UTF-8") from None
        data: dict[str, Any] = {}
        for name, value in pairs:
            if name in data:
                raise GeoReportRefusal(400, f"{name}: given twice")
            if "\x00" in value or "\x00" in name:
                raise GeoReportRefusal(400, f"{name}: contains a NUL character")
            data[name] = value
        return data
    raise GeoReportRefusal(415, "body: send application/x-www-form-urlencoded (GeoReport) or application/json")


def draft_of(new: NewRequest, mapping: Open311Map, channel: str, now: datetime) -> CaseDraft:
    """GeoReport's request as the hub's draft: the service is the category, the place is the
    address and the point, the person is whoever the names and phone say."""
    if new.service_code not in mapping.services:
        raise GeoReportRefusal(400, f"service_code: no service {new.service_code!r}; the services are in services.json")
    if new.address_string is None and (new.lat is None or new.long is None):
        raise GeoReportRefusal(400, "lat, long or address_string: a location is required (both lat and long, or address_string)")
    if new.address_id is not None and new.address_string is None and new.lat is None:
        raise GeoReportRefusal(400, "address_id: this endpoint keeps no address ids; give lat/long or address_string")
    division = new.division_code or mapping.division_code
    if new.division_code is not None and new.division_code not in {d.code for d in mapping.divisions}:
        raise GeoReportRefusal(400, f"attribute[division_code]: {new.division_code!r} is not one of the service's values")
    service = mapping.services[new.service_code]
    name = "".join(p for p in (new.last_name, new.first_name) if p) or None  # 姓 then 名
    content = new.description or service.name
    if new.media_url:
        content += f"\n图片：{new.media_url}"
    title = (new.description or service.name).splitlines()[0][:40]
    try:
        return CaseDraft.model_validate(
            {
                "intake": {"channel": channel, "received_at": now},
                "person": {"name": name, "phone": new.phone, "anonymous": not (name or new.phone)},
                "request_type": mapping.request_type.value,
                "category_code": service.code,
                "title": title,
                "content": content,
                "place": {"address": new.address_string, "division_code": division, "latitude": new.lat, "longitude": new.long},
            }
        )
    except ValidationError as exc:
        names = {
            "person.phone": "phone",
            "person.name": "first_name, last_name",
            "title": "description",
            "content": "description",
            "place.address": "address_string",
        }
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise GeoReportRefusal(400, f"{names.get(where, where)}: {first['msg']}") from None


_NEW_REQUEST = NewRequest.model_json_schema(by_alias=True)
REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": _NEW_REQUEST},
            "application/json": {
                "schema": _NEW_REQUEST,
                "example": {
                    "service_code": "0102",
                    "lat": 30.1286,
                    "long": 104.6278,
                    "address_string": "雁江区建设路12号",
                    "description": "路灯不亮，夜间行人看不清路。",
                    "phone": "13800138000",
                    "first_name": "三",
                    "last_name": "张",
                },
            },
        },
    }
}


@router.post(
    "/requests.{fmt}",
    status_code=201,
    summary="Open311: a channel files a service request (登记)",
    operation_id="registerOpen311Request",
    response_model=list[Created],
    responses={
        **_answers(
            list[Created],
            "Registered: the case number as service_request_id",
            401,
            403,
            404,
            413,
            415,
            429,
            d404="Unknown jurisdiction_id",
            d415="Neither form-encoded nor JSON",
        ),
        201: {
            "description": "Registered: the case number as service_request_id",
            "model": list[Created],
            "content": {"text/xml": {"schema": {"type": "string"}}},
        },
    },
    openapi_extra={**EXTRA, **REQUEST_BODY},
)
async def create_request(
    request: Request,
    fmt: FormatPath,
    api_key: ApiKeyQuery = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)] = None,
) -> Response:
    data = await _read_body(request)
    new = NewRequest.model_validate(data)
    actor = _own_key(request, new.api_key or api_key, new.jurisdiction_id)  # in the form as GeoReport has it; some clients put it in the URL
    mapping = _map(request)
    hub = request.app.state.hub
    draft = draft_of(new, mapping, actor.channel or "web", hub.clock.now())
    result = await run_in_threadpool(_service(request).register, draft, actor, idempotency_key)
    body = [Created(service_request_id=result.view.number, service_notice=mapping.service_notice)]
    return render(fmt, body, "service_requests", status=201 if result.created else 200)


def as_request(case: Case, mapping: Open311Map, catalogue: Any) -> ServiceRequest:
    reply = approved_reply(case)
    notes = STATE_TEXT[case.state] + (f"。答复：{reply.text}" if reply is not None else "")
    service = mapping.services.get(case.category_code)
    category = catalogue.categories.get(case.category_code)
    lead = case.handling.lead_unit
    unit = catalogue.units.get(lead) if lead else None
    hidden = case.person.confidential
    return ServiceRequest(
        service_request_id=case.number,
        status=georeport_status(case.state),
        status_notes=notes,
        service_name=service.name if service else (category.name_zh if category else case.category_code),
        service_code=case.category_code,
        agency_responsible=unit.name_zh if unit else mapping.agency,
        service_notice=mapping.service_notice,
        requested_datetime=_when(case.intake.received_at),
        updated_datetime=_when(case.updated_at),
        address=None if hidden else case.place.address,
        lat=None if hidden else case.place.latitude,
        long=None if hidden else case.place.longitude,
    )


@router.get(
    "/requests.{fmt}",
    summary="Open311: this key's own service requests",
    operation_id="listOpen311Requests",
    response_model=list[ServiceRequest],
    responses=_answers(list[ServiceRequest], "This key's own requests, newest first, at most 200", 401, 403, 404, d404="Unknown jurisdiction_id"),
    openapi_extra=EXTRA,
)
def list_requests(
    request: Request,
    fmt: FormatPath,
    api_key: ApiKeyQuery = None,
    jurisdiction_id: Jurisdiction = None,
    service_request_id: Annotated[str | None, Query(max_length=2000, description="Case numbers, comma-separated: the other filters are then ignored")] = None,
    service_code: Annotated[str | None, Query(max_length=32)] = None,
    start_date: Annotated[datetime | None, Query(description="Received at or after (W3C datetime)")] = None,
    end_date: Annotated[datetime | None, Query(description="Received before (W3C datetime); default now")] = None,
    status: Annotated[str | None, Query(max_length=20, pattern=r"^(open|closed)(,(open|closed))?$", description="open, closed, or open,closed")] = None,
) -> Response:
    actor = _own_key(request, api_key, jurisdiction_id)
    mapping, hub = _map(request), request.app.state.hub
    if service_request_id is not None:
        numbers = list(dict.fromkeys(n.strip() for n in service_request_id.split(",") if n.strip()))[:MAX_RESULTS]
        cases = []
        for number in numbers:
            try:
                cases.append(_service(request).own_case(number, actor))
            except CaseNotFound:
                continue  # not its own, or none: left out, as GeoReport lists only what it finds
        return render(fmt, [as_request(c, mapping, hub.catalogue) for c in cases], "service_requests")
    for name, value in (("start_date", start_date), ("end_date", end_date)):
        if value is not None and value.tzinfo is None:
            raise GeoReportRefusal(400, f"{name}: give the time zone (e.g. 2026-12-06T08:00:00+08:00)")
    start = start_date or (end_date or hub.clock.now()) - timedelta(days=DEFAULT_DAYS)
    if end_date is not None and start >= end_date:
        raise GeoReportRefusal(400, "start_date: must be before end_date")
    wanted = sorted({s for part in status.split(",") for s in states_for(part)}) if status else None
    query = CaseQuery(state=wanted, channel=actor.channel, category=service_code, received_from=start, received_to=end_date, limit=MAX_RESULTS)
    with hub.db.read() as s:
        cases, _ = CaseRepository(s).list(query, actor, hub.clock.now())
    return render(fmt, [as_request(c, mapping, hub.catalogue) for c in cases], "service_requests")


@router.get(
    "/requests/{service_request_id}.{fmt}",
    summary="Open311: one of this key's own service requests",
    operation_id="getOpen311Request",
    response_model=list[ServiceRequest],
    responses=_answers(
        list[ServiceRequest],
        "The request (GeoReport answers a list of one)",
        401,
        403,
        404,
        d404="No such request among this key's own, or unknown jurisdiction_id",
    ),
    openapi_extra=EXTRA,
)
def get_request(
    request: Request,
    service_request_id: RequestId,
    fmt: FormatPath,
    api_key: ApiKeyQuery = None,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    actor = _own_key(request, api_key, jurisdiction_id)
    hub = request.app.state.hub
    case = _service(request).own_case(service_request_id, actor)
    record_read(hub.db, actor, case, "GET /open311/v2/requests/{service_request_id}", hub.clock.now())  # 保密: as the channel route
    return render(fmt, [as_request(case, _map(request), request.app.state.hub.catalogue)], "service_requests")


@router.get(
    "/tokens/{token}.{fmt}",
    summary="Open311: the service request a token became",
    operation_id="getOpen311Token",
    response_model=list[TokenAnswer],
    responses=_answers(
        list[TokenAnswer],
        "The request id for the token (a list of one)",
        401,
        403,
        404,
        d404="No such token among this key's own requests, or unknown jurisdiction_id",
    ),
    openapi_extra=EXTRA,
)
def get_token(
    request: Request,
    token: RequestId,
    fmt: FormatPath,
    api_key: ApiKeyQuery = None,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    """GeoReport lets an endpoint answer a POST with a token and the id later. This one registers
    at once and answers with the id, so the only tokens are those ids: a client that asks for
    its token anyway (some always do) gets the id back, for its own requests only."""
    actor = _own_key(request, api_key, jurisdiction_id)
    case = _service(request).own_case(token, actor)
    return render(fmt, [TokenAnswer(service_request_id=case.number, token=token)], "service_requests")
