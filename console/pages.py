"""What the pages show: queues per role, state names, local times, the requests to decide. No HTTP here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, or_, select

from hub.db.database import Database
from hub.db.models import CaseRow, CaseUnitRow, HistoryRow
from hub.db.repository import CaseQuery, CaseRepository, decode_cursor, encode_cursor
from hub.domain.access import Actor
from hub.domain.lifecycle import PART_STATES
from hub.domain.model import Case, CaseState, Forward, Handling, Part, Role

LOCAL = ZoneInfo("Asia/Shanghai")

STATE_LABELS = {
    "registered": "已登记",
    "accepted": "已受理",
    "rejected": "不予受理",
    "transferred": "已转紧急热线",
    "awaiting_sign_off": "待签收",
    "in_progress": "办理中",
    "return_requested": "退回申请",
    "returned": "已退回待改派",
    "replied": "已答复待审核",
    "awaiting_follow_up": "待回访",
    "redo_required": "待重办",
    "closed": "已办结",
    "archived": "已归档",
    "merged": "已并单",
}
ROLE_LABELS = {"agent": "话务员", "supervisor": "班长", "unit": "承办单位", "county": "区县", "province": "省平台", "system": "系统"}
CHANNEL_LABELS = {
    "phone": "电话",
    "web": "网站",
    "wechat": "微信",
    "weibo": "微博",
    "app": "App",
    "province": "省转办",
    "county": "区县上报",
    "legacy": "部门热线",
    "other": "其他",
}


@dataclass(frozen=True)
class Queue:
    key: str
    label: str
    states: tuple[str, ...] = ()
    overdue: bool | None = None
    warning: bool | None = None  # 预警 or overdue, running cases only (CaseQuery.warning)
    # A unit's own work beside the state: "parts" (协办, its part open) or "forwarded" (二次派单
    # to it, open); read from the case's parts and cascade (scoped_cases), not from CaseQuery.
    scope: str | None = None
    # Due within this time from now and not yet past it (CaseQuery.due_before, overdue=False).
    due_within: timedelta | None = None


CENTRE_QUEUES = (
    Queue("to_accept", "待受理", ("registered",)),
    Queue("to_dispatch", "待派单", ("accepted",)),
    Queue("returns", "退回申请待审批", ("return_requested",)),
    Queue("returned", "已退回待改派", ("returned",)),
    Queue("to_review", "答复待审核", ("replied",)),
    Queue("follow_ups", "待回访", ("awaiting_follow_up",)),
    Queue("redo", "待重办", ("redo_required",)),
    Queue("overdue", "超期", overdue=True),
    Queue("warnings", "预警与超期", warning=True),
)
HANDLER_QUEUES = (
    Queue("to_sign_off", "待签收", ("awaiting_sign_off",)),
    Queue("in_progress", "办理中", ("in_progress",)),
    # 即将到期: the unit's running cases due within three days, before the deadline passes (超期
    # has its own queue; 预警 comes from the scheduler at a share of the time limit instead).
    Queue("due_soon", "三日内到期", ("awaiting_sign_off", "in_progress", "return_requested"), overdue=False, due_within=timedelta(days=3)),
    Queue("returns", "退回申请中", ("return_requested",)),
    Queue("overdue", "超期", overdue=True),
    Queue("warnings", "预警与超期", warning=True),
)


# A unit's key also works on cases it does not lead: its 协办 part, and what a county-level
# lead dispatched on to it as a township unit.
UNIT_QUEUES = (
    *HANDLER_QUEUES,
    Queue("parts", "协办待办", scope="parts"),
    Queue("forwarded", "二次派单待办", scope="forwarded"),
)


def queues_for(role: Role) -> tuple[Queue, ...]:
    if role in (Role.AGENT, Role.SUPERVISOR):
        return CENTRE_QUEUES
    return UNIT_QUEUES if role is Role.UNIT else HANDLER_QUEUES


def queue_query(queue: Queue, limit: int, cursor: str | None = None, now: datetime | None = None) -> CaseQuery:
    due_before = now + queue.due_within if queue.due_within is not None and now is not None else None
    return CaseQuery(state=list(queue.states) or None, overdue=queue.overdue, warning=queue.warning, due_before=due_before, limit=limit, cursor=cursor)


def open_part(case: Case, unit_code: str | None) -> Part | None:
    """The unit's 协办 part of the case while it is still to sign off or reply (the engine's
    rule: parts run while the case is with the units), else None. A case dispatched before
    parts were kept has none stored: its part runs on the case's deadlines, as the engine does."""
    h = case.handling
    if unit_code is None or unit_code == h.lead_unit or unit_code not in h.co_units or case.state not in PART_STATES:
        return None
    part = h.part(unit_code) or Part(unit_code=unit_code, sign_off_due=h.sign_off_due, due_at=h.due_at)
    return None if part.done else part


