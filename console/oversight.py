"""The supervision pages: the board (督办看板: warned, overdue and supervised cases per unit, and
the supervised list) and the assessment (考核) per unit and period, with bar charts drawn as SVG
on the server and the XLSX download.

Every figure, every refusal and the file come from the supervision feature's service
(`Supervision`, the handle behind /api/v1/assessment and /api/v1/supervision): the scope a
person may be assessed on is `Supervision.scope_for`, the API's own rule; the XLSX is
`supervision.export.to_xlsx`, the API's own file.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from markupsafe import Markup

from console.accounts import Session
from console.charts import Bar, rate_bars
from console.pages import LOCAL
from console.web import _divisions, _feature_page, _hub, _refused, render
from hub.domain.errors import AccessDenied
from hub.domain.model import Role, within_service_years
from hub.mappings.catalogue import UnknownCode
from supervision.assessment import COUNTS, RATES, Assessment, Period
from supervision.export import to_xlsx
from supervision.service import Supervision

router = APIRouter(include_in_schema=False)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TREND_MONTHS = 6
CASES_SHOWN = 100  # per figure on the page; the XLSX lists them all
Code = Annotated[str | None, Query(max_length=40)]


def _month_of(request: Request) -> str:
    return _hub(request).clock.now().astimezone(LOCAL).strftime("%Y-%m")


def _period(label: str) -> Period:
    """The API's period rule (supervision.api._period): a period label within the service years."""
    period = Period.parse(label)
    within_service_years(period.start)
    within_service_years(period.end - timedelta(days=1))
    return period


def _unit_label(names: dict[str, str], code: str | None) -> str:
    return f"{names.get(code, code)}（{code}）" if code else "（未派单）"


# -- the board -------------------------------------------------------------------------------------
@router.get("/console/supervision")
def board_page(request: Request) -> Response:
    page = _feature_page(request, Supervision, "督办功能未启用")
    if isinstance(page, Response):
        return page
    session, service = page
    actor = session.operator.actor
    try:
        rows = service.board(actor)
        supervised = service.supervised(actor, True, None, 200)
    except AccessDenied as exc:
        return _refused(request, session, 403, f"无权查看督办看板：{exc}")
    now = _hub(request).clock.now()
    names = service.unit_names()
    return render(
        request,
        "supervision.html",
        session=session,
        rows=rows,
        supervised=supervised,
        now=now,
        unit_label=lambda code: _unit_label(names, code),
        totals={k: sum(getattr(r, k) for r in rows) for k in ("running", "warned", "overdue", "supervised")},
    )


# -- the assessment --------------------------------------------------------------------------------
def _scope(
    request: Request, period: str | None, unit: str | None, county: str | None
) -> tuple[Session, Supervision, Period, str | None, str | None] | Response:
    """(person, service, period, unit, county) as the API would assess this person, or the page
    to answer with instead (the sign-in page, the feature not installed, the refusal)."""
    page = _feature_page(request, Supervision, "考核功能未启用")
    if isinstance(page, Response):
        return page
    session, service = page
    try:
        p = _period(period or _month_of(request))
    except ValueError as exc:
        return _refused(request, session, 422, f"考核期间：{exc}（例如 2026-11）")
    actor = session.operator.actor
    if actor.role is Role.COUNTY and not county and actor.divisions:
        county = actor.divisions[0]  # a county of several divisions: the first, until it picks another
    try:
        unit, county = service.scope_for(actor, unit or None, county or None)
    except AccessDenied as exc:
        return _refused(request, session, 403, f"无权查看这一考核：{exc}")
    except UnknownCode as exc:
        return _refused(request, session, 422, f"没有这个单位或区县：{exc}")
    return session, service, p, unit, county


def _previous_months(label: str, n: int) -> list[str]:
    """The n months ending with `label` (a month YYYY-MM), oldest first."""
    year, month = int(label[:4]), int(label[5:7])
    out = []
    for _ in range(n):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return out[::-1]


def _rate_chart(title: str, key: str, bars: list[tuple[str, Assessment]]) -> tuple[str, Markup]:
    """One rate drawn as bars, one per (label, assessment): its value and numerator/denominator."""
    drawn = [Bar(label, None if (f := a.figure(key)).value is None else float(f.value), f"{f.numerator}/{f.denominator}") for label, a in bars]
    return title, Markup(rate_bars(title, drawn))


def _percent(a: Assessment, key: str) -> str:
    f = a.figure(key)
    return "—" if f.value is None else f"{float(f.value) * 100:.1f}%"


@router.get("/console/assessment")
def assessment_page(request: Request, period: Code = None, unit: Code = None, county: Code = None) -> Response:
    scoped = _scope(request, period, unit, county)
    if isinstance(scoped, Response):
        return scoped
    session, service, p, unit, county = scoped
    rows = service.breakdown(p, unit, county)
    names = service.unit_names()
    label = lambda a: "合计" if a.unit is None else _unit_label(names, a.unit)  # noqa: E731
    name_of = lambda a: "合计" if a.unit is None else names.get(a.unit, a.unit)  # noqa: E731
    charts = [_rate_chart(name, key, [(name_of(a), a) for a in rows]) for key, (name, _) in RATES.items()]
    trend: list[tuple[str, Markup]] = []
    if len(p.label) == 7 and p.label[4] == "-":  # a month: the scope's rates over the months before it
        months = [service.assess(_period(m), unit, county) for m in _previous_months(p.label, TREND_MONTHS) if _fits(m)]
        trend = [_rate_chart(f"{name}（近 {len(months)} 个月）", key, [(a.period, a) for a in months]) for key, (name, _) in RATES.items()]
    actor = session.operator.actor
    may_pick_unit = actor.role.value in ("agent", "supervisor", "county")
    # 三率排名: the units of the scope ranked by their three rates (GET /api/v1/assessment/ranking),
    # for whom may see every unit's figures (not a unit), where no single unit is picked.
    ranking = None
    if unit is None:
        try:
            ranking = service.ranking(actor, p, county)
        except AccessDenied:
            ranking = None
    query = urlencode([(k, v) for k, v in (("period", p.label), ("unit", unit), ("county", county)) if v])
    return render(
        request,
        "assessment.html",
        session=session,
        period=p.label,
        unit=unit,
        county=county,
        rows=rows,
        label=label,
        percent=_percent,
        RATES=RATES,
        COUNTS=COUNTS,
        charts=charts,
        trend=trend,
        cases_shown=CASES_SHOWN,
        query=query,
        may_pick_unit=may_pick_unit,
        units=sorted(names.items()),
        divisions=_county_choices(request, session),
        ranking=ranking,
    )


def _fits(month: str) -> bool:
    try:
        _period(month)
        return True
    except ValueError:
        return False


def _county_choices(request: Request, session: Session) -> list[tuple[str, str]]:
    op = session.operator
    counties = [(c, n) for c, n in _divisions(_hub(request)) if len(c) == 6]
    return [(c, n) for c, n in counties if c in op.divisions] if op.role.value == "county" else counties


@router.get("/console/assessment/export")
def assessment_export(request: Request, period: Code = None, unit: Code = None, county: Code = None) -> Response:
    scoped = _scope(request, period, unit, county)
    if isinstance(scoped, Response):
        return scoped
    _, service, p, unit, county = scoped
    name = "-".join(x for x in ("assessment", p.label.replace("..", "_"), unit or "", county or "") if x)
    return Response(
        to_xlsx(service.breakdown(p, unit, county), service.unit_names()),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"', "Cache-Control": "no-store"},
    )
