"""The peer's side of the kit's control protocol (integration_kit/peer.py): the four `/_kit`
endpoints a sandbox peer mounts beside its own API, written once. The peer says what each
endpoint does to its state; the protocol's paths, statuses and error bodies live here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response


def kit_routes(
    *,
    modes: Sequence[str],
    reset: Callable[[], None],
    plan: Callable[[str], None],
    received: Callable[[], list[dict[str, Any]]],
    offer: Callable[[], str] | None = None,
    no_offer: str = "this peer assigns no cases to pull",
) -> APIRouter:
    """`reset()` forgets what was received and the planned faults; `plan(mode)` makes the next
    delivery fail that way (only `modes` are accepted: 422 otherwise, and for a body that is
    not a JSON object naming one); `received()` lists the
    messages accepted, in order; `offer()` queues a case for the hub to pull and returns its
    id, or, when the peer never assigns cases (None), POST /_kit/offer answers 404 `no_offer`."""
    router = APIRouter()

    @router.post("/_kit/reset", status_code=204)
    def kit_reset() -> Response:
        reset()
        return Response(status_code=204)

    @router.post("/_kit/fault", status_code=204)
    async def kit_fault(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:  # not JSON: no mode named, refused like an unknown one
            body = None
        mode = body.get("mode") if isinstance(body, dict) else None
        if not isinstance(mode, str) or mode not in modes:
            return JSONResponse({"error": f"unsupported fault mode {mode!r}; supported: {', '.join(modes)}"}, status_code=422)
        plan(mode)
        return Response(status_code=204)

    @router.get("/_kit/received")
    def kit_received() -> dict[str, Any]:
        return {"messages": received()}

    @router.post("/_kit/offer", status_code=201)
    def kit_offer() -> Any:
        if offer is None:
            return JSONResponse({"error": no_offer}, status_code=404)
        return {"external_id": offer()}

    return router
