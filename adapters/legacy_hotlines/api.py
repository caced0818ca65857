"""/api/v1/legacy: supervisors review duplicate candidates and read the lines' set-up."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from adapters.legacy_hotlines.candidates import CandidateNotFound, Candidates
from adapters.legacy_hotlines.config import bridge_destination
from hub.api.deps import HubDep, require_roles
from hub.api.problems import problem
from hub.domain.access import Actor
from hub.domain.model import Role

router = APIRouter(prefix="/api/v1/legacy", tags=["legacy"])
Supervisor = Annotated[Actor, Depends(require_roles(Role.SUPERVISOR))]
Centre = Annotated[Actor, Depends(require_roles(Role.AGENT, Role.SUPERVISOR))]
CandidateId = Annotated[int, Path(ge=1, description="The candidate's id from the list.")]


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
    return hub.extras["legacy"]["candidates"]


@router.get("/candidates", response_model=list[CandidateOut], summary="Duplicate candidates, highest id last")
async def list_candidates(hub: HubDep, actor: Supervisor,
                          status: Annotated[str | None, Query(pattern="^(pending|confirmed|dismissed)$")] = "pending",
                          min_score: Annotated[float, Query(ge=0, le=1)] = 0.0,
                          limit: Annotated[int, Query(ge=1, le=500)] = 100,
                          after_id: Annotated[int, Query(ge=0, description="Page on: the last id seen.")] = 0) -> Any:
    rows = await run_in_threadpool(_candidates(hub).list, status, min_score, limit, after_id)
    return [r.as_json() for r in rows]


async def _decide(request: Request, hub: Any, actor: Actor, candidate_id: int, body: Decision | None, how: str) -> Any:
    c = _candidates(hub)
    try:
        result = await run_in_threadpool(getattr(c, how), candidate_id, actor, body.note if body else None)
    except CandidateNotFound as exc:
        return problem(404, "candidate-not-found", "No such duplicate candidate", str(exc), request,
                       errors=[{"field": "path.candidate_id", "reason": "unknown candidate"}])
    return result.as_json()


@router.post("/candidates/{candidate_id}/confirm", response_model=CandidateOut,
             summary="Confirm: merge the later case into the earlier where the lifecycle allows, else link them",
             responses={404: {"description": "No such candidate"}, 409: {"description": "Already decided"}})
async def confirm(request: Request, hub: HubDep, actor: Supervisor, candidate_id: CandidateId, body: Decision | None = None) -> Any:
    return await _decide(request, hub, actor, candidate_id, body, "confirm")


@router.post("/candidates/{candidate_id}/dismiss", response_model=CandidateOut, summary="Dismiss: not the same request",
             responses={404: {"description": "No such candidate"}, 409: {"description": "Already decided"}})
async def dismiss(request: Request, hub: HubDep, actor: Supervisor, candidate_id: CandidateId, body: Decision | None = None) -> Any:
    return await _decide(request, hub, actor, candidate_id, body, "dismiss")


@router.get("/lines", summary="The legacy lines, their merge mode and domain")
async def lines(hub: HubDep, actor: Centre) -> list[dict[str, Any]]:
    cfg, gaps = hub.extras["legacy"]["config"], hub.extras["legacy"]["unbridged"]
    return [{"line": e.line, "name_zh": e.name_zh, "mode": e.mode.value, "categories": list(e.categories),
             "sub_centre_unit": e.sub_centre_unit, "bridge": e.bridge.model_dump() if e.bridge else None,
             "bridge_destination": bridge_destination(hub.settings.destinations, e.line) if e.bridge else None,
             "bridge_gap": gaps.get(e.line)}
            for e in cfg.lines.values()]


@router.get("/routing", summary="设分中心: the sub-centre unit for a category, if a line's sub-centre covers it")
async def routing(hub: HubDep, actor: Centre,
                  category: Annotated[str, Query(pattern=r"^(\d{2}){1,4}$", description="Hub category code.")]) -> dict[str, Any]:
    cfg = hub.extras["legacy"]["config"]
    hub.catalogue.category(category, field="query.category")
    entry = cfg.sub_centre_for(category)
    return {"category": category, "line": entry.line if entry else None, "unit": entry.sub_centre_unit if entry else None}
