"""/api/v1/cases: intake, reads, lists, actions, history.

Over 400 lines on purpose: every /api/v1/cases route with its request and response models; each
route declares its own operationId and documented problems (docs/architecture.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response
from fastapi import routing as fastapi_routing
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub.api.deps import ActorDep, HubDep, get_actor, get_hub
from hub.api.limits import refuse_unknown_input
from hub.api.problems import documented
from hub.container import Hub
from hub.db.repository import FINISHED_STATES, CaseQuery, decode_cursor
from hub.domain.access import Actor, mask_phone, view_for
from hub.domain.commands import Command
from hub.domain.errors import AccessDenied
from hub.domain.model import (
    Case,
    CaseDraft,
    CaseState,
    Channel,
    HistoryEntry,
    Part,
    RequestType,
    Role,
    normalise_phone,
    within_service_years,
)
from hub.keys import KeyError_
from hub.read_audit import record_read

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])

CaseNumber = Annotated[str, Path(min_length=8, max_length=40, pattern=r"^[0-9A-Za-z-]+$")]


class CaseSummary(BaseModel):
    """A line of a list: no personal data, whoever asks."""

    number: str
    version: int
    state: CaseState
    request_type: RequestType
    category_code: str
    title: str
    division_code: str
    lead_unit: str | None
    due_at: datetime | None
    overdue: bool
    supervised: bool
    created_at: datetime


class CaseList(BaseModel):
    items: list[CaseSummary]
    next_cursor: str | None


def _summary(case: Case) -> CaseSummary:
    return CaseSummary(
        number=case.number,
        version=case.version,
        state=case.state,
        request_type=case.request_type,
        category_code=case.category_code,
        title=case.title,
        division_code=case.place.division_code,
        lead_unit=case.handling.lead_unit,
        due_at=case.handling.due_at,
        overdue=case.flags.overdue,
        supervised=case.flags.supervised,
        created_at=case.created_at,
    )


# Examples in the document (Chinese sample data, as the hotline's own cases read).
DRAFT_EXAMPLES = {
    "phone": {
        "summary": "热线来电：噪音投诉",
        "value": {
            "intake": {"channel": "phone", "received_at": "2025-09-26T09:58:00+08:00", "agent": "A017", "call_id": "CALL-20250926-0001"},
            "person": {"name": "张三", "phone": "13800138000", "kind": "person"},
            "request_type": "complaint",
            "category_code": "0101",
            "title": "小区噪音扰民",
            "content": "雁江区某小区夜间施工噪音扰民，持续一周，请求处理。",
            "place": {"address": "雁江区建设路12号", "division_code": "512002"},
            "urgency": "normal",
        },
    },
    "confidential": {
        "summary": "网站留言：保密的举报人",
        "value": {
            "intake": {"channel": "web", "received_at": "2025-09-26T20:15:00+08:00"},
            "person": {"name": "李四", "phone": "13900139000", "kind": "person", "confidential": True},
            "request_type": "report",
            "category_code": "0201",
            "title": "超市销售过期食品",
            "content": "安岳县某超市货架上有过期牛奶在售，请相关部门查处。",
            "place": {"address": "安岳县岳阳镇", "division_code": "512021"},
            "urgency": "normal",
        },
    },
}
ACTION_EXAMPLES = {
    "accept": {"summary": "受理", "value": {"action": "accept", "note": "诉求清楚，予以受理"}},
    "dispatch": {"summary": "派单：主办与协办单位", "value": {"action": "dispatch", "lead_unit": "ZY-SCJGJ", "co_units": ["ZY-RSJ"]}},
    "reply": {"summary": "承办单位答复", "value": {"action": "reply", "text": "已责令施工方夜间停工，并处以罚款。"}},
    "request_extension": {"summary": "申请延期", "value": {"action": "request_extension", "working_days": 5, "reason": "需协调多个部门现场核查"}},
    "follow_up": {"summary": "回访", "value": {"action": "follow_up", "reached": True, "resolved": True, "satisfaction": "satisfied"}},
}
LIST_EXAMPLE = {
    "items": [
        {
            "number": "ZY20250926000001",
            "version": 3,
            "state": "dispatched",
            "request_type": "complaint",
            "category_code": "0101",
            "title": "小区噪音扰民",
            "division_code": "512002",
            "lead_unit": "ZY-SCJGJ",
            "due_at": "2025-10-17T18:00:00+08:00",
            "overdue": False,
            "supervised": False,
            "created_at": "2025-09-26T10:00:00+08:00",
        }
    ],
    "next_cursor": None,
}


def _case_response(case: Case, status: int = 200, location: bool = False) -> Response:
    """Serialise straight from the model: the case was validated when it was built, and
    re-validating it against the response model would double the cost of intake."""
    headers = {"ETag": f'"{case.version}"'}
    if location:
        headers["Location"] = f"/api/v1/cases/{case.number}"
    return Response(case.model_dump_json(), status_code=status, media_type="application/json", headers=headers)


async def create_case(
    hub: HubDep,
    actor: ActorDep,
    draft: Annotated[CaseDraft, Body(openapi_examples=DRAFT_EXAMPLES)],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)] = None,
) -> Response:
    return await _register(hub, actor, draft, idempotency_key)


async def _register(hub: Hub, actor: Actor, draft: CaseDraft, idempotency_key: str | None) -> Response:
    # On the event loop: the body was validated already, and the case is written by the
    # group commit's writer (hub/db/group_commit.py); no worker thread waits for it.
    _not_a_channel(actor)
    result = await hub.cases.register_async(draft, actor, idempotency_key)
    return _case_response(view_for(actor, result.case), 201 if result.created else 200, location=True)


# What FastAPI solves for POST /api/v1/cases, besides the body and the header: the app-wide
# input guard, the hub and the caller. The plain request's path below does exactly these.
_INTAKE_DEPENDENCIES = frozenset({refuse_unknown_input, get_hub, get_actor})
_IDEMPOTENCY_KEY_MAX = 128  # as the Header declares


class IntakeRoute(APIRoute):
    """POST /api/v1/cases, the hot path, answered without FastAPI's dependency solving when the
    request is plain: no query string, a JSON body with no NUL in it, an X-API-Key the key
    store knows, a body that validates as a CaseDraft, an Idempotency-Key within its bound.
    Those are the checks the declared dependencies make (refuse_unknown_input, get_actor, the
    body and the header), in the same terms; solving them cost more CPU than anything else on
    the event loop. Any other request, including every one that would be refused, goes to
    FastAPI's own handler, so refusals (problem+json, 401, 422) come from one place. Should the
    route's dependencies ever differ from _INTAKE_DEPENDENCIES (or overrides be set), every
    request takes FastAPI's handler."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        general = super().get_route_handler()
        # Built per inclusion (FastAPI sets the route as included, with the app's dependencies,
        # while it calls this); the route as declared alone lacks the input guard: no plain path.
        included = getattr(fastapi_routing, "_effective_route_context_var", None)
        effective = included.get() if included is not None else None
        route = effective if effective is not None and getattr(effective, "original_route", None) is self else self
        dependant = getattr(route, "dependant", None)
        if dependant is None or {d.call for d in dependant.dependencies} != _INTAKE_DEPENDENCIES:
            return general

        async def handle(request: Request) -> Response:
            plain = await _plain_intake(request)
            if plain is None:
                return await general(request)
            hub, actor, draft, key = plain
            return await _register(hub, actor, draft, key)

        return handle


