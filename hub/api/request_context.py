"""Every HTTP request gets an id and one access-log line.

The id is the caller's `X-Request-ID` when it is sane (1-128 of letters, digits and `._:-`),
otherwise a new one; it is returned in the response's `X-Request-ID` and put on every log line
the request causes (hub.logmask.request_id). The access line (logger `hub.access`) has the
method, the path and query with personal data masked, the status, the duration and the client's address
(behind a trusted proxy, the address it forwards for: hub/api/client_address.py)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from urllib.parse import unquote_plus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.api import client_address
from hub.logmask import mask_text, request_id
from hub.metrics import HttpMetrics

_API_KEY = re.compile(r"((?:^|[?&])api_key=)[^&]*")
SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
access_log = logging.getLogger("hub.access")


def accepted_id(presented: str | None) -> str:
    """The caller's id if it is sane, else a fresh one (a log line must not carry what a caller injects)."""
    if presented is not None and SANE_ID.fullmatch(presented):
        return presented
    return uuid.uuid4().hex


class RequestContext:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics | None = None, trusted_proxies: list[str] | None = None) -> None:
        self.app, self.metrics = app, metrics
        self.trusted = client_address.networks(trusted_proxies or [])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        presented = dict(scope.get("headers") or []).get(b"x-request-id")
        rid = accepted_id(presented.decode("latin-1") if presented is not None else None)
        token = request_id.set(rid)
        # Resolved once, here: the lockouts (channels/) and the access line read the same address.
        client = client_address.from_scope(scope, self.trusted)
        scope.setdefault("state", {})[client_address.SCOPE_KEY] = client
        status = 500  # unless the app answers
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*(message.get("headers") or []), (b"x-request-id", rid.encode("ascii"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            query = unquote_plus(scope.get("query_string", b"").decode("latin-1"))
            target = scope.get("path", "") + (f"?{query}" if query else "")
            seconds = time.perf_counter() - started
            target = _API_KEY.sub(r"\1***", target)  # GeoReport clients may send their key as a parameter
            access_log.info("%s %s %d %.1fms from %s", scope.get("method", "-"), mask_text(target), status, seconds * 1000, client)
            if self.metrics is not None:  # by the route's template (set by the router), never the raw path
                route = getattr(scope.get("route"), "path", None)
                self.metrics.observe(scope.get("method", "-"), route, status, seconds)
            request_id.reset(token)
