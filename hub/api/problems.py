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

from hub.attachment_store import StoreUnavailable
from hub.attachments import AttachmentFileMissing, AttachmentNotFound, AttachmentRefused
from hub.db.outage import classify
from hub.domain.errors import AccessDenied, ActionNotAllowed, CaseNotFound, RuleViolation, StaleCase
from hub.mappings import UnknownCode
from hub.service import ContentTooLarge, IdempotencyConflict

log = logging.getLogger("hub.api")

PROBLEM_BASE = "https://12345-hub.example/problems/"
MEDIA_TYPE = "application/problem+json"
_UNREADABLE_BODY = "There was an error parsing the body"


class FieldError(BaseModel):
    field: str
    reason: str


class Problem(BaseModel):
    """RFC 9457 problem details: every refusal the hub sends, whatever the operation."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "type": "https://12345-hub.example/problems/validation",
                    "title": "The request is not valid",
                    "status": 422,
                    "detail": "body.person.phone: not a Chinese mobile, landline or service number",
                    "instance": "/api/v1/cases",
                    "errors": [{"field": "body.person.phone", "reason": "not a Chinese mobile, landline or service number"}],
                }
            ]
        }
    }

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] = Field(default_factory=list)
    state: str | None = None
    allowed_actions: list[str] | None = None
    valid_codes_at: str | None = None


# What each refusal means, for the operations that declare it (`responses=documented(...)`).
STATUS_MEANING = {
    400: "The request could not be read",
    401: "No API key, or a key the hub does not know (or revoked)",
    403: "The key's party may not do this, or may not see this object",
    404: "No such object (or not one this party may know of)",
    409: "Refused by the object's state: the lifecycle, a stale version, a decision already made",
    412: "A precondition header does not match",
    413: "The body or a field is larger than the hub takes",
    415: "The body's media type is not one this operation reads",
    422: "A field, parameter or header is invalid, or a query parameter is unknown: `errors` names each",
    429: "Too many requests: retry after the time given",
    503: "The hub cannot answer now: retry later",
}


# Operations that answer without the database: liveness only.
NO_DATABASE_PATHS = frozenset({"/api/v1/health"})


def documented(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the problem answers it gives besides those every operation
    of its kind gives (see `describe_problems`). A description overrides the default one
    when passed as `d409="..."`."""
    return {s: {"description": descriptions.get(f"d{s}", STATUS_MEANING[s])} for s in statuses}


