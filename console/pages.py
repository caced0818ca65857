"""What the pages show: queues per role, state names, local times, the requests to decide. No HTTP here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, or_, select

from hub.db.database import Database
from hub.db.models import CaseRow, HistoryRow
from hub.db.repository import CaseQuery, CaseRepository
from hub.domain.access import Actor
from hub.domain.model import Role

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
    Queue("returns", "退回申请中", ("return_requested",)),
    Queue("overdue", "超期", overdue=True),
    Queue("warnings", "预警与超期", warning=True),
)


def queues_for(role: Role) -> tuple[Queue, ...]:
    return CENTRE_QUEUES if role in (Role.AGENT, Role.SUPERVISOR) else HANDLER_QUEUES


def queue_query(queue: Queue, limit: int, cursor: str | None = None) -> CaseQuery:
    return CaseQuery(state=list(queue.states) or None, overdue=queue.overdue, warning=queue.warning, limit=limit, cursor=cursor)


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
