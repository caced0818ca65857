"""/api/v1/legacy: supervisors review duplicate candidates and the cases a bridged line
offered that the hub could not take, and read the lines' set-up."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from adapters.legacy_hotlines.bridge.refusals import Refusal, RefusalNotFound, Refusals
from adapters.legacy_hotlines.config import bridge_destination
from adapters.legacy_hotlines.handle import Legacy
from adapters.legacy_hotlines.importing.candidates import CandidateNotFound, Candidates
from hub.api.deps import HubDep, require_roles
from hub.api.limits import AfterId, RowId
from hub.api.problems import documented, problem
from hub.domain.access import Actor
from hub.domain.model import Role

router = APIRouter(prefix="/api/v1/legacy", tags=["legacy"])
Supervisor = Annotated[Actor, Depends(require_roles(Role.SUPERVISOR))]
Centre = Annotated[Actor, Depends(require_roles(Role.AGENT, Role.SUPERVISOR))]
CandidateId = Annotated[RowId, Path(description="The candidate's id from the list.")]
RefusalId = Annotated[RowId, Path(description="The refusal's id from the list.")]


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=2000, description="Why: kept with the decision.")


class CandidateOut(BaseModel):
    id: int
    case_a: str = Field(description="The earlier case.")
    case_b: str = Field(description="The later case: merged into case_a (or linked to it) when confirmed.")
    line_a: str
    line_b: str
    score: float
    text_similarity: float
    hours_apart: float
    status: str
    resolution: str | None = Field(description="merged (by the case engine) or linked (the engine refused 并单).")
    decided_by: str | None
    note: str | None


def _candidates(hub: Any) -> Candidates:
    return hub.handles.get(Legacy).candidates


@router.get(
    "/candidates",
    response_model=list[CandidateOut],
    summary="Duplicate candidates, highest id last",
    operation_id="listDuplicateCandidates",
    responses=documented(403),
)
async def list_candidates(
    hub: HubDep,
    actor: Supervisor,
    status: Annotated[str | None, Query(pattern="^(pending|confirmed|dismissed)$")] = "pending",
    min_score: Annotated[float, Query(ge=0, le=1)] = 0.0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after_id: Annotated[AfterId, Query(description="Page on: the last id seen.")] = 0,
) -> Any:
    rows = await run_in_threadpool(_candidates(hub).list, status, min_score, limit, after_id)
    return [r.as_json() for r in rows]


async def _decide(request: Request, hub: Any, actor: Actor, candidate_id: int, body: Decision | None, how: str) -> Any:
    c = _candidates(hub)
    try:
        result = await run_in_threadpool(getattr(c, how), candidate_id, actor, body.note if body else None)
    except CandidateNotFound as exc:
        return problem(
            404, "candidate-not-found", "No such duplicate candidate", str(exc), request, errors=[{"field": "path.candidate_id", "reason": "unknown candidate"}]
        )
    return result.as_json()


@router.post(
    "/candidates/{candidate_id}/confirm",
    response_model=CandidateOut,
    summary="Confirm: merge the later case into the earlier where the lifecycle allows, else link them",
    operation_id="confirmDuplicateCandidate",
    responses=documented(403, 404, 409, d404="No such candidate", d409="Already decided"),
)
async def confirm(request: Request, hub: HubDep, actor: Supervisor, candidate_id: CandidateId, body: Decision | None = None) -> Any:
    return await _decide(request, hub, actor, candidate_id, body, "confirm")


@router.post(
    "/candidates/{candidate_id}/dismiss",
    response_model=CandidateOut,
    summary="Dismiss: not the same request",
    operation_id="dismissDuplicateCandidate",
    responses=documented(403, 404, 409, d404="No such candidate", d409="Already decided"),
)
async def dismiss(request: Request, hub: HubDep, actor: Supervisor, candidate_id: CandidateId, body: Decision | None = None) -> Any:
    return await _decide(request, hub, actor, candidate_id, body, "dismiss")


class RefusalOut(BaseModel):
    id: int
    line: str
    line_case_id: str | None = Field(description="The line's id for the case (null: the item carried none).")
    stage: str = Field(
        description="Where it failed last: map (the line's mapping file), register (the hub refused "
        "the case), acknowledge (registered as case_number; the line refused the acknowledgement)."
    )
    reason: str
    case_number: str | None = Field(description="The 12345 case, once registered.")
    status: str = Field(description="pending (retry or dismiss), taken (registered and acknowledged), dismissed.")
    attempts: int
    first_at: datetime
    last_at: datetime
    decided_by: str | None
    note: str | None


def _refusals(hub: Any) -> Refusals:
    return hub.handles.get(Legacy).refusals


def _refusal_not_found(request: Request, exc: RefusalNotFound) -> JSONResponse:
    return problem(
        404, "refusal-not-found", "No such refused bridge case", str(exc), request, errors=[{"field": "path.refusal_id", "reason": "unknown refusal"}]
    )


@router.get(
    "/refusals",
    response_model=list[RefusalOut],
    summary="Cases a 双号并行 line offered that the hub could not take, oldest first",
    operation_id="listBridgeRefusals",
    responses=documented(403),
)
async def list_refusals(
    hub: HubDep,
    actor: Supervisor,
    status: Annotated[str | None, Query(pattern="^(pending|taken|dismissed)$")] = "pending",
    line: Annotated[str | None, Query(pattern=r"^\d{5}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after_id: Annotated[AfterId, Query(description="Page on: the last id seen.")] = 0,
) -> Any:
    rows = await run_in_threadpool(_refusals(hub).list, status, line, limit, after_id)
    return [r.as_json() for r in rows]


@router.post(
    "/refusals/{refusal_id}/retry",
    response_model=RefusalOut,
    summary="Take a refused case again with the line's mapping as the hub loaded it (fix the file, restart, retry)",
    operation_id="retryBridgeRefusal",
    responses=documented(403, 404, 409, d404="No such refusal", d409="Already taken or dismissed, or the line has no bridge destination to acknowledge it"),
)
async def retry_refusal(request: Request, hub: HubDep, actor: Supervisor, refusal_id: RefusalId) -> Any:
    try:
        refusal: Refusal = await run_in_threadpool(_refusals(hub).pending, refusal_id)
    except RefusalNotFound as exc:
        return _refusal_not_found(request, exc)
    puller = hub.handles.get(Legacy).pullers.get(refusal.line)
    if puller is None:
        return problem(
            409,
            "no-bridge",
            "The line has no live bridge",
            f"line {refusal.line} has no enabled legacy_bridge destination: nothing can acknowledge the case",
            request,
        )
    result = await run_in_threadpool(puller.retry, refusal_id, actor)
    return result.as_json()


@router.post(
    "/refusals/{refusal_id}/dismiss",
    response_model=RefusalOut,
    summary="Dismiss a refused case (e.g. the line sent it in error); the note says why",
    operation_id="dismissBridgeRefusal",
    responses=documented(403, 404, 409, d404="No such refusal", d409="Already taken or dismissed"),
)
async def dismiss_refusal(request: Request, hub: HubDep, actor: Supervisor, refusal_id: RefusalId, body: Decision | None = None) -> Any:
    try:
        result = await run_in_threadpool(_refusals(hub).dismiss, refusal_id, actor, body.note if body else None)
    except RefusalNotFound as exc:
        return _refusal_not_found(request, exc)
    return result.as_json()


@router.get("/lines", summary="The legacy lines, their merge mode and domain", operation_id="listLegacyLines", responses=documented(403))
async def lines(hub: HubDep, actor: Centre) -> list[dict[str, Any]]:
    cfg, gaps = hub.handles.get(Legacy).config, hub.handles.get(Legacy).unbridged
    return [
        {
            "line": e.line,
            "name_zh": e.name_zh,
            "mode": e.mode.value,
            "categories": list(e.categories),
            "sub_centre_unit": e.sub_centre_unit,
            "bridge": e.bridge.model_dump() if e.bridge else None,
            "bridge_destination": bridge_destination(hub.settings.destinations, e.line) if e.bridge else None,
            "bridge_gap": gaps.get(e.line),
        }
        for e in cfg.lines.values()
    ]


@router.get(
    "/routing",
    summary="设分中心: the sub-centre unit for a category, if a line's sub-centre covers it",
    operation_id="getSubCentreRouting",
    responses=documented(403),
)
async def routing(hub: HubDep, actor: Centre, category: Annotated[str, Query(pattern=r"^(\d{2}){1,4}$", description="Hub category code.")]) -> dict[str, Any]:
    cfg = hub.handles.get(Legacy).config
    hub.catalogue.category(category, field="query.category")
    entry = cfg.sub_centre_for(category)
    return {"category": category, "line": entry.line if entry else None, "unit": entry.sub_centre_unit if entry else None}
