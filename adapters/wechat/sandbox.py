"""A sandbox WeChat (real HTTP on loopback) for tests and `make run`, both sides of it:

- the API the hub calls (`create_server`): `/cgi-bin/token` hands out access tokens for the
  sandbox AppID and AppSecret, `/cgi-bin/message/template/send` takes template messages and
  keeps them (`GET /sandbox/state`). It can be told to expire every token (the next send gets
  errcode 42001) or to answer the next sends with an errcode (`POST /sandbox/fail`).
  `/cgi-bin/media/get` answers the pictures followers sent (held by MediaId, `POST
  /sandbox/media` adds one) as WeChat does: the file, or JSON errcode 40007 for an unknown id.
  `/cgi-bin/menu/create` takes the custom menu (checked as WeChat does: 1 to 3 buttons, 5
  under each, a type and key or url on each leaf) and `/cgi-bin/menu/get` shows it.
- the WeChat server's side of the official account (`Follower`): it signs each message with
  the account's token as WeChat does (and encrypts it, 安全模式, when given the
  EncodingAESKey, with wechatpy's own crypto), POSTs it to the hub's server URL and reads the
  passive reply.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeXml
import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto

from adapters.wechat.ids import mask_openid

TOKEN_LIFETIME = 7200


@dataclass
class ServerState:
    app_id: str
    app_secret: str
    tokens: set[str] = field(default_factory=set)
    token_fetches: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)  # each template/send body accepted
    attempts: int = 0
    failures: list[int] = field(default_factory=list)  # errcodes to answer the next sends with
    menu: dict[str, Any] | None = None  # the last custom menu set (menu/create)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # MediaId -> (file, its Content-Type), for media/get
    media_fetches: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def to(self, openid: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.sent if m["touser"] == openid]


def create_server(state: ServerState) -> FastAPI:
    app = FastAPI(title="sandbox WeChat API")
    app.state.wechat = state
    msgids = itertools.count(1000)

    @app.get("/cgi-bin/token")
    def token(grant_type: str = "", appid: str = "", secret: str = "") -> dict[str, Any]:
        if grant_type != "client_credential":
            return {"errcode": 40002, "errmsg": "invalid grant_type"}
        if appid != state.app_id:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if secret != state.app_secret:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        issued = "SANDBOX_" + secrets.token_urlsafe(24)
        with state.lock:
            state.tokens.add(issued)
            state.token_fetches += 1
        return {"access_token": issued, "expires_in": TOKEN_LIFETIME}

    @app.post("/cgi-bin/message/template/send")
    async def template_send(request: Request, access_token: str = "") -> dict[str, Any]:
        body = await request.json()
        with state.lock:
            state.attempts += 1
            if access_token not in state.tokens:
                return {
                    "errcode": 42001 if access_token.startswith("SANDBOX_") else 40001,
                    "errmsg": "access_token expired" if access_token.startswith("SANDBOX_") else "invalid credential",
                }
            if state.failures:
                code = state.failures.pop(0)
                return {"errcode": code, "errmsg": "system busy" if code == -1 else "refused (sandbox)"}
            if not (
                isinstance(body, dict)
                and isinstance(body.get("touser"), str)
                and isinstance(body.get("template_id"), str)
                and isinstance(body.get("data"), dict)
            ):
                return {"errcode": 47001, "errmsg": "data format error"}
            state.sent.append(body)
        return {"errcode": 0, "errmsg": "ok", "msgid": next(msgids)}

    @app.post("/cgi-bin/menu/create")
    async def menu_create(request: Request, access_token: str = "") -> dict[str, Any]:
        body = await request.json()
        with state.lock:
            if access_token not in state.tokens:
                return {"errcode": 42001 if access_token.startswith("SANDBOX_") else 40001, "errmsg": "access_token expired or invalid"}
            if not _menu_ok(body):
                return {"errcode": 40016, "errmsg": "invalid button size or kind"}
            state.menu = body
        return {"errcode": 0, "errmsg": "ok"}

    @app.get("/cgi-bin/menu/get")
    def menu_get(access_token: str = "") -> dict[str, Any]:
        with state.lock:
            if access_token not in state.tokens:
                return {"errcode": 40001, "errmsg": "invalid credential"}
            if state.menu is None:
                return {"errcode": 46003, "errmsg": "menu no exist"}
            return {"menu": state.menu}

    @app.get("/cgi-bin/media/get")
    def media_get(access_token: str = "", media_id: str = "") -> Response:
        """A temporary media (a follower's picture) as WeChat answers it: the file with its
        type and a Content-Disposition, or JSON with an errcode."""
        with state.lock:
            if access_token not in state.tokens:
                return JSONResponse({"errcode": 42001 if access_token.startswith("SANDBOX_") else 40001, "errmsg": "access_token expired or invalid"})
            held = state.media.get(media_id)
            state.media_fetches += 1
        if held is None:
            return JSONResponse({"errcode": 40007, "errmsg": "invalid media_id"})
        content, kind = held
        return Response(content, media_type=kind, headers={"Content-Disposition": f'attachment; filename="{media_id}.jpg"'})

    @app.post("/sandbox/media")
    async def media_put(request: Request, media_id: str, content_type: str = "image/jpeg") -> dict[str, Any]:
        """Hold a file as WeChat holds a follower's picture (the follower at work sends one)."""
        with state.lock:
            state.media[media_id] = (await request.body(), content_type)
        return {"media_id": media_id}

    @app.get("/sandbox/state")
    def sandbox_state() -> dict[str, Any]:
        """What the sandbox WeChat was sent (the sandbox's openids are made up)."""
        with state.lock:
            return {"sent": list(state.sent), "token_fetches": state.token_fetches, "attempts": state.attempts}

    @app.post("/sandbox/expire")
    def expire() -> dict[str, Any]:
        """Every token the hub holds is now expired: its next send gets errcode 42001."""
        with state.lock:
            state.tokens.clear()
        return {"expired": True}

    @app.post("/sandbox/fail")
    def fail(errcode: int = -1, times: int = 1) -> JSONResponse:
        with state.lock:
            state.failures.extend([errcode] * max(0, min(times, 100)))
        return JSONResponse({"failures": state.failures})

    return app


def _menu_ok(body: Any) -> bool:
    """WeChat's rules for menu/create: 1 to 3 buttons, at most 5 under each, every leaf a
    click with a key or a view with a url."""

    def leaf(b: Any) -> bool:
        if not (isinstance(b, dict) and isinstance(b.get("name"), str)):
            return False
        return bool((b.get("type") == "click" and b.get("key")) or (b.get("type") == "view" and b.get("url")))

    buttons = body.get("button") if isinstance(body, dict) else None
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return False
    for b in buttons:
        subs = b.get("sub_button") if isinstance(b, dict) else None
        if subs:
            if not (isinstance(subs, list) and len(subs) <= 5 and all(leaf(x) for x in subs)):
                return False
        elif not leaf(b):
            return False
    return True


def click_event(openid: str, account: str, key: str, at: int) -> str:
    """A tap on a click button of the custom menu, as WeChat forwards it."""
    return (
        f"<xml><ToUserName><![CDATA[{account}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{at}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[CLICK]]></Event>"
        f"<EventKey><![CDATA[{escape(key)}]]></EventKey></xml>"
    )


def location_message(openid: str, account: str, label: str, x: float, y: float, msg_id: int, at: int) -> str:
    """A location a follower sends (发送位置), as WeChat forwards it."""
    return (
        f"<xml><ToUserName><![CDATA[{account}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{at}</CreateTime><MsgType><![CDATA[location]]></MsgType><Location_X>{x}</Location_X><Location_Y>{y}</Location_Y>"
        f"<Scale>15</Scale><Label>{escape(label)}</Label><MsgId>{msg_id}</MsgId></xml>"
    )


def image_message(openid: str, account: str, pic_url: str, media_id: str, msg_id: int, at: int) -> str:
    """A picture a follower sends, as WeChat forwards it (PicUrl and the MediaId of media/get)."""
    return (
        f"<xml><ToUserName><![CDATA[{account}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{at}</CreateTime><MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[{escape(pic_url)}]]></PicUrl>"
        f"<MediaId><![CDATA[{escape(media_id)}]]></MediaId><MsgId>{msg_id}</MsgId></xml>"
    )


def sign(token: str, timestamp: str, nonce: str) -> str:
    """WeChat's signature: SHA-1 of the token, timestamp and nonce, sorted and joined."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


def text_message(openid: str, account: str, content: str, msg_id: int, at: int) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{account}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{at}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{escape(content)}</Content><MsgId>{msg_id}</MsgId></xml>"
    )


def event_message(openid: str, account: str, event: str, at: int) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{account}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{at}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event></xml>"
    )


_msg_ids = itertools.count(int(time.time()) * 1000)


@dataclass
class Follower:
    """One follower of the account, as the WeChat server speaks for them to the hub."""

    url: str  # the hub's server URL: http://.../api/v1/channel/wechat
    token: str
    openid: str
    app_id: str = "wx-sandbox-12345"
    account: str = "gh_sandbox12345"  # the account's own id (ToUserName)
    aes_key: str | None = None  # set: messages go encrypted (安全模式)
    now: Any = None  # a callable giving the Unix time to sign with (the hub's clock in tests)

    def _time(self) -> int:
        return int(self.now() if self.now is not None else time.time())

    def post(self, xml: str, client: httpx.Client | None = None) -> httpx.Response:
        at, nonce = str(self._time()), secrets.token_hex(8)
        params = {"signature": sign(self.token, at, nonce), "timestamp": at, "nonce": nonce, "openid": self.openid}
        body = xml
        if self.aes_key:
            crypto = WeChatCrypto(self.token, self.aes_key, self.app_id)
            encrypted = crypto.encrypt_message(xml, nonce, at)  # the <xml> with <Encrypt> and <MsgSignature>
            envelope = parse_message_fields(encrypted)
            params.update({"encrypt_type": "aes", "msg_signature": envelope["MsgSignature"]})
            body = f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName><Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"
        own = client or httpx.Client(timeout=30)
        try:
            return own.post(self.url, params=params, content=body.encode(), headers={"content-type": "text/xml"})
        finally:
            if client is None:
                own.close()

    def say(self, content: str, client: httpx.Client | None = None, msg_id: int | None = None) -> str:
        """Send a text message; the text of the hub's passive reply."""
        response = self.post(text_message(self.openid, self.account, content, msg_id or next(_msg_ids), self._time()), client)
        response.raise_for_status()
        return self.read(response.text)

    def send_picture(self, media_id: str, client: httpx.Client | None = None, msg_id: int | None = None) -> str:
        """Send a picture WeChat holds under `media_id` (the sandbox API's media); the text of the reply."""
        at = self._time()
        response = self.post(
            image_message(self.openid, self.account, f"http://mmbiz.qpic.cn/sandbox/{media_id}", media_id, msg_id or next(_msg_ids), at), client
        )
        response.raise_for_status()
        return self.read(response.text)

    def read(self, reply: str) -> str:
        if reply == "success":
            return ""
        xml = reply
        if self.aes_key:
            fields = parse_message_fields(reply)
            crypto = WeChatCrypto(self.token, self.aes_key, self.app_id)
            xml = crypto.decrypt_message(reply, fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"])
        return parse_message(xml)._data.get("Content", "")

    def __repr__(self) -> str:  # an openid is personal data, even a made-up one in logs
        return f"Follower({mask_openid(self.openid)})"


def parse_message_fields(xml: str) -> dict[str, str]:
    return {child.tag: (child.text or "") for child in SafeXml.fromstring(xml)}
