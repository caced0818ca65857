"""Bounds every request value has before it reaches a database, and the guard that refuses
what no operation declares.

SQLite stores signed 64-bit integers and PostgreSQL refuses NUL characters in text: a value
past either reaches the driver and comes back as a 500. So every integer a client sends is
bounded in its schema (the types below), and a NUL anywhere in a query, path or JSON body is
refused with 422 naming where it was.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from annotated_types import Ge, Le
from fastapi import Request
from fastapi.exceptions import RequestValidationError

INT64_MAX = 2**63 - 1  # SQLite's INTEGER and PostgreSQL's BIGINT
INT32_MAX = 2**31 - 1  # PostgreSQL's INTEGER (versions)

# Shared bounded integers: use them (or give explicit bounds) for every integer a client sends.
RowId = Annotated[int, Ge(1), Le(INT64_MAX)]  # a row's id, as a list gave it
AfterId = Annotated[int, Ge(0), Le(INT64_MAX)]  # page on after this id (0: from the start)
Offset = Annotated[int, Ge(0), Le(INT64_MAX)]
Version = Annotated[int, Ge(1), Le(INT32_MAX)]  # a record's version (1, 2, ...)


def _declared_query(request: Request) -> frozenset[str] | None:
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    names = getattr(route, "_declared_query_names", None)
    if names is None:
        names = frozenset(_query_aliases(dependant))
        route._declared_query_names = names  # type: ignore[union-attr]
    return names


def _query_aliases(dependant: Any) -> list[str]:
    names = [p.alias for p in dependant.query_params]
    for sub in dependant.dependencies:
        names.extend(_query_aliases(sub))
    return names


def _nul_path(value: Any, where: tuple[Any, ...]) -> tuple[Any, ...] | None:
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, dict):
        for k, v in value.items():
            found = _nul_path(k, (*where, k)) or _nul_path(v, (*where, k))
            if found:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = _nul_path(v, (*where, i))
            if found:
                return found
    return None


async def refuse_unknown_input(request: Request) -> None:
    """App-wide dependency: a query parameter the operation does not declare is refused
    (an operator must never believe a list is filtered when it is not), and so is a NUL
    character in a query value, a path value or a JSON body."""
    declared = _declared_query(request)
    errors: list[dict[str, Any]] = []
    if declared is not None:
        for name in dict.fromkeys(request.query_params.keys()):
            if name not in declared:
                known = ", ".join(sorted(declared)) or "none"
                errors.append({"loc": ("query", name), "type": "value_error", "msg": f"unknown query parameter (this operation takes: {known})"})
    for name, value in request.query_params.multi_items():
        if "\x00" in value:
            errors.append({"loc": ("query", name), "msg": "contains a NUL character", "type": "value_error"})
    for name, value in request.path_params.items():
        if isinstance(value, str) and "\x00" in value:
            errors.append({"loc": ("path", name), "msg": "contains a NUL character", "type": "value_error"})
    if not errors and request.method in ("POST", "PUT", "PATCH"):
        errors.extend(await _body_nul(request))
    if errors:
        raise RequestValidationError(errors)


async def _body_nul(request: Request) -> list[dict[str, Any]]:
    if "json" not in request.headers.get("content-type", "").lower():
        return []
    raw = await request.body()  # cached on the request: the operation reads the same bytes
    if b"\\u0000" not in raw and b"\x00" not in raw:
        return []  # the cheap test first: intake is the hot path
    if b"\x00" in raw:
        return [{"loc": ("body",), "msg": "contains a NUL byte", "type": "value_error"}]
    try:
        found = _nul_path(json.loads(raw), ("body",))
    except (UnicodeDecodeError, ValueError):
        return []  # not JSON: the operation refuses it with its own reason
    return [{"loc": found, "msg": "contains a NUL character", "type": "value_error"}] if found else []
