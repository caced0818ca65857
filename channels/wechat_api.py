"""The WeChat official account's server URL (公众号 服务器配置 → 服务器地址): GET is WeChat's URL
check (echo `echostr` when the signature is right), POST a follower's message, answered with
a passive reply (channels/wechat.py). No API key: WeChat signs every request with the
account's token, and a request it did not sign is refused 403 with nothing recorded."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from channels.wechat import Forged, Signed, Unreadable, WeChatDoor
from hub.api.problems import documented

wechat = APIRouter(prefix="/api/v1/channel/wechat", tags=["channels"])

Signature = Annotated[
    str, Query(min_length=1, max_length=64, pattern=r"^[0-9a-fA-F]+$", description="SHA-1 of the sorted token, timestamp and nonce (WeChat's).")
]
Timestamp = Annotated[str, Query(min_length=1, max_length=12, pattern=r"^[0-9]+$", description="Seconds since 1970, WeChat's.")]
Nonce = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]
XML_BODY = {
    "requestBody": {
        "required": True,
        "description": "A WeChat message (XML; with encrypt_type=aes its <Encrypt> holds it).",
        "content": {"application/xml": {"schema": {"type": "string"}}},
    }
}
FORGED = "Not signed by WeChat with the account's token (signature or msg_signature), or the timestamp is stale: nothing recorded"


def _door(request: Request) -> WeChatDoor:
    door = request.app.state.hub.handles.find(WeChatDoor)
    if door is None:
        raise HTTPException(404, "no WeChat official account is configured (channels.wechat)")
    return door


@wechat.get(
    "",
    response_class=PlainTextResponse,
    summary="WeChat's check of the server URL (echostr)",
    operation_id="checkWechatServer",
    responses={
        200: {"description": "The echostr, when the signature is right", "content": {"text/plain": {"schema": {"type": "string"}}}},
        **documented(403, 404, d403=FORGED, d404="No WeChat account configured"),
    },
)
def check_server(
    request: Request, signature: Signature, timestamp: Timestamp, nonce: Nonce, echostr: Annotated[str, Query(min_length=1, max_length=256)]
) -> PlainTextResponse:
    door = _door(request)
    try:
        door.verify(Signed(signature, timestamp, nonce))
    except Forged as exc:
        raise HTTPException(403, f"signature: {exc}") from None
    return PlainTextResponse(echostr)


@wechat.post(
    "",
    response_class=Response,
    summary="A follower's message, answered with a passive reply (被动回复)",
    operation_id="answerWechatMessage",
    openapi_extra=XML_BODY,
    responses={
        200: {
            "description": "The reply XML (encrypted when the message was), or 'success' (text/plain) for none",
            "content": {"application/xml": {"schema": {"type": "string"}}, "text/plain": {"schema": {"type": "string", "enum": ["success"]}}},
        },
        **documented(400, 403, 404, d400="Not a WeChat XML message (or an encrypted one with no key set)", d403=FORGED, d404="No WeChat account configured"),
    },
)
async def answer_message(
    request: Request,
    signature: Signature,
    timestamp: Timestamp,
    nonce: Nonce,
    openid: Annotated[str | None, Query(max_length=64)] = None,
    encrypt_type: Annotated[str | None, Query(max_length=16, pattern=r"^(raw|aes)$")] = None,
    msg_signature: Annotated[str | None, Query(max_length=64, pattern=r"^[0-9a-fA-F]+$")] = None,
) -> Response:
    door = _door(request)
    body = await request.body()
    try:
        # The door talks to the database: off the event loop, as FastAPI runs a def route.
        reply = await run_in_threadpool(door.handle, Signed(signature, timestamp, nonce), body, encrypt_type, msg_signature)
    except Forged as exc:
        raise HTTPException(403, f"signature: {exc}") from None
    except Unreadable as exc:
        raise HTTPException(400, f"body: {exc}") from None
    if reply == "success":
        return PlainTextResponse("success")
    return Response(reply, media_type="application/xml")
