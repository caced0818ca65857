"""The operators' outbox API (supervisors only) and the Prometheus scrape endpoint."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from hub.api.deps import HubDep, require_roles
from hub.api.limits import AfterId, RowId
from hub.api.problems import documented, problem
from hub.domain.access import Actor
from hub.domain.model import Role
from hub.metrics import metrics_token_refusal
from outbox import admin

router = APIRouter(prefix="/api/v1/outbox", tags=["outbox"])
metrics_router = APIRouter(tags=["health"])

Supervisor = Annotated[Actor, Depends(require_roles(Role.SUPERVISOR))]


class DestinationState(BaseModel):
    destination: str
    configured: bool
    backlog: int = Field(description="Messages pending or in flight.")
    oldest_age_seconds: float | None = Field(description="Age of the oldest undelivered message.")
    dead: int = Field(description="Messages in dead letters.")
    held_cases: int = Field(description="Ordering keys (cases) whose later messages wait behind a dead letter until it is replayed or skipped.")
    held_messages: int = Field(description="Messages waiting behind a dead letter of their key.")
    paused: bool
    paused_until: str | None = Field(description="Set while the circuit breaker holds the destination.")
    paused_by_operator: bool
    pause_reason: str | None
    consecutive_failures: int


class DeadLetter(BaseModel):
    id: int
    destination: str
    case_number: str | None
    event_type: str
    ordering_key: str
    sequence: int
    idempotency_key: str
    attempts: int
    created_at: str
    last_error: str | None
    holding: int = Field(description="Later messages of its key (case) it holds back until replayed or skipped.")


class SkipRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[RowId] = Field(min_length=1, max_length=1000, description="Dead letters to give up.")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] = Field(
        description="Why: written into each case's history with who skipped."
    )


class SkippedMessage(BaseModel):
    id: int
    destination: str
    case_number: str | None
    sequence: int
    in_case_history: bool = Field(description="False for a message of no case (the reason is in its last error).")


class Skipped(BaseModel):
    skipped: list[SkippedMessage]


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[RowId] | None = Field(default=None, max_length=10_000, description="Dead letters to replay.")
    destination: str | None = Field(default=None, max_length=64, description="Replay this destination's dead letters.")
    all: bool = Field(default=False, description="Replay every dead letter (neither ids nor destination given).")

    @model_validator(mode="after")
    def _something(self) -> ReplayRequest:
        if not self.ids and not self.destination and not self.all:
            raise ValueError("name ids, a destination, or set all=true")
        return self


class Replayed(BaseModel):
    replayed: int


class PauseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500)


def _known(hub: Any, destination: str) -> None:
    if not admin.known_destination(hub, destination):
        raise HTTPException(404, f"destination {destination!r} is neither configured nor holding messages")


@router.get(
    "/destinations",
    response_model=list[DestinationState],
    summary="Backlog, oldest age, dead letters and pause per destination",
    operation_id="listDestinations",
    responses=documented(403),
)
def destinations(hub: HubDep, actor: Supervisor) -> list[dict[str, Any]]:
    return admin.backlog(hub)


@router.get("/dead", response_model=list[DeadLetter], summary="Dead letters with their last error", operation_id="listDeadLetters", responses=documented(403))
def dead(
    hub: HubDep,
    actor: Supervisor,
    destination: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[AfterId, Query()] = 0,
) -> list[dict[str, Any]]:
    return admin.dead_letters(hub, destination, limit, after)


@router.post(
    "/replay",
    response_model=Replayed,
    summary="Send dead letters again (same idempotency key)",
    operation_id="replayDeadLetters",
    responses=documented(403, 404, d404="No such destination"),
)
def replay(hub: HubDep, actor: Supervisor, body: ReplayRequest) -> Replayed:
    if body.destination:
        _known(hub, body.destination)
    return Replayed(replayed=admin.replay(hub, body.ids, body.destination))


@router.post(
    "/skip",
    response_model=Skipped,
    summary="Give up dead letters; the messages they held back flow on",
    operation_id="skipDeadLetters",
    responses=documented(403, 409, d409="An id is not a dead letter; nothing was skipped"),
)
def skip(hub: HubDep, actor: Supervisor, body: SkipRequest, request: Request) -> Any:
    try:
        return Skipped(skipped=[SkippedMessage(**line) for line in admin.skip(hub, body.ids, actor, body.reason)])
    except admin.NotDead as exc:
        return problem(
            409,
            "not-dead-letters",
            "Only dead letters can be skipped",
            f"ids {exc.ids} are not dead letters; nothing was skipped",
            request,
            errors=[{"field": "body.ids", "reason": f"not dead letters: {exc.ids}"}],
        )


@router.post(
    "/destinations/{destination}/pause",
    response_model=DestinationState,
    summary="Stop delivering to a destination",
    operation_id="pauseDestination",
    responses=documented(403, 404, d404="No such destination"),
)
def pause(hub: HubDep, actor: Supervisor, destination: str, body: PauseRequest | None = None) -> dict[str, Any]:
    _known(hub, destination)
    admin.pause(hub, destination, (body.reason if body else None) or f"paused by {actor.party}")
    return _state(hub, destination)


@router.post(
    "/destinations/{destination}/resume",
    response_model=DestinationState,
    summary="Deliver to a destination again",
    operation_id="resumeDestination",
    responses=documented(403, 404, d404="No such destination"),
)
def resume(hub: HubDep, actor: Supervisor, destination: str) -> dict[str, Any]:
    _known(hub, destination)
    admin.resume(hub, destination, by=actor.party)
    return _state(hub, destination)


def _state(hub: Any, destination: str) -> dict[str, Any]:
    return next(d for d in admin.backlog(hub) if d["destination"] == destination)


@metrics_router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    operation_id="getMetrics",
    responses={
        200: {"description": "The text exposition format", "content": {"text/plain": {"schema": {"type": "string"}}}},
        **documented(401, d401="A metrics token is set (metrics_token) and the request does not carry it"),
    },
)
def metrics(hub: HubDep, request: Request) -> Response:
    if (refused := metrics_token_refusal(hub.settings.metrics_token, request)) is not None:
        return refused
    return Response(generate_latest(hub.metrics_registry), media_type=CONTENT_TYPE_LATEST)
