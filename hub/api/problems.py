"""RFC 9457 problem details for every refusal. A 500 here is a bug, logged with its trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.db.outage import classify
from hub.domain.calendar import CalendarUnknown
from hub.domain.errors import AccessDenied, ActionNotAllowed, CaseNotFound, RuleViolation, StaleCase
from hub.mappings import UnknownCode
from hub.service import ContentTooLarge, IdempotencyConflict

log = logging.getLogger("hub.api")

PROBLEM_BASE = "https://12345-hub.example/problems/"
MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    field: str
    reason: str


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] = Field(default_factory=list)
    state: str | None = None
    allowed_actions: list[str] | None = None
    valid_codes_at: str | None = None


def problem(status: int, slug: str, title: str, detail: str | None = None, request: Request | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if request is not None:
        body["instance"] = request.url.path
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _loc(loc: tuple[Any, ...]) -> str:
    # Drop the discriminator tag pydantic puts in union locations ("body.dispatch.lead_unit").
    parts = [str(p) for p in loc]
    return ".".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _loc(e["loc"]), "reason": e["msg"]} for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors[:5])
        return problem(422, "validation", "The request is not valid", detail, request, errors=errors)

    @app.exception_handler(UnknownCode)
    async def _unknown_code(request: Request, exc: UnknownCode) -> JSONResponse:
        return problem(422, "unknown-code", "Unknown code", str(exc), request,
                       errors=[{"field": exc.field, "reason": f"unknown code {exc.code!r}"}], valid_codes_at=exc.valid_codes_at)

    @app.exception_handler(ContentTooLarge)
    async def _too_large(request: Request, exc: ContentTooLarge) -> JSONResponse:
        return problem(413, "content-too-large", "Content too large", str(exc), request,
                       errors=[{"field": "body.content", "reason": f"more than {exc.limit} characters"}])

    @app.exception_handler(IdempotencyConflict)
    async def _idem(request: Request, exc: IdempotencyConflict) -> JSONResponse:
        return problem(422, "idempotency-key-reused", "Idempotency-Key reused with a different body", str(exc), request,
                       errors=[{"field": "header.Idempotency-Key", "reason": "already used for a different request"}])

    @app.exception_handler(ActionNotAllowed)
    async def _not_allowed(request: Request, exc: ActionNotAllowed) -> JSONResponse:
        return problem(409, "action-not-allowed", "Action not allowed", str(exc), request,
                       state=exc.state, allowed_actions=exc.allowed)

    @app.exception_handler(StaleCase)
    async def _stale(request: Request, exc: StaleCase) -> JSONResponse:
        return problem(409, "stale-case", "The case changed since it was read", str(exc), request)

    @app.exception_handler(CalendarUnknown)
    async def _calendar(request: Request, exc: CalendarUnknown) -> JSONResponse:
        return problem(409, "calendar-unknown", "The working-day calendar does not cover this date", str(exc), request)

    @app.exception_handler(RuleViolation)
    async def _rule(request: Request, exc: RuleViolation) -> JSONResponse:
        return problem(409, "rule-violation", "Refused by the case rules", str(exc), request)

    @app.exception_handler(CaseNotFound)
    async def _not_found(request: Request, exc: CaseNotFound) -> JSONResponse:
        return problem(404, "case-not-found", "No such case", str(exc), request)

    @app.exception_handler(AccessDenied)
    async def _denied(request: Request, exc: AccessDenied) -> JSONResponse:
        return problem(403, "forbidden", "Not allowed for this party", str(exc), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
                413: "content-too-large", 415: "unsupported-media-type"}.get(exc.status_code, "http-error")
        return problem(exc.status_code, slug, str(exc.detail) if exc.status_code != 404 else "Not found",
                       str(exc.detail), request, headers=getattr(exc, "headers", None))

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(OSError)
    async def _outage(request: Request, exc: Exception) -> JSONResponse:
        # The database cannot serve now (unreachable, connection lost, disk full, read-only):
        # the request may succeed later, so 503 with Retry-After; any other error is a bug.
        outage = classify(exc)
        if outage is None:
            return await _bug(request, exc)
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, outage.reason)
        return problem(503, "database-unavailable", "The database is unavailable", f"{outage.reason}; try again later",
                       request, headers={"Retry-After": str(outage.retry_after)})

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem(500, "internal", "Internal error", "the hub failed; the error is logged", request)
