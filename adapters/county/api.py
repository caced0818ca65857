"""/api/v1/counties/{county}/...: counties push tickets and updates in their own JSON.

The body is read raw (the signature covers the exact bytes) and mapped by the county's
file in mappings/county/. Every refusal is problem+json naming the county's own field.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from adapters.county.config import CountyConfig
from adapters.county.intake import CountyIntake
from adapters.county.refusals import TicketRefused, invalid
from adapters.county.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER
from hub.api.deps import ActorDep, HubDep
from hub.api.problems import MEDIA_TYPE, documented
from hub.domain.access import Actor

router = APIRouter(prefix="/api/v1/counties", tags=["counties"])

County = Annotated[str, Path(min_length=2, max_length=32, pattern=r"^[a-z][a-z0-9_]*$", description="County id, e.g. yanjiang.")]
TicketId = Annotated[str, Path(min_length=1, max_length=128, description="The county's own ticket id.")]
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=100)]
Timestamp = Annotated[str | None, Header(alias=TIMESTAMP_HEADER, description="Unix seconds; required when the county signs.")]
Signature = Annotated[str | None, Header(alias=SIGNATURE_HEADER, description="sha256=<hex HMAC-SHA256 of timestamp + '.' + body>.")]

_ANY_JSON = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "description": "The county's own JSON shape (see mappings/county/<county>.yaml): one object, or an array for a batch.",
                    "oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}],
                }
            }
        },
    }
}


def _intake(hub: Any) -> CountyIntake:
    return hub.handles.get(CountyIntake)


def _problem(exc: TicketRefused, request: Request) -> JSONResponse:
    return JSONResponse({**exc.body(), "instance": request.url.path}, status_code=exc.status, media_type=MEDIA_TYPE)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise invalid("body", f"not JSON: {exc}") from None


async def _signed_body(
    request: Request, intake: CountyIntake, county: str, actor: Actor, timestamp: str | None, signature: str | None
) -> tuple[CountyConfig, Any]:
    """The county's configuration and the JSON it pushed, once its key is the county's and the
    signature covers the exact bytes; otherwise TicketRefused."""
    raw = await request.body()
    cfg = intake.authorize(county, actor)
    await run_in_threadpool(intake.check_signature, cfg, timestamp, signature, raw)
    return cfg, _json(raw)


_REFUSALS = documented(
    401,
    403,
    404,
    409,
    503,
    d401="No key, an unknown key, or a signature missing or wrong",
    d404="No such county, ticket or case",
    d503="The hub has no signing secret for this county",
)


@router.post(
    "/{county}/tickets",
    summary="Push one ticket, or a batch (a JSON array) with per-item results",
    openapi_extra=_ANY_JSON,
    operation_id="pushCountyTickets",
    responses={
        201: {"description": "Registered: the answer carries the hub's case number", "content": {"application/json": {"schema": {"type": "object"}}}},
        200: {"description": "Already held (same ticket id), or a batch's per-item results"},
        **_REFUSALS,
    },
)
async def push_tickets(
    request: Request, hub: HubDep, actor: ActorDep, county: County, idempotency_key: IdemKey = None, timestamp: Timestamp = None, signature: Signature = None
) -> JSONResponse:
    intake = _intake(hub)
    try:
        cfg, body = await _signed_body(request, intake, county, actor, timestamp, signature)
        key = f"county:{idempotency_key}" if idempotency_key else None
        if isinstance(body, list):
            if not body or len(body) > cfg.batch_max:
                raise invalid("body", f"a batch holds 1 to {cfg.batch_max} tickets")
            results = await run_in_threadpool(_push_batch, intake, cfg, actor, body, key)
            counts = {s: sum(1 for r in results if r["status"] == s) for s in ("created", "existing", "refused")}
            return JSONResponse({"results": results, **counts})
        answer = await run_in_threadpool(intake.push, cfg, actor, body, "body.", key)
    except TicketRefused as exc:
        return _problem(exc, request)
    created = answer["status"] == "created"
    return JSONResponse(answer, status_code=201 if created else 200, headers={"Location": f"/api/v1/counties/{county}/tickets/{answer['ticket_id']}"})


def _push_batch(intake: CountyIntake, cfg, actor, body: list[Any], key: str | None) -> list[dict[str, Any]]:
    return intake.push_many(cfg, actor, body, key)


@router.get(
    "/{county}/tickets/{ticket_id}",
    summary="The hub's view of a county ticket: case number, state and county status",
    operation_id="getCountyTicket",
    responses=documented(403, 404, d404="No such county or ticket"),
)
async def read_ticket(request: Request, hub: HubDep, actor: ActorDep, county: County, ticket_id: TicketId) -> JSONResponse:
    intake = _intake(hub)
    try:
        cfg = intake.authorize(county, actor)
        answer = await run_in_threadpool(intake.read, cfg, actor, ticket_id)
    except TicketRefused as exc:
        return _problem(exc, request)
    return JSONResponse(answer)


@router.post(
    "/{county}/tickets/{ticket_id}/updates",
    openapi_extra=_ANY_JSON,
    operation_id="pushCountyTicketUpdate",
    summary="Report sign-off, progress, an extension or return request, or a reply on a county ticket",
    responses={
        200: {"description": "applied, or 'ignored: stale' / 'ignored: duplicate'"},
        **_REFUSALS,
        409: {"description": "The case is closed, or the action is not allowed in its state"},
    },
)
async def push_update(
    request: Request, hub: HubDep, actor: ActorDep, county: County, ticket_id: TicketId, timestamp: Timestamp = None, signature: Signature = None
) -> JSONResponse:
    intake = _intake(hub)
    try:
        cfg, body = await _signed_body(request, intake, county, actor, timestamp, signature)
        answer = await run_in_threadpool(intake.update, cfg, actor, ticket_id, body)
    except TicketRefused as exc:
        return _problem(exc, request)
    return JSONResponse(answer)
