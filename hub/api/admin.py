"""Codes, the calendar (imported years, overrides, status), and who-am-i."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from annotated_types import Ge, Le
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from hub.api.deps import ActorDep, HubDep, require_roles
from hub.api.problems import documented, problem
from hub.calendar_import import ScheduleRefused, YearAlreadyLoaded, import_year
from hub.container import Hub
from hub.domain.access import Actor
from hub.domain.calendar import calendar_status
from hub.domain.calendar_year import YearSchedule, describe_loc
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
# A year in the path has the bounds of the schedule it names: past them a 422, never an overflow.
CalendarYear = Annotated[int, Ge(2000), Le(2100)]  # as YearSchedule.year


@router.get(
    "/calendar/overrides",
    response_model=list[Override],
    tags=["calendar"],
    summary="Operator overrides of the working-day calendar",
    operation_id="listCalendarOverrides",
)
def list_overrides(hub: HubDep, actor: ActorDep) -> list[Override]:
    return [Override(day=d, is_workday=w, note=n) for d, w, n in hub.calendars.overrides()]


@router.put(
    "/calendar/overrides/{day}",
    response_model=Override,
    tags=["calendar"],
    summary="Set a day as working or not",
    operation_id="setCalendarOverride",
    responses=documented(403),
)
def put_override(hub: HubDep, actor: Supervisor, day: date, body: OverrideIn) -> Override:
    hub.calendars.set(day, body.is_workday, body.note, actor.party, hub.clock.now())
    return Override(day=day, is_workday=body.is_workday, note=body.note)


@router.delete(
    "/calendar/overrides/{day}",
    status_code=204,
    tags=["calendar"],
    summary="Remove an override",
    operation_id="deleteCalendarOverride",
    responses=documented(403, 404),
)
def delete_override(hub: HubDep, actor: Supervisor, day: date) -> None:
    if not hub.calendars.remove(day):
        raise HTTPException(404, f"no override for {day}")


class CalendarStatusOut(BaseModel):
    """What a console banner shows: whether the deadlines of the coming weeks are provisional."""

    today: date
    year_known: bool = Field(description="this year is imported or in chinesecalendar")
    next_year: int
    next_year_known: bool
    warning: str | None = Field(description="set from November on while next year is not known (and whenever this year is not)")


def status_of(hub: Hub) -> CalendarStatusOut:
    status = calendar_status(hub.calendars.calendar(), hub.clock.now())
    return CalendarStatusOut(
        today=status.today, year_known=status.year_known, next_year=status.next_year, next_year_known=status.next_year_known, warning=status.warning
    )


@router.get(
    "/calendar/status",
    response_model=CalendarStatusOut,
    tags=["calendar"],
    summary="Is next year's calendar known? (a warning from November on while it is not)",
    operation_id="getCalendarStatus",
)
def get_calendar_status(hub: HubDep, actor: ActorDep) -> CalendarStatusOut:
    return status_of(hub)


class LoadedYear(BaseModel):
    year: int
    source: str
    sample: bool
    loaded_at: datetime
    loaded_by: str


@router.get(
    "/calendar/years",
    response_model=list[LoadedYear],
    tags=["calendar"],
    summary="The years imported from the State Council's notice",
    operation_id="listCalendarYears",
)
def list_years(hub: HubDep, actor: ActorDep) -> list[LoadedYear]:
    return [LoadedYear(year=r.year, source=r.source, sample=r.sample, loaded_at=r.loaded_at, loaded_by=r.loaded_by) for r in hub.calendars.years()]


@router.get(
    "/calendar/years/{year}",
    response_model=YearSchedule,
    response_model_by_alias=True,
    tags=["calendar"],
    summary="One imported year's schedule, as loaded",
    operation_id="getCalendarYear",
    responses=documented(404),
)
def get_year(hub: HubDep, actor: ActorDep, year: CalendarYear) -> YearSchedule:
    schedule = hub.calendars.schedule(year)
    if schedule is None:
        raise HTTPException(404, f"the calendar of {year} was not imported")
    return schedule


class YearImported(BaseModel):
    year: int
    replaced: bool
    sample: bool
    moved: list[str] = Field(description="cases whose provisional deadlines moved (each has a recount_deadlines history line)")
    confirmed: list[str] = Field(description="cases whose provisional deadlines stayed and are now known")


@router.put(
    "/calendar/years/{year}",
    response_model=YearImported,
    tags=["calendar"],
    summary="Import a year's official schedule whole; provisional deadlines are counted again",
    operation_id="importCalendarYear",
    responses=documented(
        403, 409, 422, d409="The year is already loaded (replace=true loads it again)", d422="The schedule is wrong; every problem is named, nothing is loaded"
    ),
)
def put_year(hub: HubDep, actor: Supervisor, request: Request, year: CalendarYear, body: YearSchedule, replace: bool = False) -> YearImported | JSONResponse:
    if body.year != year:
        return problem(
            422,
            "validation",
            "The request is not valid",
            f"the body is the calendar of {body.year}, not {year}",
            request,
            errors=[{"field": "body.year", "reason": f"must be {year}, the year in the path"}],
        )
    try:
        done = import_year(hub.cases, body, actor, replace=replace)
    except ScheduleRefused as exc:
        return problem(
            422,
            "calendar-refused",
            "The schedule is refused as a whole; nothing was loaded",
            str(exc),
            request,
            errors=[{"field": f"body.{describe_loc(loc)}", "reason": reason} for loc, reason in exc.problems],
        )
    except YearAlreadyLoaded as exc:
        return problem(409, "calendar-year-loaded", "The year is already loaded", str(exc), request)
    return YearImported(year=done.year, replaced=done.replaced, sample=done.sample, moved=done.moved, confirmed=done.confirmed)
