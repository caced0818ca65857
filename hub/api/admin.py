"""Codes, calendar overrides, and who-am-i."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from hub.api.deps import ActorDep, HubDep, require_roles
from hub.api.problems import documented
from hub.domain.access import Actor
from hub.domain.model import Role

router = APIRouter(prefix="/api/v1", tags=["reference"])

CodeKind = Literal["request_types", "categories", "divisions", "units"]


@router.get("/codes/{kind}", summary="The valid codes of one kind (from mappings/)", operation_id="listCodes")
def codes(hub: HubDep, actor: ActorDep, kind: CodeKind) -> list[dict[str, Any]]:
    return hub.catalogue.codes(kind)


class WhoAmI(BaseModel):
    party: str
    role: Role
    unit_code: str | None
    divisions: list[str]


@router.get("/me", response_model=WhoAmI, summary="The party behind the key", operation_id="getCaller")
def me(actor: ActorDep) -> WhoAmI:
    return WhoAmI(party=actor.party, role=actor.role, unit_code=actor.unit_code, divisions=list(actor.divisions))


class Override(BaseModel):
    day: date
    is_workday: bool
    note: str | None = Field(default=None, max_length=200)


class OverrideIn(BaseModel):
    is_workday: bool
    note: str | None = Field(default=None, max_length=200)


Supervisor = Annotated[Actor, Depends(require_roles(Role.SUPERVISOR))]


@router.get("/calendar/overrides", response_model=list[Override], tags=["calendar"], summary="Operator overrides of the working-day calendar",
            operation_id="listCalendarOverrides")
def list_overrides(hub: HubDep, actor: ActorDep) -> list[Override]:
    return [Override(day=d, is_workday=w, note=n) for d, w, n in hub.calendars.overrides()]


@router.put("/calendar/overrides/{day}", response_model=Override, tags=["calendar"], summary="Set a day as working or not",
            operation_id="setCalendarOverride", responses=documented(403))
def put_override(hub: HubDep, actor: Supervisor, day: date, body: OverrideIn) -> Override:
    hub.calendars.set(day, body.is_workday, body.note, actor.party, hub.clock.now())
    return Override(day=day, is_workday=body.is_workday, note=body.note)


@router.delete("/calendar/overrides/{day}", status_code=204, tags=["calendar"], summary="Remove an override",
               operation_id="deleteCalendarOverride", responses=documented(403, 404))
def delete_override(hub: HubDep, actor: Supervisor, day: date) -> None:
    if not hub.calendars.remove(day):
        raise HTTPException(404, f"no override for {day}")
