"""The outbox pages (出站消息) for the centre's supervisors: per destination the backlog, the
oldest message's age, the messages held behind a dead letter and any pause; the dead letters
with their last error, and replay and skip as forms.

The same rule and the same operations as /api/v1/outbox (supervisors only; `outbox.admin`, which
the API and the CLI use): a skip needs a reason and is written into each case's history with
who skipped; a replay from here is written there too, with who replayed. A destination is paused
and resumed here as by POST /api/v1/outbox/destinations/{destination}/pause|resume: the pause
reason shown on the page says who paused, and the last resume says who resumed and when.
"""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.accounts import Session
from console.web import _hub, _one, _refused, _session, _signed_form, _to_login, render
from hub.domain.model import Role
from outbox import admin

log = logging.getLogger("hub.console.outbox")
router = APIRouter(include_in_schema=False)
PAGE = 100
ONLY = "出站消息只有热线中心的班长可以查看和处理"


def may_see_outbox(session: Session) -> bool:
    """The API's rule (outbox/api.py: require_roles(SUPERVISOR))."""
    return session.operator.role is Role.SUPERVISOR


def _ids(values: list[str]) -> list[int] | None:
    out = []
    for v in values:
        if not v.strip().isdigit() or not 1 <= int(v) <= 2**63 - 1:
            return None
        out.append(int(v))
    return out


def _page(
    request: Request,
    session: Session,
    status: int = 200,
    destination: str | None = None,
    after: int = 0,
    errors: list[str] | None = None,
    done: str | None = None,
) -> HTMLResponse:
    hub = _hub(request)
    dead = admin.dead_letters(hub, destination or None, PAGE + 1, after)
    more = len(dead) > PAGE
    dead = dead[:PAGE]
    return render(
        request,
        "outbox.html",
        status,
        session,
        destinations=admin.backlog(hub),
        dead=dead,
        destination=destination or "",
        next_after=dead[-1]["id"] if more and dead else None,
        errors=errors or [],
        done=done,
    )


@router.get("/console/outbox")
def outbox_page(
    request: Request,
    destination: Annotated[str | None, Query(max_length=64)] = None,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    done: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    session = _session(request)
    if session is None:
        return _to_login(request)
    if not may_see_outbox(session):
        return _refused(request, session, 403, ONLY)
    return _page(request, session, destination=destination, after=after, done=done)


async def _supervisor_form(request: Request) -> tuple[Session, dict[str, list[str]]] | Response:
    """A signed (CSRF-checked) form from someone who may work the outbox; otherwise the page to answer with."""
    signed = await _signed_form(request)
    if isinstance(signed, Response):
        return signed
    session, data = signed
    if not may_see_outbox(session):
        return _refused(request, session, 403, ONLY)
    return session, data


@router.post("/console/outbox/replay")
async def replay(request: Request) -> Response:
    signed = await _supervisor_form(request)
    if isinstance(signed, Response):
        return signed
    session, data = signed
    hub = _hub(request)
    ids, destination = _ids(data.get("ids", [])), _one(data, "destination")
    if ids is None:
        return _page(request, session, 422, destination, errors=["消息编号：应为正整数"])
    if not ids and not destination:
        return _page(request, session, 422, errors=["请勾选要重发的消息，或选择一个目的地重发其全部死信"])
    if destination and not admin.known_destination(hub, destination):
        return _page(request, session, 404, errors=[f"没有目的地 {destination}"])
    n = admin.replay(hub, ids or None, destination or None, actor=session.operator.actor)
    back = f"/console/outbox?done={quote(f'已重发 {n} 条消息')}"
    return RedirectResponse(back + (f"&destination={quote(destination)}" if destination else ""), status_code=303)


@router.post("/console/outbox/skip")
async def skip(request: Request) -> Response:
    signed = await _supervisor_form(request)
    if isinstance(signed, Response):
        return signed
    session, data = signed
    hub = _hub(request)
    ids, reason, destination = _ids(data.get("ids", [])), _one(data, "reason"), _one(data, "destination")
    errors = []
    if not ids:
        errors.append("消息编号：请勾选要放弃的消息" if ids is not None else "消息编号：应为正整数")
    if not reason:
        errors.append("放弃原因：必填，将写入工单办理过程")
    elif len(reason) > 500:
        errors.append("放弃原因：最多 500 字")
    if errors:
        return _page(request, session, 422, destination, errors=errors)
    try:
        skipped = admin.skip(hub, ids or [], session.operator.actor, reason)
    except admin.NotDead as exc:
        return _page(request, session, 409, destination, errors=[f"消息 {', '.join(map(str, exc.ids))} 不是死信（可能已被他人重发或放弃）：没有放弃任何消息"])
    back = f"/console/outbox?done={quote(f'已放弃 {len(skipped)} 条消息')}"
    return RedirectResponse(back + (f"&destination={quote(destination)}" if destination else ""), status_code=303)


async def _destination_form(request: Request, destination: str) -> tuple[Session, dict[str, list[str]]] | Response:
    """The supervisor's signed form for a destination the hub knows; otherwise the page to answer with."""
    signed = await _supervisor_form(request)
    if isinstance(signed, Response):
        return signed
    session, data = signed
    if len(destination) > 64 or not admin.known_destination(_hub(request), destination):
        return _page(request, session, 404, errors=[f"没有目的地 {destination}（既未配置，也没有消息）"])
    return session, data


@router.post("/console/outbox/destinations/{destination}/pause")
async def pause(request: Request, destination: str) -> Response:
    checked = await _destination_form(request, destination)
    if isinstance(checked, Response):
        return checked
    session, data = checked
    reason = _one(data, "reason")
    if len(reason) > 400:
        return _page(request, session, 422, errors=["暂停原因：最多 400 字"])
    who = session.operator.display_name or session.operator.username
    # Who paused is kept with the pause (the reason the page and GET /api/v1/outbox/destinations show).
    admin.pause(_hub(request), destination, f"{reason or '人工暂停'}（{who}〔{session.operator.username}〕暂停）")
    log.info("outbox destination %s paused by %s", destination, session.operator.username)
    return RedirectResponse(f"/console/outbox?done={quote(f'已暂停向 {destination} 推送')}", status_code=303)


@router.post("/console/outbox/destinations/{destination}/resume")
async def resume(request: Request, destination: str) -> Response:
    checked = await _destination_form(request, destination)
    if isinstance(checked, Response):
        return checked
    session, _ = checked
    who = session.operator.display_name or session.operator.username
    # Who resumed is kept with the destination (shown beside it, as a pause's reason is) until the next pause.
    was = admin.resume(_hub(request), destination, by=f"{who}〔{session.operator.username}〕")
    log.info("outbox destination %s resumed by %s (was paused: %s)", destination, session.operator.username, was)
    done = f"已恢复向 {destination} 推送" if was else f"{destination} 未暂停，照常推送"
    return RedirectResponse(f"/console/outbox?done={quote(done)}", status_code=303)
