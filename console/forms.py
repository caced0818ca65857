"""Action forms, generated: which actions from the lifecycle table (`allowed_actions` for this
person's role in this state), which fields from the action's command model
(hub/domain/commands.py). Neither list is copied here: a new row or field shows up by itself.
Only the Chinese labels live here.

A submitted form is turned back into the command and validated by the same pydantic model
the API validates (`Command`), so the console cannot accept what the API refuses.
"""

from __future__ import annotations

import enum
import types
import typing
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Union
from zoneinfo import ZoneInfo

from pydantic import BaseModel, TypeAdapter, ValidationError

from console.pages import open_part
from hub.domain.commands import Command
from hub.domain.lifecycle import allowed_actions
from hub.domain.model import Case, Role

LOCAL = ZoneInfo("Asia/Shanghai")
COMMAND = TypeAdapter(Command)
# action name -> command model, read from the union the API validates with.
MODELS: dict[str, type[BaseModel]] = {m.model_fields["action"].default: m for m in typing.get_args(typing.get_args(Command)[0])}

ACTION_LABELS = {
    "accept": "受理",
    "answer_directly": "直接答复",
    "reject": "不予受理",
    "transfer_emergency": "转紧急热线",
    "dispatch": "派单",
    "sign_off": "签收",
    "request_return": "申请退回",
    "decide_return": "审批退回",
    "redispatch": "改派",
    "request_extension": "申请延期",
    "decide_extension": "审批延期",
    "report_progress": "报告进展",
    "reply": "答复",
    "review_reply": "审核答复",
    "follow_up": "回访",
    "redo": "重办",
    "close": "办结",
    "archive": "归档",
    "merge": "并单",
    "supervise": "督办",
    "chase": "催办",
    "correct": "改单",
    "clear_supervision": "解除督办",
    "request_unreasonable": "申请不合理诉求",
    "decide_unreasonable": "认定不合理诉求",
    "appeal_assessment": "考核申诉",
    "decide_appeal": "审核考核申诉",
    "attach": "添加附件",  # not a lifecycle action (Engine.attach): a history line only, no form here
    "sign_off_part": "协办签收",
    "reply_part": "协办答复",
    "waive_part": "免除协办",
    "forward": "二次派单",
    "sign_off_forward": "乡镇签收",
    "reply_forward": "乡镇答复",
    "return_forward": "乡镇退回",
    "request_forward_extension": "乡镇申请延期",
    "decide_forward_extension": "审批乡镇延期",
}
FIELD_LABELS = {
    "note": "备注",
    "answer": "答复内容",
    "articles": "引用知识（id@版本，逗号分隔）",
    "reason_code": "原因类别",
    "reason": "理由",
    "line": "紧急热线",
    "lead_unit": "主办单位",
    "co_units": "协办单位",
    "approved": "是否同意",
    "working_days": "工作日数",
    "text": "内容",
    "reached": "是否联系上",
    "resolved": "是否解决",
    "satisfaction": "满意度",
    "into": "并入工单号",
    "response_due": "回复期限",
    "request_type": "诉求类型",
    "category_code": "诉求分类",
    "urgency": "紧急程度",
    "title": "标题",
    "content": "诉求内容",
    "deadline": "时限",
    "grounds": "申诉事项",
    "upheld": "申诉是否成立",
    "unit": "协办单位或乡镇",
    "due_at": "办理时限",
}
VALUE_LABELS = {
    "true": "是",
    "false": "否",
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "unsatisfied": "不满意",
    "enquiry": "咨询",
    "help": "求助",
    "complaint": "投诉",
    "report": "举报",
    "suggestion": "建议",
    "praise": "表扬",
    "other": "其他",
    "normal": "一般",
    "urgent": "紧急",
    "critical": "特急",
    "litigation": "诉讼",
    "arbitration": "仲裁",
    "discipline": "纪检监察",
    "reconsideration": "行政复议",
    "petition": "已进入信访程序",
    "secret": "涉密",
    "privacy": "个人隐私",
    "overdue": "超期",
    "110": "110 报警",
    "119": "119 火警",
    "120": "120 急救",
    "122": "122 交通事故",
}
PART_STATE_LABELS = {"awaiting_sign_off": "待签收", "in_progress": "办理中", "replied": "已答复", "waived": "已免除"}
FORWARD_STATE_LABELS = {"awaiting_sign_off": "待签收", "in_progress": "办理中", "replied": "已答复上报", "returned": "已退回区县"}
# Fields a form does not carry as such: `place` (改单) is two inputs, PLACE_INPUTS.
NOT_IN_FORMS = {"action"}
# A correction's place at the console: the division and the address. The command takes the
# whole place; the form's values replace the case's own, and a position (longitude, latitude)
# is not kept, since it was taken for the place being corrected (the API may send a new one).
PLACE_INPUTS = {"place.division_code": "地点区划", "place.address": "详细地址（更正地点时原经纬度不保留）"}


