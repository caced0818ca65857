"""The intake page (登记工单) for the centre's agents: the case fields with code pickers from the
catalogue, and the caller's earlier cases by phone (the service behind
POST /api/v1/callers/history) before registering."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from console import forms
from console.accounts import Session
from console.kb import snippet, suggestions_for
from console.web import (
    CENTRE,
    _categories,
    _divisions,
    _hub,
    _one,
    _refused,
    _session,
    _signed_form,
    _to_login,
    _types,
    render,
)
from hub.domain.errors import DomainError
from hub.domain.model import CaseDraft, normalise_phone
from hub.mappings.catalogue import UnknownCode
from hub.service import ContentTooLarge

router = APIRouter(include_in_schema=False)


INTAKE_FIELDS = ("channel", "name", "phone", "request_type", "category_code", "title", "content", "division_code", "address", "urgency", "call_id")


def _intake_page(
    request: Request,
    session: Session,
    status: int = 200,
    values: dict[str, Any] | None = None,
    errors: list[str] | None = None,
    history: Any = None,
    hits: list[Any] | None = None,
    asked: bool = False,
) -> HTMLResponse:
    hub = _hub(request)
    return render(
        request,
        "intake.html",
        status,
        session,
        values=values or {"channel": "phone", "urgency": "normal"},
        errors=errors or [],
        history=history,
        types=_types(hub),
        categories=_categories(hub),
        divisions=_divisions(hub),
        channels=[("phone", "电话"), ("web", "网站"), ("wechat", "微信"), ("weibo", "微博"), ("app", "App"), ("other", "其他")],
        urgencies=[("normal", "一般"), ("urgent", "紧急"), ("critical", "特急")],
        days=hub.settings.caller_history_days,
        hits=hits or [],
        asked=asked,
        snippet=snippet,
    )


@router.get("/console/intake")
def intake_page(request: Request) -> Response:
    session = _session(request)
    if session is None:
        return _to_login(request)
    if session.operator.role not in CENTRE:
        return _refused(request, session, 403, "只有热线中心（话务员、班长）登记工单")
    return _intake_page(request, session)


@router.post("/console/intake")
async def intake(request: Request) -> Response:
    signed = await _signed_form(request)
    if isinstance(signed, Response):
        return signed
    session, data = signed
    if session.operator.role not in CENTRE:
        return _refused(request, session, 403, "只有热线中心（话务员、班长）登记工单")
    hub, actor = _hub(request), session.operator.actor
    values: dict[str, Any] = {k: _one(data, k) for k in INTAKE_FIELDS}
    values["confidential"] = bool(data.get("confidential"))
    values["anonymous"] = bool(data.get("anonymous"))
    if _one(data, "op") == "history":  # 来电历史: the same form comes back with the caller's earlier cases
        try:
            phone = normalise_phone(values["phone"])
        except ValueError:
            return _intake_page(request, session, 422, values, ["来电号码：不是有效的手机、座机或服务号码"])
        since, count, total, items = hub.cases.caller_history(phone, actor, hub.settings.caller_history_days)
        return _intake_page(request, session, values=values, history={"count": count, "total": total, "items": items})
    if _one(data, "op") == "kb":  # 知识库建议 without the page's script: the same form comes back with them
        text = f"{values['title']}\n{values['content']}"
        return _intake_page(request, session, values=values, hits=suggestions_for(request, text), asked=bool(text.strip()))
    person: dict[str, Any] = {"kind": "person", "anonymous": values["anonymous"], "confidential": values["confidential"]}
    if not values["anonymous"]:
        person.update(name=values["name"] or None, phone=values["phone"] or None)
    body = {
        "intake": {
            "channel": values["channel"] or "phone",
            "received_at": hub.clock.now().isoformat(),
            "agent": actor.party,
            **({"call_id": values["call_id"]} if values["call_id"] else {}),
        },
        "person": person,
        "request_type": values["request_type"],
        "category_code": values["category_code"],
        "title": values["title"],
        "content": values["content"],
        "urgency": values["urgency"] or "normal",
        "place": {"division_code": values["division_code"], "address": values["address"] or None},
    }
    try:
        draft = CaseDraft.model_validate(body)
        case = hub.cases.register(draft, actor).case
    except ValidationError as exc:
        return _intake_page(request, session, 422, values, forms.errors_of(exc))
    except (UnknownCode, ContentTooLarge, DomainError) as exc:
        return _intake_page(request, session, 422, values, [str(exc)])
    return RedirectResponse(f"/console/cases/{quote(case.number)}", status_code=303)
