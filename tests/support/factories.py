"""Valid inputs to start from; tests change one thing at a time."""

from __future__ import annotations

import copy
from typing import Any

BASE_DRAFT: dict[str, Any] = {
    "intake": {"channel": "phone", "received_at": "2025-09-26T09:58:00+08:00", "agent": "A017", "call_id": "CALL-1"},
    "person": {"name": "张三", "phone": "13800138000", "kind": "person"},
    "request_type": "complaint",
    "category_code": "0101",
    "title": "小区噪音扰民",
    "content": "雁江区某小区夜间施工噪音扰民，持续一周，请求处理。",
    "place": {"address": "雁江区建设路12号", "division_code": "512002"},
    "urgency": "normal",
}


def draft(**changes: Any) -> dict[str, Any]:
    """BASE_DRAFT with top-level keys replaced; dotted keys ('place.division_code') go deeper."""
    body = copy.deepcopy(BASE_DRAFT)
    for key, value in changes.items():
        target = body
        parts = key.split("__") if "__" in key else key.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return body