async def _plain_intake(request: Request) -> tuple[Hub, Actor, CaseDraft, str | None] | None:
    """The hub, caller, draft and key of a plain intake request (IntakeRoute), or None."""
    if request.scope.get("query_string") or request.app.dependency_overrides:
        return None
    headers = request.headers
    presented = headers.get("x-api-key")
    content_type = headers.get("content-type")
    key = headers.get("idempotency-key")
    if not presented or content_type is None or content_type.partition(";")[0].strip().lower() != "application/json":
        return None
    if key is not None and len(key) > _IDEMPOTENCY_KEY_MAX:
        return None
    raw = await request.body()  # cached on the request: FastAPI's handler reads the same bytes
    if b"\x00" in raw or b"\\u0000" in raw:
        return None  # the input guard names where
    hub: Hub = request.app.state.hub
    try:
        actor = hub.keys.authenticate(presented)
    except KeyError_:
        return None  # get_actor's 401
    try:
        draft = CaseDraft.model_validate(json.loads(raw))
    except Exception:  # not JSON, too deep, not a valid draft: FastAPI's handler says which (400, 422)
        return None
    request.state.actor = actor  # as get_actor leaves it
    return hub, actor, draft, key


router.add_api_route(
    "",
    create_case,
    methods=["POST"],
    status_code=201,
    response_model=Case,
    summary="Register a case (登记)",
    operation_id="registerCase",
    responses={200: {"description": "Replay of an earlier request with the same Idempotency-Key", "model": Case}, **documented(403, 409)},
    route_class_override=IntakeRoute,
)


