"""The console's routes: sign-in, workbench, queues, search and the case page (intake: console/intake.py).

HTML, not the JSON API: every route is left out of the OpenAPI document
(include_in_schema=False) and described in the console's own authorization matrix
(tests/integration/test_console_matrix.py). Each page reads and acts through the hub's
services with the operator's Actor, so the API's access rules apply unchanged.

Over 400 lines on purpose: the routes of the operator's daily pages share the session, CSRF and
feedback helpers defined here; each feature's pages live in their own modules.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import ValidationError
from starlette.datastructures import UploadFile as StarletteUpload

from channels.service import ChannelService
from console import forms
from console.accounts import AccountError, Accounts, Session
from console.pages import (
    CHANNEL_LABELS,
    LOCAL,
    ROLE_LABELS,
    STATE_LABELS,
    Queue,
    local,
    open_forward_to,
    open_part,
    pending_requests,
    queue_query,
    queues_for,
    scoped_cases,
)
from hub.api.attachments import file_response
from hub.api.client_address import client_address
from hub.attachment_store import StoreUnavailable
from hub.attachments import AttachmentFileMissing, AttachmentNotFound, AttachmentRefused, AttachmentTooLarge, UnsupportedAttachment
from hub.container import Hub
from hub.db.repository import CaseQuery, decode_cursor
from hub.domain.access import Actor, view_for
from hub.domain.calendar import calendar_status
from hub.domain.errors import AccessDenied, CaseNotFound, DomainError, StaleCase
from hub.domain.model import Case, Role, normalise_phone
from hub.mappings.catalogue import UnknownCode
from hub.read_audit import record_read
from hub.service import ContentTooLarge, NoRepeatCall
from outbox import admin
from outbox.feature import OutboxHandle

COOKIE = "hub_console"
LOGIN_COOKIE = "hub_console_login"  # the sign-in form's CSRF token (double submit): no session yet
STATIC = Path(__file__).resolve().parent / "static"
STATIC_FILES = {"console.css": "text/css", "console.js": "text/javascript"}
CENTRE = (Role.AGENT, Role.SUPERVISOR)
COUNT_CAP = 200  # the workbench counts up to this, then says "200+"
H = TypeVar("H")

router = APIRouter(include_in_schema=False)
_env = Environment(loader=PackageLoader("console", "templates"), autoescape=select_autoescape(["html"]))
_env.globals.update(
    STATE_LABELS=STATE_LABELS,
    ROLE_LABELS=ROLE_LABELS,
    CHANNEL_LABELS=CHANNEL_LABELS,
    VALUE_LABELS=forms.VALUE_LABELS,
    ACTION_LABELS=forms.ACTION_LABELS,
    PART_STATE_LABELS=forms.PART_STATE_LABELS,
    FORWARD_STATE_LABELS=forms.FORWARD_STATE_LABELS,
    FIELD_LABELS={**forms.FIELD_LABELS, "place": "地点", "division_code": "区划"},
    local=local,
    local_iso=lambda text: local(datetime.fromisoformat(text)) if isinstance(text, str) and text else "",
    shown=lambda value: (
        " ".join(str(value.get(k) or "") for k in ("division_code", "address")).strip()
        if isinstance(value, dict)
        else forms.VALUE_LABELS.get(str(value), "" if value is None else str(value))
    ),
    open_part=open_part,
    open_forward_to=open_forward_to,
)


def _hub(request: Request) -> Hub:
    return request.app.state.hub


def _accounts(request: Request) -> Accounts:
    return _hub(request).handles.get(Accounts)


def _remote(request: Request) -> str | None:
    return client_address(request)  # behind a trusted proxy (setting trusted_proxies): the client's


def calendar_banner(hub: Hub) -> str | None:
    """The banner over every page while deadlines are or will soon be provisional: the same
    rule as GET /api/v1/calendar/status (hub.domain.calendar.CalendarStatus.warning), in Chinese."""
    status = calendar_status(hub.calendars.calendar(), hub.clock.now())
    if status.warning is None:
        return None
    if not status.year_known:
        return (
            f"{status.today.year} 年的工作日历尚未导入：办理时限暂按周一至周五计算（未计法定节假日和调休），"
            "导入后自动重新计算。请管理员用 hotline-hub calendar import 导入国务院办公厅公布的放假安排。"
        )
    return (
        f"{status.next_year} 年的工作日历尚未导入：跨入 {status.next_year} 年的办理时限暂按周一至周五计算"
        "（未计法定节假日和调休），导入后自动重新计算。请管理员用 hotline-hub calendar import 导入国务院办公厅公布的放假安排。"
    )


def render(request: Request, template: str, status: int = 200, session: Session | None = None, **ctx: Any) -> HTMLResponse:
    banner = calendar_banner(_hub(request)) if session is not None else None
    html = _env.get_template(template).render(
        request=request, me=session.operator if session else None, csrf=session.csrf_token if session else "", calendar_banner=banner, **ctx
    )
    # Pages carry personal data: never kept by a shared browser's cache. Only the console's own
    # files load, and no other site may frame a page (a framed form is a click taken from someone).
    return HTMLResponse(
        html,
        status_code=status,
        headers={
            "Cache-Control": "no-store",
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
        },
    )


def _session(request: Request) -> Session | None:
    token = request.cookies.get(COOKIE)
    return _accounts(request).session(token) if token else None


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/console/login?next={quote(target)}", status_code=303)


def _refused(request: Request, session: Session | None, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status, session, status_code=status, message=message)


async def _form(request: Request, session: Session | None) -> dict[str, list[str]] | HTMLResponse:
    """The posted fields, after the CSRF check; a page refusing it otherwise."""
    raw = await request.form()
    data: dict[str, list[str]] = {}
    for key, value in raw.multi_items():
        if not isinstance(value, str) or "\x00" in value or "\x00" in key:
            return _refused(request, session, 400, "表单含有无法保存的字符")
        data.setdefault(key, []).append(value)
    expected = session.csrf_token if session else request.cookies.get(LOGIN_COOKIE, "")
    given = (data.get("csrf") or [""])[0]
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return _refused(request, session, 403, "表单校验失败（缺少或错误的 CSRF 校验码）：请刷新页面后重新提交")
    return data


async def _signed_form(request: Request) -> tuple[Session, dict[str, list[str]]] | Response:
    """A signed-in person's posted fields after the CSRF check, or the page to answer with
    instead (the sign-in page, or the refusal)."""
    session = _session(request)
    if session is None:
        return _to_login(request)
    data = await _form(request, session)
    if isinstance(data, HTMLResponse):
        return data
    return session, data


def _feature_page(request: Request, handle: type[H], disabled: str) -> tuple[Session, H] | Response:
    """A signed-in person and the handle of the feature a page shows, or the page to answer
    with instead: the sign-in page, or a 404 saying `disabled` where the hub runs without that
    feature (the knowledge base, supervision)."""
    session = _session(request)
    if session is None:
        return _to_login(request)
    found = _hub(request).handles.find(handle)
    if found is None:
        return _refused(request, session, 404, disabled)
    return session, found


def _one(data: dict[str, list[str]], name: str) -> str:
    return (data.get(name) or [""])[0].strip()


def _safe_next(target: str | None) -> str:
    return target if target and target.startswith("/console/") and not target.startswith("//") else "/console/"


# -- signing in ------------------------------------------------------------------------------------
@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=303)


@router.get("/console/login")
def login_page(request: Request, next: Annotated[str | None, Query(max_length=500)] = None) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html", next=_safe_next(next), login_csrf=token, error=None)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/console/login")
    return response


@router.post("/console/login")
async def login(request: Request) -> Response:
    data = await _form(request, None)
    if isinstance(data, HTMLResponse):
        return data
    username, password = _one(data, "username"), (data.get("password") or [""])[0]
    result = _accounts(request).sign_in(username, password, _remote(request))
    if isinstance(result, str):
        message = {"locked": "连续输错密码次数过多，账号已暂时锁定，请 15 分钟后再试或联系管理员", "disabled": "账号已停用，请联系管理员"}.get(
            result, "用户名或密码不正确"
        )
        token = secrets.token_urlsafe(32)
        response = render(request, "login.html", 401, next=_safe_next(_one(data, "next")), login_csrf=token, error=message)
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/console/login")
        return response
    token, _ = result
    redirect = RedirectResponse(_safe_next(_one(data, "next")), status_code=303)
    redirect.set_cookie(COOKIE, token, httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/")
    redirect.delete_cookie(LOGIN_COOKIE, path="/console/login")
    return redirect


@router.post("/console/logout")
async def logout(request: Request) -> Response:
    signed = await _signed_form(request)
    if isinstance(signed, Response):
        return signed
    session, data = signed
    _accounts(request).sign_out(request.cookies.get(COOKIE, ""), _remote(request))
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/console/password")
def password_page(request: Request) -> Response:
    session = _session(request)
    if session is None:
        return _to_login(request)
    return render(request, "password.html", session=session, error=None, done=False)


@router.post("/console/password")
async def change_password(request: Request) -> Response:
    signed = await _signed_form(request)
    if isinstance(signed, Response):
        return signed
    session, data = signed
    new, again = (data.get("new") or [""])[0], (data.get("again") or [""])[0]
    try:
        if new != again:
            raise AccountError("两次输入的新密码不一致")
        _accounts(request).change_password(session.operator, (data.get("current") or [""])[0], new, request.cookies.get(COOKIE, ""))
    except AccountError as exc:
        return render(request, "password.html", 422, session, error=str(exc), done=False)
    return render(request, "password.html", session=session, error=None, done=True)


@router.get("/console/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC_FILES:
        return Response("not found", status_code=404)
    return FileResponse(STATIC / name, media_type=STATIC_FILES[name], headers={"Cache-Control": "max-age=3600"})


# -- workbench and queues --------------------------------------------------------------------------
@router.get("/console/")
def workbench(request: Request) -> Response:
    session = _session(request)
    if session is None:
        return _to_login(request)
    hub, actor = _hub(request), session.operator.actor
    counts = []
    for queue in queues_for(actor.role):
        items, more = _queue_cases(hub, queue, actor, COUNT_CAP)
        counts.append((queue, f"{len(items)}+" if more else str(len(items))))
    today = datetime.combine(hub.clock.now().astimezone(LOCAL).date(), time(), LOCAL)
    intake, more = hub.cases.list(CaseQuery(received_from=today, limit=COUNT_CAP), actor)
    requests = len(pending_requests(hub.db, actor, COUNT_CAP + 1)) if actor.role in CENTRE else None
    # Deliveries to the peers: the outbox's figures, for whom the outbox API serves (supervisors).
    outbox = admin.backlog(hub) if actor.role is Role.SUPERVISOR and hub.handles.find(OutboxHandle) is not None else None
    return render(
        request,
        "workbench.html",
        session=session,
        counts=counts,
        today=f"{len(intake)}+" if more else str(len(intake)),
        today_date=today.date().isoformat(),
        requests=None if requests is None else (f"{COUNT_CAP}+" if requests > COUNT_CAP else str(requests)),
        backlog=None if outbox is None else sum(d["backlog"] for d in outbox),
        dead=None if outbox is None else sum(d["dead"] for d in outbox),
    )


@router.get("/console/queues/{queue}")
def queue_page(request: Request, queue: str, cursor: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    session = _session(request)
    if session is None:
        return _to_login(request)
    found = {q.key: q for q in queues_for(session.operator.role)}.get(queue)
    if found is None:
        return _refused(request, session, 404, "没有这个队列")
    if cursor is not None and not _cursor_ok(cursor):
        cursor = None
    items, next_cursor = _queue_cases(_hub(request), found, session.operator.actor, 50, cursor)
    return render(request, "list.html", session=session, title=found.label, items=items, next_cursor=next_cursor, base=f"/console/queues/{queue}?")


def _queue_cases(hub: Hub, queue: Queue, actor: Actor, limit: int, cursor: str | None = None) -> tuple[list[Case], str | None]:
    """A queue's cases: by state and flags through the case list, or a unit's 协办/二次派单 work."""
    if queue.scope is not None:
        return scoped_cases(hub.db, actor, queue.scope, limit, cursor)
    return hub.cases.list(queue_query(queue, limit, cursor, hub.clock.now()), actor)


def _cursor_ok(cursor: str) -> bool:
    try:
        decode_cursor(cursor)
        return True
    except (ValueError, KeyError, TypeError):
        return False


# -- search ----------------------------------------------------------------------------------------
Text = Annotated[str | None, Query(max_length=100)]


@router.get("/console/search")
def search(
    request: Request,
    number: Text = None,
    phone: Text = None,
    q: Text = None,
    state: Text = None,
    unit: Text = None,
    division: Text = None,
    type: Text = None,
    channel: Text = None,
    received_from: Text = None,
    received_to: Text = None,
) -> Response:
    session = _session(request)
    if session is None:
        return _to_login(request)
    hub = _hub(request)
    values = {
        "number": number,
        "phone": phone,
        "q": q,
        "state": state,
        "unit": unit,
        "division": division,
        "type": type,
        "channel": channel,
        "received_from": received_from,
        "received_to": received_to,
    }
    values = {k: (v or "").strip() for k, v in values.items()}
    errors: list[str] = []
    items: list = []
    if values["number"]:
        return RedirectResponse(f"/console/cases/{quote(values['number'])}", status_code=303)
    asked = any(values.values())
    query: dict[str, Any] = {
        "limit": 100,
        "text": values["q"] or None,
        "unit": values["unit"] or None,
        "division": values["division"] or None,
        "request_type": values["type"] or None,
        "channel": values["channel"] or None,
    }
    if values["phone"]:
        try:
            query["phone"] = normalise_phone(values["phone"])
        except ValueError:
            errors.append("电话：不是有效的手机、座机或服务号码")
    if values["state"]:
        if values["state"] in STATE_LABELS:
            query["state"] = [values["state"]]
        else:
            errors.append("状态：没有这个状态")
    if values["channel"] and values["channel"] not in CHANNEL_LABELS:
        errors.append("受理渠道：没有这个渠道")
    if values["type"] and values["type"] not in dict(_types(hub)):
        errors.append("诉求类型：没有这个类型")
    for name, label, offset in (("received_from", "受理日期从", 0), ("received_to", "受理日期至", 1)):
        if text := values[name]:
            try:
                day = date.fromisoformat(text)
                query[name] = datetime.combine(day + timedelta(days=offset), time(), LOCAL)  # "to" includes its day
            except ValueError:
                errors.append(f"{label}：日期格式应为 2026-12-01")
    if asked and not errors:
        items, _ = hub.cases.list(CaseQuery(**query), session.operator.actor)
    return render(
        request,
        "search.html",
        session=session,
        values=values,
        items=items,
        errors=errors,
        asked=asked,
        units=_units(hub),
        divisions=_divisions(hub),
        types=_types(hub),
    )


# -- the case page ---------------------------------------------------------------------------------
def _units(hub: Hub) -> list[tuple[str, str]]:
    return [(u.code, f"{u.name_zh}（{u.code}）") for u in hub.catalogue.units.values() if u.active]


def _categories(hub: Hub) -> list[tuple[str, str]]:
    return [(c.code, f"{c.code} {c.name_zh}") for c in hub.catalogue.categories.values()]


def _divisions(hub: Hub) -> list[tuple[str, str]]:
    return [(d.code, d.name_zh) for d in hub.catalogue.divisions.values()]


def _types(hub: Hub) -> list[tuple[str, str]]:
    return [(t.code.value if hasattr(t.code, "value") else str(t.code), t.name_zh) for t in hub.catalogue.request_types.values()]


def _case_page(
    request: Request,
    session: Session,
    number: str,
    status: int = 200,
    errors: list[str] | None = None,
    conflict: bool = False,
    notices: list[str] | None = None,
) -> HTMLResponse:
    hub, actor = _hub(request), session.operator.actor
    try:
        case = hub.cases.get(number, actor)
    except CaseNotFound:
        return _refused(request, session, 404, f"没有工单 {number}")
    except AccessDenied:
        return _refused(request, session, 403, f"无权查看工单 {number}：它不在您的办理范围内")
    record_read(hub.db, actor, case, "GET /console/cases/{number}", hub.clock.now())  # 保密: audited as through the API
    shown = view_for(actor, case)
    attachments = hub.attachments.list_for(case, actor)
    names = {u.code: u.name_zh for u in hub.catalogue.units.values()}
    category = hub.catalogue.categories.get(case.category_code)
    division = hub.catalogue.divisions.get(case.place.division_code[:6])
    repeat = None
    if actor.role in CENTRE:  # 重复来电: the link names who called again, so it is the centre's (as the API)
        try:
            repeat = hub.cases.repeat_call(number, actor)
        except NoRepeatCall:
            pass
    action_forms = forms.forms_for(case, actor.role, _units(hub), _categories(hub), actor.unit_code, _divisions(hub))
    return render(
        request,
        "case.html",
        status,
        session,
        case=shown,
        forms=action_forms,
        repeat=repeat,
        may_merge=any(f.action == "merge" for f in action_forms),
        errors=errors or [],
        conflict=conflict,
        unit_names=names,
        notices=notices or [],
        can_reissue=_reissues(hub, actor.role),
        attachments=attachments,
        may_attach=may_attach(hub, case, actor),
        category=category.name_zh if category else case.category_code,
        division=division.name_zh if division else case.place.division_code,
        now=hub.clock.now(),
    )


def may_attach(hub: Hub, case: Any, actor: Any) -> bool:
    """Whether to offer the upload form: the engine's own rule, tried on the case as read (the
    upload itself is decided again when it is made)."""
    try:
        hub.cases.engine().attach(case, {"id": "probe", "media_type": "", "size": 0, "visibility": "internal"}, actor, hub.clock.now())
    except DomainError:
        return False
    return True


@router.get("/console/cases/{number}")
def case_page(request: Request, number: str) -> Response:
    session = _session(request)
    if session is None:
        return _to_login(request)
    return _case_page(request, session, number)


@router.post("/console/cases/{number}/actions")
async def act(request: Request, number: str) -> Response:
    signed = await _signed_form(request)
    if isinstance(signed, Response):
        return signed
    session, data = signed
    hub, actor = _hub(request), session.operator.actor
    try:
        version = int(_one(data, "version"))
    except ValueError:
        return _case_page(request, session, number, 422, ["表单缺少工单版本，请刷新页面"])
    try:
        place = None
        if any(_one(data, name) for name in forms.PLACE_INPUTS):  # 改单's place amends the case's own
            place = hub.cases.get(number, actor).place.model_dump(mode="json")
        command = forms.command_from_form(_one(data, "action"), data, place)
        hub.cases.act(number, command, actor, version)
    except ValidationError as exc:
        return _case_page(request, session, number, 422, forms.errors_of(exc))
    except StaleCase:
        return _case_page(request, session, number, 409, conflict=True)
    except CaseNotFound:
        return _refused(request, session, 404, f"没有工单 {number}")
    except AccessDenied as exc:
        return _refused(request, session, 403, f"无权办理工单 {number}：{exc}")
    except (DomainError, UnknownCode, ContentTooLarge) as exc:
        return _case_page(request, session, number, 409, [str(exc)])
    return RedirectResponse(f"/console/cases/{quote(number)}", status_code=303)


def _reissues(hub: Hub, role: Role) -> bool:
    """The centre may send a citizen a new retrieval code, where the channels feature is installed."""
    return role in (Role.AGENT, Role.SUPERVISOR) and hub.handles.find(ChannelService) is not None


@router.post("/console/cases/{number}/retrieval-code")
async def reissue_code(request: Request, number: str) -> Response:
    """补发提取码: a new code by SMS to the case's mobile, as POST /api/v1/cases/{number}/retrieval-code;
    the agent never sees it."""
    signed = await _signed_form(request)
    if isinstance(signed, Response):
        return signed
    session, _ = signed
    hub, actor = _hub(request), session.operator.actor
    if not _reissues(hub, actor.role):
        return _refused(request, session, 403, "只有12345中心可以补发提取码")
    try:
        sent_to = hub.handles.get(ChannelService).reissue_for_centre(number, actor)
    except CaseNotFound:
        return _refused(request, session, 404, f"没有工单 {number}")
    except DomainError as exc:
        return _case_page(
            request,
            session,
            number,
            409,
            ["无法补发提取码：没有可接收短信的手机号（座机、匿名、其他系统转来的工单）或未配置短信通道；原提取码仍然有效。", str(exc)],
        )
    return _case_page(request, session, number, notices=[f"新的提取码已以短信发送至 {sent_to}，原提取码已失效。"])


# -- attachments (附件) ------------------------------------------------------------------------------
@router.post("/console/cases/{number}/attachments")
async def attach(request: Request, number: str) -> Response:
    """The upload form (multipart): the same service and rules as the API's upload."""
    session = _session(request)
    if session is None:
        return _to_login(request)
    raw = await request.form()
    given = raw.get("csrf")
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(), session.csrf_token.encode()):
        return _refused(request, session, 403, "表单校验失败（缺少或错误的 CSRF 校验码）：请刷新页面后重新提交")
    upload, visibility = raw.get("file"), raw.get("visibility") or "internal"
    if not isinstance(upload, StarletteUpload) or not upload.filename:
        return _case_page(request, session, number, 422, ["请选择要上传的文件"])
    hub = _hub(request)
    try:
        hub.attachments.add(number, upload.file, upload.filename, str(visibility), session.operator.actor)
    except CaseNotFound:
        return _refused(request, session, 404, f"没有工单 {number}")
    except AccessDenied as exc:
        return _refused(request, session, 403, f"无权为工单 {number} 添加附件：{exc}")
    except AttachmentTooLarge:
        return _case_page(request, session, number, 413, [f"文件过大：最大 {hub.settings.attachments.max_bytes // (1024 * 1024)} MB"])
    except UnsupportedAttachment:
        return _case_page(request, session, number, 415, ["文件类型不支持：仅限 JPEG、PNG、PDF、WebP、HEIC（按文件内容识别）"])
    except AttachmentRefused as exc:
        return _case_page(request, session, number, 422, [f"附件未保存：{exc.reason}"])
    except StoreUnavailable:
        return _case_page(request, session, number, 503, ["附件存储暂时不可用，文件未保存，请稍后重试"])
    except DomainError as exc:
        return _case_page(request, session, number, 409, [f"附件未保存：{exc}"])
    return RedirectResponse(f"/console/cases/{quote(number)}", status_code=303)


@router.get("/console/cases/{number}/attachments/{attachment_id}")
def download(request: Request, number: str, attachment_id: str) -> Response:
    session = _session(request)
    if session is None:
        return _to_login(request)
    hub, actor = _hub(request), session.operator.actor
    try:
        attachment, case = hub.attachments.for_actor(number, attachment_id, actor)
    except (CaseNotFound, AttachmentNotFound):
        return _refused(request, session, 404, f"工单 {number} 没有这个附件")
    except AccessDenied:
        return _refused(request, session, 403, f"无权查看工单 {number}：它不在您的办理范围内")
    record_read(hub.db, actor, case, "GET /console/cases/{number}/attachments/{attachment_id}", hub.clock.now())
    try:
        return file_response(hub.attachments, attachment)
    except AttachmentFileMissing:
        return _refused(request, session, 503, "附件文件暂时无法读取（存储目录中缺少该文件），请联系系统管理员")
    except StoreUnavailable:
        return _refused(request, session, 503, "附件存储暂时不可用，请稍后重试")
