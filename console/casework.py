"""The centre's desk beside the queues: the units' requests to decide (延期与退回申请), and the
repeat-call link on a case page (重复来电: confirm, confirm and merge, or dismiss).

The decisions themselves are the case page's action forms (decide_return, decide_extension,
generated from the lifecycle table); a repeat call is decided through the case service
(`CaseService.decide_repeat_call`, behind POST /api/v1/cases/{number}/repeat-call/...), whose
merge is the lifecycle's merge action.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from console.pages import pending_requests
from console.web import CENTRE, _case_page, _hub, _one, _refused, _session, _signed_form, _to_login, render
from hub.domain.errors import AccessDenied, CaseNotFound, DomainError, StaleCase

router = APIRouter(include_in_schema=False)
CENTRE_ONLY = "延期与退回申请由热线中心（话务员、班长）审批"
REPEAT_OPS = {"confirm": (True, False), "merge": (True, True), "dismiss": (False, False)}


@router.get("/console/requests")
def requests_page(request: Request) -> Response:
    session = _session(request)
    if session is None:
        return _to_login(request)
    if session.operator.role not in CENTRE:
        return _refused(request, session, 403, CENTRE_ONLY)
    hub = _hub(request)
    names = {u.code: u.name_zh for u in hub.catalogue.units.values()}
    return render(request, "requests.html", session=session, items=pending_requests(hub.db, session.operator.actor), unit_names=names)


@router.post("/console/cases/{number}/repeat-call")
async def decide_repeat_call(request: Request, number: str) -> Response:
    signed = await _signed_form(request)
    if isinstance(signed, Response):
        return signed
    session, data = signed
    if session.operator.role not in CENTRE:
        return _refused(request, session, 403, "重复来电由热线中心（话务员、班长）确认")
    op = _one(data, "op")
    if op not in REPEAT_OPS:
        return _case_page(request, session, number, 422, ["重复来电：请选择确认、确认并并单或不是重复来电"])
    confirm, merge = REPEAT_OPS[op]
    try:
        _hub(request).cases.decide_repeat_call(number, confirm, session.operator.actor, _one(data, "note") or None, merge)
    except StaleCase:
        return _case_page(request, session, number, 409, conflict=True)
    except CaseNotFound as exc:  # also NoRepeatCall: no link to decide
        return _refused(request, session, 404, f"工单 {number}：{exc}")
    except AccessDenied as exc:
        return _refused(request, session, 403, f"无权处理工单 {number}：{exc}")
    except DomainError as exc:
        return _case_page(request, session, number, 409, [f"重复来电：{exc}"])
    return RedirectResponse(f"/console/cases/{quote(number)}", status_code=303)