def describe_problems(spec: dict[str, Any]) -> dict[str, Any]:
    """Makes the OpenAPI document say what the hub sends: every 4xx (and 503) an operation
    declares is `application/problem+json` with the one Problem schema, in place of FastAPI's
    default 422 shape. Added to each operation: 422 (every operation validates its query,
    unknown parameters included), 401 where a key is required, 413 where there is a body,
    503 with Retry-After wherever the database is read."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem_schema.pop("$defs", {}))
    schemas["Problem"] = problem_schema
    content = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    retry_after = {"Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}}
    for path, operations in spec.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if operation.pop("x-error-format", None) == "georeport":
                _describe_georeport(path, operation, responses, content, retry_after)
                continue
            generic = [422] + ([401] if operation.get("security") else []) + ([413] if "requestBody" in operation else [])
            # Everything but liveness reads the database (a key is looked up there too), so a database
            # that cannot serve answers 503 (hub/db/outage.py) on every such operation.
            generic += [] if path in NO_DATABASE_PATHS else [503]
            for status in generic:
                responses.setdefault(str(status), {"description": STATUS_MEANING[status]})
            if "503" in responses:
                responses["503"].setdefault("headers", retry_after)
            for status, response in responses.items():
                code = int(status)
                if 400 <= code < 500 or (code == 503 and not response.get("content")):
                    if code == 422:
                        response["description"] = STATUS_MEANING[422]
                    response["content"] = content
            operation["responses"] = dict(sorted(responses.items()))
    text = str(spec.get("paths"))
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"/{unused}'" not in text:
            schemas.pop(unused, None)
    return spec


def _describe_georeport(path: str, operation: dict[str, Any], responses: dict[str, Any], content: dict[str, Any], retry_after: dict[str, Any]) -> None:
    """Open311 GeoReport routes (channels/open311.py) refuse in GeoReport's own error list, which
    their `responses=` document; only what answers before them stays problem+json: 413 for a
    body over the limit (BodyLimit) and 503 when the database cannot serve."""
    responses.pop("422", None)  # FastAPI's default: these routes answer a bad parameter with GeoReport's 400
    extra = ([413] if "requestBody" in operation else []) + ([] if path in NO_DATABASE_PATHS else [503])
    for status in extra:
        answer = responses.setdefault(str(status), {"description": STATUS_MEANING[status]})
        answer["content"] = {**content, **answer.get("content", {})}  # beside GeoReport's own 413, if any
        if status == 503:
            answer["headers"] = retry_after
    operation["responses"] = dict(sorted(responses.items()))


def problem(
    status: int, slug: str, title: str, detail: str | None = None, request: Request | None = None, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
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
        return problem(
            422,
            "unknown-code",
            "Unknown code",
            str(exc),
            request,
            errors=[{"field": exc.field, "reason": f"unknown code {exc.code!r}"}],
            valid_codes_at=exc.valid_codes_at,
        )

    @app.exception_handler(ContentTooLarge)
    async def _too_large(request: Request, exc: ContentTooLarge) -> JSONResponse:
        return problem(
            413, "content-too-large", "Content too large", str(exc), request, errors=[{"field": "body.content", "reason": f"more than {exc.limit} characters"}]
        )

    @app.exception_handler(AttachmentRefused)
    async def _attachment_refused(request: Request, exc: AttachmentRefused) -> JSONResponse:
        return problem(exc.status, exc.slug, exc.title, str(exc), request, errors=[{"field": f"body.{exc.field}", "reason": exc.reason}])

    @app.exception_handler(AttachmentNotFound)
    async def _attachment_not_found(request: Request, exc: AttachmentNotFound) -> JSONResponse:
        return problem(404, "attachment-not-found", "No such attachment", str(exc), request)

    @app.exception_handler(AttachmentFileMissing)
    async def _attachment_file_missing(request: Request, exc: AttachmentFileMissing) -> JSONResponse:
        # The hub's store lacks a file its database names: not the caller's fault, and retrying
        # will not help until an operator puts the file back; 503 says "not now, not you".
        return problem(503, "attachment-file-missing", "The attachment's file is unavailable", str(exc), request, headers={"Retry-After": "3600"})

    @app.exception_handler(StoreUnavailable)
    async def _store_unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
        # Object storage down, its bucket missing, the hub's credentials refused: the hub's
        # state, not the request; the same request succeeds once the store is back.
        return problem(
            503, "attachment-store-unavailable", "The attachment store is unavailable", str(exc), request, headers={"Retry-After": str(exc.retry_after)}
        )

    @app.exception_handler(IdempotencyConflict)
    async def _idem(request: Request, exc: IdempotencyConflict) -> JSONResponse:
        return problem(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused with a different body",
            str(exc),
            request,
            errors=[{"field": "header.Idempotency-Key", "reason": "already used for a different request"}],
        )

    @app.exception_handler(ActionNotAllowed)
    async def _not_allowed(request: Request, exc: ActionNotAllowed) -> JSONResponse:
        return problem(409, "action-not-allowed", "Action not allowed", str(exc), request, state=exc.state, allowed_actions=exc.allowed)

    @app.exception_handler(StaleCase)
    async def _stale(request: Request, exc: StaleCase) -> JSONResponse:
        return problem(409, "stale-case", "The case changed since it was read", str(exc), request)

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
        if exc.status_code == 400 and exc.detail == _UNREADABLE_BODY:  # FastAPI's, for a body that is not UTF-8
            return problem(
                422,
                "validation",
                "The request is not valid",
                "body: not readable as UTF-8 JSON",
                request,
                errors=[{"field": "body", "reason": "not readable as UTF-8 JSON"}],
            )
        if exc.status_code == 400 and "multipart/" in request.headers.get("content-type", "").lower():
            # Starlette's answer to a multipart body it cannot parse (an attachment upload).
            return problem(
                422,
                "validation",
                "The request is not valid",
                "body: not readable as multipart/form-data",
                request,
                errors=[{"field": "body", "reason": f"not readable as multipart/form-data ({exc.detail})"}],
            )
        slug = {
            401: "unauthorized",
            403: "forbidden",
            404: "not-found",
            405: "method-not-allowed",
            413: "content-too-large",
            415: "unsupported-media-type",
            429: "too-many-requests",
        }.get(exc.status_code, "http-error")
        return problem(
            exc.status_code, slug, str(exc.detail) if exc.status_code != 404 else "Not found", str(exc.detail), request, headers=getattr(exc, "headers", None)
        )

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
        return problem(
            503,
            "database-unavailable",
            "The database is unavailable",
            f"{outage.reason}; try again later",
            request,
            headers={"Retry-After": str(outage.retry_after)},
        )

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem(500, "internal", "Internal error", "the hub failed; the error is logged", request)