@dataclass
class Input:
    name: str
    label: str
    kind: str  # text, textarea, number, select, multiselect, datetime, list
    required: bool
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, label)
    min: int | None = None
    max: int | None = None


@dataclass
class ActionForm:
    action: str
    label: str
    inputs: list[Input]


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner type, optional?) of X | None and Annotated[X, ...]."""
    optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            optional = optional or len(args) < len(typing.get_args(annotation))
            annotation = args[0]
        else:
            return annotation, optional


def _bounds(info: Any) -> tuple[int | None, int | None]:
    lo = hi = None
    for m in info.metadata:
        lo = getattr(m, "ge", lo)
        hi = getattr(m, "le", hi)
    return lo, hi


def inputs_of(
    model: type[BaseModel], units: list[tuple[str, str]], categories: list[tuple[str, str]], divisions: list[tuple[str, str]] | None = None
) -> list[Input]:
    out = []
    for name, info in model.model_fields.items():
        if name in NOT_IN_FORMS:
            continue
        if name == "place":
            out.append(Input("place.division_code", PLACE_INPUTS["place.division_code"], "select", False, [("", "（不改）")] + (divisions or [])))
            out.append(Input("place.address", PLACE_INPUTS["place.address"], "text", False))
            continue
        kind_type, optional = _unwrap(info.annotation)
        required = info.is_required()
        label = FIELD_LABELS.get(name, name)
        if name == "lead_unit":
            out.append(Input(name, label, "select", required, units))
        elif name == "unit":  # 协办: the co-unit whose part; a unit's own key may leave it out
            out.append(Input(name, label, "select", required, units if required else [("", "（本单位）")] + units))
        elif name == "co_units":
            out.append(Input(name, label, "multiselect", False, units))
        elif name == "category_code":
            out.append(Input(name, label, "select", required, [("", "（不改）")] + categories if not required else categories))
        elif kind_type is bool:
            opts = [("true", "是"), ("false", "否")]
            out.append(Input(name, label, "select", required, opts if required else [("", "（不填）")] + opts))
        elif isinstance(kind_type, type) and issubclass(kind_type, enum.Enum):
            opts = [(str(e.value), VALUE_LABELS.get(str(e.value), str(e.value))) for e in kind_type]
            out.append(Input(name, label, "select", required, opts if required else [("", "（不填）")] + opts))
        elif kind_type is int:
            lo, hi = _bounds(info)
            out.append(Input(name, label, "number", required, min=lo, max=hi))
        elif kind_type is datetime:
            out.append(Input(name, label, "datetime", required))
        elif typing.get_origin(kind_type) is list:
            out.append(Input(name, label, "list", required))
        else:
            out.append(Input(name, label, "textarea" if name in ("text", "answer", "content", "reason", "note") else "text", required))
    return out


# 协办: a unit's key acts on the case as its lead or on its own part as a co-unit, never both.
PART_ACTIONS = frozenset({"sign_off_part", "reply_part"})
CO_UNIT_ACTIONS = PART_ACTIONS | {"report_progress"}
# 二次派单: the township holding the case acts on what was dispatched on to it, not as the lead.
TOWNSHIP_ACTIONS = frozenset({"sign_off_forward", "reply_forward", "return_forward", "request_forward_extension"})


def forms_for(
    case: Case,
    role: Role,
    units: list[tuple[str, str]],
    categories: list[tuple[str, str]],
    unit_code: str | None = None,
    divisions: list[tuple[str, str]] | None = None,
) -> list[ActionForm]:
    """The actions the lifecycle table allows this role in the case's state, each as a form;
    a unit sees the lead's actions or, as a co-unit, those of its part (the engine's rule).
    Part actions are offered only where a part is open, as the engine would otherwise refuse
    them: a co-unit signs off an unsigned part and replies a signed one; the centre waives an
    open part, choosing among those only."""
    allowed = [a for a in allowed_actions(case.state, role) if a in MODELS]
    if role is Role.UNIT and unit_code is not None:
        h = case.handling
        if unit_code != h.lead_unit and unit_code == h.holder:
            allowed = [a for a in allowed if a in TOWNSHIP_ACTIONS | {"report_progress"}]
        elif unit_code in h.co_units:
            part = open_part(case, unit_code)
            done = PART_ACTIONS if part is None else {"sign_off_part"} if part.signed_at is not None else {"reply_part"}
            allowed = [a for a in allowed if a in CO_UNIT_ACTIONS - done]
        else:
            allowed = [a for a in allowed if a not in PART_ACTIONS | TOWNSHIP_ACTIONS]
    waivable = {u for u in case.handling.co_units if open_part(case, u) is not None}
    out = []
    for a in allowed:
        inputs = inputs_of(MODELS[a], units, categories, divisions)
        if a == "waive_part":
            if not waivable:
                continue
            labels = dict(units)
            inputs = [replace(i, options=[(u, labels.get(u, u)) for u in case.handling.co_units if u in waivable]) if i.name == "unit" else i for i in inputs]
        out.append(ActionForm(a, ACTION_LABELS.get(a, a), inputs))
    return out


def command_from_form(action: str, form: dict[str, list[str]], place: dict[str, Any] | None = None) -> Any:
    """The command from the posted fields; raises ValidationError (the API's own messages).
    `place` is the case's place as it stands, which a corrected division or address amends."""
    model = MODELS.get(action)
    if model is None:
        return COMMAND.validate_python({"action": action})  # refused by the union, naming the action
    data: dict[str, Any] = {"action": action}
    for inp in inputs_of(model, [], []):
        values = [v for v in form.get(inp.name, []) if v.strip()]
        if not values:
            continue
        if inp.name in PLACE_INPUTS:
            current = {k: v for k, v in (place or {}).items() if k in ("division_code", "address")}
            data["place"] = {**current, **data.get("place", {}), inp.name.split(".", 1)[1]: values[0].strip()}
        elif inp.kind == "multiselect":
            data[inp.name] = values
        elif inp.kind == "list":
            data[inp.name] = [p.strip() for p in values[0].replace("，", ",").split(",") if p.strip()]
        elif inp.kind == "datetime":
            data[inp.name] = _local(values[0])
        else:
            data[inp.name] = values[0]
    return COMMAND.validate_python(data)


def _local(value: str) -> str:
    """A datetime-local input has no zone: it is Beijing time, as the people filling it in mean."""
    try:
        return datetime.fromisoformat(value).replace(tzinfo=LOCAL).isoformat()
    except ValueError:
        return value  # the model refuses it, naming the field


def errors_of(exc: ValidationError) -> list[str]:
    out = []
    for e in exc.errors():
        loc = [str(p) for p in e["loc"] if str(p) not in MODELS]
        name = loc[-1] if loc else ""
        label = PLACE_INPUTS.get(".".join(loc[-2:]), "") if len(loc) >= 2 and loc[-2] == "place" else ""
        out.append(f"{label or FIELD_LABELS.get(name, name) or '表单'}：{e['msg']}")
    return out