def open_forward_to(case: Case, unit_code: str | None) -> Forward | None:
    """The open 二次派单 of the case to this township unit, else None."""
    forward = case.handling.open_forward
    if unit_code is None or forward is None or forward.unit_code != unit_code or case.state is not CaseState.IN_PROGRESS:
        return None
    return forward


def scoped_cases(db: Database, actor: Actor, scope: str, limit: int, cursor: str | None = None) -> tuple[list[Case], str | None]:
    """A unit's 协办待办 (scope "parts": cases where it is a co-unit with its part open) or
    二次派单待办 ("forwarded": cases dispatched on to it and not yet replied or returned up),
    newest first, among the cases it may see; paged by the same cursor as the case lists."""
    role = "co" if scope == "parts" else "township"
    states = [s.value for s in PART_STATES] if scope == "parts" else [CaseState.IN_PROGRESS.value]
    unit = actor.unit_code or "-"
    with db.read() as s:
        stmt = select(CaseRow.id, CaseRow.number, CaseRow.doc).where(
            CaseRow.state.in_(states),
            exists().where(CaseUnitRow.case_id == CaseRow.id, CaseUnitRow.unit_code == unit, CaseUnitRow.role == role),
            *CaseRepository(s).visibility(actor),
        )
        if cursor:
            stmt = stmt.where(CaseRow.id < decode_cursor(cursor))
        found: list[tuple[int, str]] = []
        for row_id, number, doc in s.execute(stmt.order_by(CaseRow.id.desc())):
            h = Handling.model_validate(doc.get("handling") or {})
            if scope == "parts":
                part = h.part(unit)
                keep = unit in h.co_units and (part is None or not part.done)
            else:
                keep = h.open_forward is not None and h.open_forward.unit_code == unit
            if keep:
                found.append((row_id, number))
                if len(found) > limit:
                    break
        repo = CaseRepository(s)
        cases = [repo.get(number, with_history=False) for _, number in found[:limit]]
    return cases, encode_cursor(found[limit - 1][0]) if len(found) > limit else None


def local(at: datetime | None) -> str:
    return at.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M") if at else ""


# -- requests to decide (延期与退回申请) ---------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    """A unit's request awaiting the centre: a return (the case waits in return_requested) or an
    extension (pending beside in_progress)."""

    number: str
    title: str
    kind: str  # return, extension
    unit: str | None
    requested_at: datetime
    requested_by: str
    reason: str
    working_days: int | None
    due_at: datetime | None


def pending_requests(db: Database, actor: Actor, limit: int = 200) -> list[Request]:
    """Returns and extensions awaiting a decision, oldest request first, among the cases the
    actor may see (the API's visibility rule, CaseRepository.visibility)."""
    asked_extension = exists().where(HistoryRow.case_id == CaseRow.id, HistoryRow.action == "request_extension")
    out = []
    with db.read() as s:
        stmt = (
            select(CaseRow.doc)
            .where(or_(CaseRow.state == "return_requested", and_(CaseRow.state == "in_progress", asked_extension)), *CaseRepository(s).visibility(actor))
            .order_by(CaseRow.id)
        )
        for (doc,) in s.execute(stmt):
            handling = doc.get("handling") or {}
            due = datetime.fromisoformat(handling["due_at"]) if handling.get("due_at") else None
            if doc["state"] == "return_requested" and handling.get("returns"):
                r = handling["returns"][-1]
                out.append(
                    Request(
                        doc["number"],
                        doc.get("title", ""),
                        "return",
                        r.get("unit_code") or handling.get("lead_unit"),
                        datetime.fromisoformat(r["requested_at"]),
                        r["requested_by"],
                        r.get("reason", ""),
                        None,
                        due,
                    )
                )
            for e in handling.get("extensions") or []:
                if e.get("approved") is None and doc["state"] == "in_progress":
                    out.append(
                        Request(
                            doc["number"],
                            doc.get("title", ""),
                            "extension",
                            handling.get("lead_unit"),
                            datetime.fromisoformat(e["requested_at"]),
                            e["requested_by"],
                            e.get("reason", ""),
                            e.get("working_days"),
                            due,
                        )
                    )
    out.sort(key=lambda r: r.requested_at)
    return out[:limit]
