"""The operators' outbox API (supervisors only) and the Prometheus scrape endpoint."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.api.deps import HubDep, require_roles
from hub.metrics import metrics_token_refusal
from hub.domain.access import Actor
from hub.domain.model import Role
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


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[int, Field(ge=1)]] | None = Field(default=None, max_length=10_000, description="Dead letters to replay.")
    destination: str | None = Field(default=None, max_length=64, description="Replay this destination's dead letters.")
    all: bool = Field(default=False, description="Replay every dead letter (neither ids nor destination given).")

    @model_validator(mode="after")
    def _something(self) -> "ReplayRequest":
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


@router.get("/destinations", response_model=list[DestinationState], summary="Backlog, oldest age, dead letters and pause per destination")
def destinations(hub: HubDep, actor: Supervisor) -> list[dict[str, Any]]:
    return admin.backlog(hub)


@router.get("/dead", response_model=list[DeadLetter], summary="Dead letters with their last error")
def dead(hub: HubDep, actor: Supervisor, destination: Annotated[str | None, Query(max_length=64)] = None,
         limit: Annotated[int, Query(ge=1, le=1000)] = 100, after: Annotated[int, Query(ge=0)] = 0) -> list[dict[str, Any]]:
    return admin.dead_letters(hub, destination, limit, after)


@router.post("/replay", response_model=Replayed, summary="Send dead letters again (same idempotency key)")
def replay(hub: HubDep, actor: Supervisor, body: ReplayRequest) -> Replayed:
    if body.destination:
        _known(hub, body.destination)
    return Replayed(replayed=admin.replay(hub, body.ids, body.destination))


@router.post("/destinations/{destination}/pause", response_model=DestinationState, summary="Stop delivering to a destination")
def pause(hub: HubDep, actor: Supervisor, destination: str, body: PauseRequest | None = None) -> dict[str, Any]:
    _known(hub, destination)
    admin.pause(hub, destination, (body.reason if body else None) or f"paused by {actor.party}")
    return _state(hub, destination)


@router.post("/destinations/{destination}/resume", response_model=DestinationState, summary="Deliver to a destination again")
def resume(hub: HubDep, actor: Supervisor, destination: str) -> dict[str, Any]:
    _known(hub, destination)
    admin.resume(hub, destination)
    return _state(hub, destination)


def _state(hub: Any, destination: str) -> dict[str, Any]:
    return next(d for d in admin.backlog(hub) if d["destination"] == destination)


@metrics_router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(hub: HubDep, request: Request) -> Response:
    if (refused := metrics_token_refusal(hub.settings.metrics_token, request)) is not None:
        return refused
    registry = hub.extras.get("metrics")
    body = generate_latest(registry) if registry is not None else b""  # type: ignore[arg-type]
    return Response(body, media_type=CONTENT_TYPE_LATEST)
