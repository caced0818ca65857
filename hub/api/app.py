"""The FastAPI application, built from a Hub (the composition root)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

import hub
from hub.api import admin, cases, problems
from hub.api.request_context import RequestContext
from hub.container import Hub
from hub.db.migrate import migration_status

API_DESCRIPTION = """The integration hub of the city's 12345 government service hotline.

Every refusal is an RFC 9457 problem (`application/problem+json`) naming the field and why.
Authenticate with `X-API-Key: hub_...` (or `Authorization: Bearer hub_...`)."""


class BodyLimit:
    """Refuses bodies over the limit with 413 before the app reads them, chunked or not."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problems.problem(413, "content-too-large", "Request body too large",
                                    f"bodies over {self.max_bytes} bytes are refused")
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


def create_app(hub_: Hub) -> FastAPI:
    app = FastAPI(title="12345 Hub", version=hub.__version__, description=API_DESCRIPTION,
                  openapi_url="/api/v1/openapi.json", docs_url="/api/v1/docs", redoc_url=None)
    app.state.hub = hub_
    problems.install(app)
    app.include_router(cases.router)
    app.include_router(admin.router)
    for extension in hub_.routers:  # routers plugged in by features (outbox, adapters, ...)
        app.include_router(extension)  # type: ignore[arg-type]

    @app.get("/api/v1/health", tags=["health"], summary="Liveness: the process answers")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v1/ready", tags=["health"], summary="Readiness: database reachable and migrated")
    def ready(request: Request) -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            hub_.db.ping()
            checks["database"] = "ok"
            status = migration_status(hub_.db.writer)
            checks["migrations"] = "ok" if status.current_is_head else f"behind: at {status.current}, head {status.heads}"
        except Exception as exc:  # readiness reports any failure to reach the database as not ready
            checks["database"] = f"unreachable: {type(exc).__name__}"
        ok = all(v == "ok" for v in checks.values())
        body: dict[str, object] = {"status": "ready" if ok else "not ready", "checks": checks}
        if ok:
            # Not a check: a missing next year never stops the hub, it makes deadlines provisional.
            body["calendar"] = admin.status_of(hub_).model_dump(mode="json")
        return JSONResponse(body, status_code=200 if ok else 503)

    app.add_middleware(BodyLimit, max_bytes=hub_.settings.max_body_bytes)
    app.add_middleware(RequestContext, metrics=hub_.extras.get("http_metrics"))  # outermost: a refused body's answer carries its request id too
    return app
