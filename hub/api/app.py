"""The FastAPI application, built from a Hub (the composition root)."""

from __future__ import annotations

import re
from typing import Literal

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import hub
from hub.api import admin, attachments, cases, docs, limits, problems
from hub.api.request_context import RequestContext
from hub.container import Hub
from hub.db.migrate import migration_status
from hub.db.outage import classify
from hub.metrics import HttpMetrics

API_DESCRIPTION = """The integration hub of the city's 12345 government service hotline.

Every refusal is an RFC 9457 problem (`application/problem+json`) naming the field and why.
Authenticate with `X-API-Key: hub_...` (or `Authorization: Bearer hub_...`)."""


# Uploads of attachments (hub/api/attachments.py, channels/api.py, the console's case page):
# their bodies may be as large as the largest file taken, plus the multipart framing.
UPLOAD_PATH = re.compile(r"^/(api/v1/(cases|channel/cases|public/cases)|console/cases)/[^/]+/attachments$")
MULTIPART_SLACK = 64 * 1024


class BodyLimit:
    """Refuses bodies over the limit with 413 before the app reads them, chunked or not; an
    attachment upload has its own, larger limit (`upload_bytes`)."""

    def __init__(self, app: ASGIApp, max_bytes: int, upload_bytes: int | None = None) -> None:
        self.app, self.max_bytes = app, max_bytes
        self.upload_bytes = max(max_bytes, upload_bytes or 0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope.get("method") == "POST" and bool(UPLOAD_PATH.match(scope.get("path", "")))
        max_bytes = self.upload_bytes if upload else self.max_bytes
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > max_bytes:
            await self._refuse(scope, receive, send, max_bytes, upload)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(scope, receive, send, max_bytes, upload)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, max_bytes: int, upload: bool) -> None:
        errors = [{"field": "body.file", "reason": f"the upload is over {max_bytes} bytes"}] if upload else None
        response = problems.problem(413, "content-too-large", "Request body too large", f"bodies over {max_bytes} bytes are refused", errors=errors)
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str] = Field(description="database, migrations: 'ok' or why not")


def create_app(hub_: Hub) -> FastAPI:
    app = FastAPI(
        title="12345 Hub",
        version=hub.__version__,
        description=API_DESCRIPTION,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,  # docs: hub/api/docs.py, offline
        dependencies=[Depends(limits.refuse_unknown_input)],
    )
    app.state.hub = hub_
    problems.install(app)
    app.include_router(cases.router)
    app.include_router(cases.callers)
    app.include_router(attachments.router)
    app.include_router(admin.router)
    app.include_router(docs.router)
    for extension in hub_.routers:  # routers plugged in by features (outbox, adapters, ...)
        app.include_router(extension)

    @app.get("/api/v1/health", tags=["health"], summary="Liveness: the process answers", operation_id="checkHealth")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/api/v1/ready",
        tags=["health"],
        summary="Readiness: database reachable, writable and migrated",
        operation_id="checkReadiness",
        responses={
            200: {"model": Readiness, "description": "Ready"},
            503: {"model": Readiness, "description": "Not ready: the database is unreachable or not migrated"},
        },
    )
    def ready(request: Request) -> JSONResponse:
        checks: dict[str, str] = {}
        retry_after = 5
        try:
            hub_.db.ping()
            outage = hub_.db.recent_outage()  # a read-only file or a full disk still answers SELECT 1
            checks["database"] = "ok" if outage is None else f"unavailable: {outage.reason}"
            if outage is not None:
                retry_after = outage.retry_after
            status = migration_status(hub_.db.writer)
            checks["migrations"] = "ok" if status.current_is_head else f"behind: at {status.current}, head {status.heads}"
        except Exception as exc:  # readiness reports any failure to reach the database as not ready
            outage = classify(exc)
            checks["database"] = f"unavailable: {outage.reason}" if outage else f"unreachable: {type(exc).__name__}"
            if outage is not None:
                retry_after = outage.retry_after
        ok = all(v == "ok" for v in checks.values())
        body: dict[str, object] = {"status": "ready" if ok else "not ready", "checks": checks}
        if ok:
            # Not a check: a missing next year never stops the hub, it makes deadlines provisional.
            body["calendar"] = admin.status_of(hub_).model_dump(mode="json")
        return JSONResponse(body, status_code=200 if ok else 503, headers=None if ok else {"Retry-After": str(retry_after)})

    generated = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            problems.describe_problems(generated())  # fills app.openapi_schema in place
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
    largest_file = max(hub_.settings.attachments.max_bytes, hub_.settings.attachments.citizen_max_bytes)
    app.add_middleware(BodyLimit, max_bytes=hub_.settings.max_body_bytes, upload_bytes=largest_file + MULTIPART_SLACK)
    app.add_middleware(
        RequestContext, metrics=hub_.handles.find(HttpMetrics), trusted_proxies=hub_.settings.trusted_proxies
    )  # outermost: a refused body's answer carries its request id too
    return app