@router.get(
    "",
    response_model=CaseList,
    summary="List cases visible to the caller",
    operation_id="listCases",
    responses={
        200: {"description": "A page of cases, newest first", "content": {"application/json": {"example": LIST_EXAMPLE}}},
        **documented(403, d403="A channel key: it reads its own cases one by one, as citizens see them"),
    },
)
def list_cases(
    hub: HubDep,
    actor: ActorDep,
    state: Annotated[list[CaseState] | None, Query()] = None,
    unit: Annotated[str | None, Query(max_length=32)] = None,
    division: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None,
    type: Annotated[RequestType | None, Query()] = None,
    overdue: bool | None = None,
    due_before: datetime | None = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="Free text in title and content")] = None,
    channel: Annotated[Channel | None, Query(description="How the case came in (受理渠道).")] = None,
    phone: Annotated[
        str | None,
        Query(
            max_length=32,
            description="The caller's phone, exact (spaces ignored), matched "
            "through the keyed-hash phone index. "
            "Outside the centre, a confidential (保密) caller's cases are never matched.",
        ),
    ] = None,
    received_from: Annotated[datetime | None, Query(description="Received (intake.received_at) at or after this; with a timezone.")] = None,
    received_to: Annotated[datetime | None, Query(description="Received before this (exclusive); with a timezone.")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CaseList:
    _not_a_channel(actor)
    if cursor is not None:
        try:
            decode_cursor(cursor)
        except (ValueError, KeyError, TypeError):
            raise RequestValidationError([{"loc": ("query", "cursor"), "msg": "not a cursor given by this list", "type": "value_error"}]) from None
    for name, value in (("due_before", due_before), ("received_from", received_from), ("received_to", received_to)):
        _check_instant(name, value)
    if received_from is not None and received_to is not None and received_to <= received_from:
        raise RequestValidationError([{"loc": ("query", "received_to"), "msg": "must be after received_from", "type": "value_error"}])
    if phone is not None:
        try:
            phone = normalise_phone(phone)
        except ValueError as exc:
            raise RequestValidationError([{"loc": ("query", "phone"), "msg": str(exc), "type": "value_error"}]) from None
    query = CaseQuery(
        state=[s.value for s in state] if state else None,
        unit=unit,
        division=division,
        request_type=type.value if type else None,
        overdue=overdue,
        due_before=due_before,
        text=q,
        channel=channel.value if channel else None,
        phone=phone,
        received_from=received_from,
        received_to=received_to,
        cursor=cursor,
        limit=limit,
    )
    cases, next_cursor = hub.cases.list(query, actor)
    return CaseList(items=[_summary(c) for c in cases], next_cursor=next_cursor)


def _not_a_channel(actor: Actor) -> None:
    """A channel registers and reads its cases as citizens see them, on /api/v1/channel/cases
    (channels/): the full case carries unit staff and internal notes."""
    if actor.role is Role.CHANNEL:
        raise AccessDenied("a channel key registers and reads its cases on /api/v1/channel/cases (the citizen view)")


def _check_instant(name: str, value: datetime | None) -> None:
    if value is None:
        return
    if value.tzinfo is None:
        raise RequestValidationError([{"loc": ("query", name), "msg": "needs a timezone, e.g. 2026-12-01T00:00:00+08:00", "type": "value_error"}])
    try:
        within_service_years(value)
    except ValueError as exc:
        raise RequestValidationError([{"loc": ("query", name), "msg": str(exc), "type": "value_error"}]) from None


@router.get("/{number}", response_model=Case, summary="Read a case", operation_id="getCase", responses=documented(403, 404))
def get_case(hub: HubDep, actor: ActorDep, number: CaseNumber) -> Response:
    case = hub.cases.get(number, actor)
    record_read(hub.db, actor, case, "GET /api/v1/cases/{number}", hub.clock.now())  # 保密: audited
    return _case_response(view_for(actor, case))


@router.get(
    "/{number}/history",
    response_model=list[HistoryEntry],
    summary="The case's append-only history",
    operation_id="getCaseHistory",
    responses=documented(403, 404),
)
def get_history(hub: HubDep, actor: ActorDep, number: CaseNumber) -> list[HistoryEntry]:
    case = hub.cases.get(number, actor)
    record_read(hub.db, actor, case, "GET /api/v1/cases/{number}/history", hub.clock.now())  # 保密: audited
    return case.history


@router.get(
    "/{number}/parts",
    response_model=list[Part],
    summary="The co-units' parts of the case (协办)",
    description="Each co-unit's part: its deadlines, sign-off, reply, or the centre's waiver. The lead's reply waits until every part is replied or waived.",
    operation_id="getCaseParts",
    responses=documented(403, 404),
)
def get_parts(hub: HubDep, actor: ActorDep, number: CaseNumber) -> list[Part]:
    case = hub.cases.get(number, actor)
    return case.handling.parts


_IF_MATCH = re.compile(r'^(W/)?"?(\d{1,9})"?$')  # a version, within the column's INTEGER


@router.post(
    "/{number}/actions",
    response_model=Case,
    summary="Act on a case (the lifecycle table decides)",
    operation_id="actOnCase",
    responses=documented(403, 404, 409, d409="Not allowed in this state or for this role, or a stale If-Match"),
)
def act(
    hub: HubDep,
    actor: ActorDep,
    number: CaseNumber,
    command: Annotated[Command, Body(openapi_examples=ACTION_EXAMPLES)],
    if_match: Annotated[str | None, Header(alias="If-Match", description='The version read, e.g. "3"')] = None,
) -> Response:
    expected = None
    if if_match is not None:
        m = _IF_MATCH.match(if_match.strip())
        if not m:
            raise RequestValidationError([{"loc": ("header", "If-Match"), "msg": 'expected a case version such as "3"', "type": "value_error"}])
        expected = int(m.group(2))
    case = hub.cases.act(number, command, actor, expected)
    record_read(hub.db, actor, case, "POST /api/v1/cases/{number}/actions", hub.clock.now())  # 保密: audited
    return _case_response(view_for(actor, case))


# -- the caller's history at intake --------------------------------------------------------------
callers = APIRouter(prefix="/api/v1/callers", tags=["cases"])


class CallerHistoryQuery(BaseModel):
    """The phone travels in the body: a phone in a URL ends up in access logs."""

    model_config = ConfigDict(extra="forbid")

    phone: str = Field(max_length=32, description="The caller's phone (spaces ignored), matched exactly through the phone index.")
    days: int | None = Field(default=None, ge=1, le=730, description="Days back to count; default: settings.caller_history_days.")

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return normalise_phone(value)


class CallerHistory(BaseModel):
    phone: str = Field(description="The phone asked about, masked (138****8000).")
    days: int
    since: datetime = Field(description="Cases received at or after this are counted in `count`.")
    count: int = Field(description="Cases of this phone received in the last `days` days.")
    total: int = Field(description="Cases of this phone, all time.")
    open: int = Field(description="Of `items`, those still open (not rejected, transferred, closed, archived or merged).")
    items: list[CaseSummary] = Field(description="The cases counted in `count`, newest received first (at most 50).")


@callers.post(
    "/history",
    response_model=CallerHistory,
    summary="The caller's earlier cases, at intake (来电历史)",
    operation_id="getCallerHistory",
    responses=documented(403, d403="Only the centre (agents, supervisors) sees callers' phones and so their history"),
)
def caller_history(hub: HubDep, actor: ActorDep, query: CallerHistoryQuery) -> CallerHistory:
    days = query.days or hub.settings.caller_history_days
    since, count, total, cases = hub.cases.caller_history(query.phone, actor, days)
    return CallerHistory(
        phone=mask_phone(query.phone) or "",
        days=days,
        since=since,
        count=count,
        total=total,
        open=sum(1 for c in cases if c.state.value not in FINISHED_STATES),
        items=[_summary(c) for c in cases],
    )


# -- repeat calls (重复来电) ------------------------------------------------------------------------
class RepeatCallOut(BaseModel):
    """A case linked at registration to an earlier open case of the same phone and category."""

    case: str
    earlier_case: str = Field(description="The open case of the same phone and category received within repeat_call_days before.")
    earlier_state: CaseState
    status: Literal["suggested", "confirmed", "dismissed"] = Field(description="suggested until an agent confirms or dismisses it.")
    found_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    note: str | None


class ConfirmRepeatCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=500)
    merge: bool = Field(
        default=False,
        description="Also merge this case into the earlier one (the merge action, 并单) first; "
        "refused (409) where the lifecycle does not allow a merge, and the link stays suggested.",
    )


class DismissRepeatCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=500)


def _repeat_out(link) -> RepeatCallOut:  # noqa: ANN001 - hub.service.RepeatCall
    return RepeatCallOut(
        case=link.case,
        earlier_case=link.earlier_case,
        earlier_state=link.earlier_state,
        status=link.status,
        found_at=link.found_at,
        decided_at=link.decided_at,
        decided_by=link.decided_by,
        note=link.note,
    )


_REPEAT_403 = "Only the centre (agents, supervisors): the link says the same caller called again"


@router.get(
    "/{number}/repeat-call",
    response_model=RepeatCallOut,
    summary="The earlier case this one repeats (重复来电)",
    operation_id="getRepeatCall",
    responses=documented(403, 404, d403=_REPEAT_403, d404="No such case, or it was not linked"),
)
def get_repeat_call(hub: HubDep, actor: ActorDep, number: CaseNumber) -> RepeatCallOut:
    return _repeat_out(hub.cases.repeat_call(number, actor))


@router.post(
    "/{number}/repeat-call/confirm",
    response_model=RepeatCallOut,
    summary="Confirm a repeat call, optionally merging it",
    operation_id="confirmRepeatCall",
    responses=documented(
        403,
        404,
        409,
        d403=_REPEAT_403,
        d404="No such case, or it was not linked",
        d409="Already confirmed or dismissed, or the merge is not allowed in this state",
    ),
)
def confirm_repeat_call(hub: HubDep, actor: ActorDep, number: CaseNumber, body: ConfirmRepeatCall) -> RepeatCallOut:
    return _repeat_out(hub.cases.decide_repeat_call(number, True, actor, body.note, body.merge))


@router.post(
    "/{number}/repeat-call/dismiss",
    response_model=RepeatCallOut,
    summary="Dismiss a repeat call: not the same matter",
    operation_id="dismissRepeatCall",
    responses=documented(403, 404, 409, d403=_REPEAT_403, d404="No such case, or it was not linked", d409="Already confirmed or dismissed"),
)
def dismiss_repeat_call(hub: HubDep, actor: ActorDep, number: CaseNumber, body: DismissRepeatCall) -> RepeatCallOut:
    return _repeat_out(hub.cases.decide_repeat_call(number, False, actor, body.note))
