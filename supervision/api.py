"""/api/v1/assessment (考核) and /api/v1/supervision (督办 list).

Supervising and chasing a case are actions like any other:
POST /api/v1/cases/{number}/actions with {"action": "supervise", "reason": ..., "response_due": ...}.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from hub.api.deps import ActorDep, HubDep
from hub.api.problems import documented
from hub.domain.errors import AccessDenied
from hub.domain.model import Role, within_service_years
from supervision.assessment import Assessment, Period, Ranking
from supervision.export import ranking_to_csv, ranking_to_xlsx, to_csv, to_xlsx
from supervision.service import CENTRE, Supervision

router = APIRouter(prefix="/api/v1", tags=["supervision"])

PeriodQ = Annotated[
    str,
    Query(
        max_length=40,
        description="Local days (Asia/Shanghai): a month YYYY-MM, a day YYYY-MM-DD, an ISO "
        "week YYYY-Www, a quarter YYYY-Qn, a year YYYY, or days YYYY-MM-DD..YYYY-MM-DD (both included, "
        "at most 731).",
        examples=["2025-10"],
    ),
]
UnitQ = Annotated[str | None, Query(max_length=32, description="A unit code: that unit's figures only.")]
CountyQ = Annotated[str | None, Query(pattern=r"^\d{6}$", description="A county's division code: cases located there only.")]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _service(request: Request) -> Supervision:
    return request.app.state.hub.handles.get(Supervision)


def _period(label: str) -> Period:
    try:
        period = Period.parse(label)
        within_service_years(period.start)
        within_service_years(period.end - timedelta(days=1))
        return period
    except ValueError as exc:
        raise RequestValidationError([{"loc": ("query", "period"), "msg": str(exc), "type": "value_error"}]) from None


@router.get(
    "/assessment",
    response_model=Assessment,
    summary="考核: a unit's, a county's or the city's figures for a month",
    operation_id="getAssessment",
    responses=documented(403),
    description="Each figure carries its numerator, denominator, value and the case history lines behind it. Formulas: docs/supervision.md.",
)
def assessment(request: Request, actor: ActorDep, period: PeriodQ, unit: UnitQ = None, county: CountyQ = None) -> Assessment:
    service = _service(request)
    p = _period(period)
    unit, county = service.scope_for(actor, unit, county)
    return service.assess(p, unit, county)


@router.get(
    "/assessment/export",
    summary="考核 export: the total and one row per unit, as CSV or XLSX",
    operation_id="exportAssessment",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}, XLSX: {"schema": {"type": "string", "format": "binary"}}}, "description": "The file"},
        **documented(403),
    },
)
def assessment_export(
    request: Request, actor: ActorDep, period: PeriodQ, unit: UnitQ = None, county: CountyQ = None, format: Annotated[Literal["csv", "xlsx"], Query()] = "csv"
) -> Response:
    service = _service(request)
    p = _period(period)
    unit, county = service.scope_for(actor, unit, county)
    rows = service.breakdown(p, unit, county)
    name = "-".join(x for x in ("assessment", p.label, unit or "", county or "") if x)
    if format == "xlsx":
        return Response(to_xlsx(rows, service.unit_names()), media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    return Response(
        to_csv(rows, service.unit_names()), media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{name}.csv"'}
    )


@router.get(
    "/assessment/ranking",
    response_model=Ranking,
    summary="三率排名: the units ranked by 签收率, 按时办结率 and 满意率",
    operation_id="getAssessmentRanking",
    responses=documented(403, d403="A unit or the province: the ranking shows every unit's figures"),
    description="Each row: the unit, its name, the three rates with numerator and denominator, the score and "
    "the rank. The formula is in the answer and in docs/supervision.md.",
)
def assessment_ranking(request: Request, actor: ActorDep, period: PeriodQ, county: CountyQ = None) -> Ranking:
    return _service(request).ranking(actor, _period(period), county)


@router.get(
    "/assessment/ranking/export",
    summary="三率排名 export, as XLSX or CSV",
    operation_id="exportAssessmentRanking",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}, XLSX: {"schema": {"type": "string", "format": "binary"}}}, "description": "The file"},
        **documented(403, d403="A unit or the province: the ranking shows every unit's figures"),
    },
)
def assessment_ranking_export(
    request: Request, actor: ActorDep, period: PeriodQ, county: CountyQ = None, format: Annotated[Literal["csv", "xlsx"], Query()] = "xlsx"
) -> Response:
    ranking = _service(request).ranking(actor, _period(period), county)
    name = "-".join(x for x in ("ranking", ranking.period.replace("..", "_"), county or "") if x)
    if format == "xlsx":
        return Response(ranking_to_xlsx(ranking), media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    return Response(ranking_to_csv(ranking), media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


class SupervisedOut(BaseModel):
    """A supervised case: no personal data, whoever asks."""

    number: str
    state: str
    lead_unit: str | None
    division_code: str
    due_at: datetime | None
    overdue: bool
    supervised_at: datetime
    supervised_by: str
    reason: str
    response_due: datetime | None
    responded_at: datetime | None
    response_late: bool
    chased: int


@router.get(
    "/supervision",
    response_model=list[SupervisedOut],
    summary="督办: supervised cases and their response due",
    operation_id="listSupervisedCases",
    responses=documented(403),
)
def supervision(
    request: Request,
    hub: HubDep,
    actor: ActorDep,
    unit: UnitQ = None,
    open: Annotated[bool, Query(description="Only cases a unit still holds.")] = True,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[SupervisedOut]:
    if actor.role not in CENTRE and actor.role not in (Role.UNIT, Role.COUNTY):
        raise AccessDenied(f"role '{actor.role.value}' has no supervision list")
    now = hub.clock.now()
    out = []
    for s in _service(request).supervised(actor, open, unit, limit):
        answered = s.responded_at or now
        late = s.response_due is not None and answered > s.response_due
        out.append(SupervisedOut(**s.__dict__, response_late=late))
    return out
