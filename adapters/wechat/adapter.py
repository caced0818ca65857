"""WeChat adapter: template messages (模板消息) to the followers of the city's official account,
through the WeChat API (`api_base`: https://api.weixin.qq.com, or the sandbox).

Each outbox message carries a sealed token (adapters/sms/seal.py) holding the openid and the
filled template/send body (channels/wechat_push.py); the adapter opens it and POSTs it to
`/cgi-bin/message/template/send?access_token=...`. The access token comes from
`/cgi-bin/token` (AppID + AppSecret) and is cached until shortly before it expires, once per
process and account: a relay builds an adapter per delivery thread, and every fetch of a
token makes WeChat retire the previous one within minutes, so they share it.

WeChat answers HTTP 200 with an `errcode`. The adapter contract's classes (docs/channels.md):
- 0: sent.
- 40001, 40014, 42001 (the token is invalid or expired, e.g. another process fetched a new
  one): the cached token is dropped, a new one fetched, and the send tried once more; a
  second refusal is a TransientError.
- -1 (系统繁忙) and 45009 (the daily quota of the API is used up): TransientError, the outbox
  retries later. An HTTP 5xx/429 or a timeout: TransientError.
- Any other errcode (43004 the follower unsubscribed, 40003 a wrong openid, 40037 a wrong
  template id, ...): PermanentError, a dead letter. 40013/40125 on the token (a wrong AppID or
  AppSecret): ConfigurationError.
A follower's picture is fetched from `/cgi-bin/media/get` (`fetch_media`), read no further
than the limit the caller gives. Logs show the openid masked and never the message, the
secret or the token.
"""

from __future__ import annotations

import json
import logging
import threading
import time

import httpx
from pydantic import AnyHttpUrl, Field, SecretStr

from adapters.http import classify_response, send
from adapters.sms.seal import Unsealable, unseal
from adapters.wechat.ids import mask_openid
from hub.integration.contract import (
    Adapter,
    AdapterContext,
    AdapterSettings,
    ConfigurationError,
    Delivery,
    HealthReport,
    OutboundMessage,
    PermanentError,
    TransientError,
)
from hub.integration.http import http_client

log = logging.getLogger("adapters.wechat")

TOKEN_EXPIRED = frozenset({40001, 40014, 42001})
BUSY = frozenset({-1, 45009})
BAD_CREDENTIALS = frozenset({40002, 40013, 40125, 40164})
TOKEN_MARGIN = 300.0  # seconds before WeChat's expiry that a cached token is fetched anew


class _TokenCache:
    """(api_base, app_id) -> (token, time.monotonic() after which it is not used), per process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # held while fetching: one fetch at a time per process
        self.tokens: dict[tuple[str, str], tuple[str, float]] = {}


TOKENS = _TokenCache()


class WeChatSettings(AdapterSettings):
    api_base: AnyHttpUrl = Field(default=AnyHttpUrl("https://api.weixin.qq.com"), description="The WeChat API.")
    app_id: str = Field(min_length=1, max_length=64, description="The official account's AppID.")
    app_secret: SecretStr = Field(min_length=1, description="The AppSecret (开发者密码): fetches the access token.")
    seal_key: SecretStr = Field(
        min_length=16,
        description="Seals the openid and message inside the outbox message (the "
        "channels feature seals with it, this adapter opens). Changing it strands queued messages.",
    )
    timeout: float = Field(default=10.0, gt=0, description="Seconds for each exchange.")


class WeChatAdapter(Adapter[WeChatSettings]):
    name = "wechat"
    settings_model = WeChatSettings

    def __init__(self, settings: WeChatSettings, context: AdapterContext) -> None:
        super().__init__(settings, context)
        self._base = str(settings.api_base).rstrip("/")
        self._client = http_client(headers={"User-Agent": "12345-hub"}, timeout=httpx.Timeout(settings.timeout, connect=min(3.0, settings.timeout)))
        self._account = (self._base, settings.app_id)

    # -- the access token ------------------------------------------------------------------------
    def access_token(self) -> str:
        with TOKENS.lock:
            held = TOKENS.tokens.get(self._account)
            if held is not None and time.monotonic() < held[1]:
                return held[0]
            response = send(
                self._client,
                "GET",
                f"{self._base}/cgi-bin/token",
                label="WeChat token: ",
                params={"grant_type": "client_credential", "appid": self.settings.app_id, "secret": self.settings.app_secret.get_secret_value()},
            )
            classify_response(response, self.context.clock.now())
            answer = _json(response)
            token = answer.get("access_token")
            if not isinstance(token, str) or not token:
                code = answer.get("errcode")
                if code in BAD_CREDENTIALS:
                    raise ConfigurationError(f"WeChat refused the AppID/AppSecret: errcode {code}")
                if code in BUSY:
                    raise TransientError(f"WeChat token: busy (errcode {code})", retry_after=5)
                raise PermanentError(f"WeChat token: errcode {code} {str(answer.get('errmsg', ''))[:100]}")
            lifetime = float(answer.get("expires_in") or 7200)
            TOKENS.tokens[self._account] = (token, time.monotonic() + max(0.0, lifetime - TOKEN_MARGIN))
            return token

    def _drop(self, token: str) -> None:
        """WeChat refused this token: the next send fetches another (unless another thread already did)."""
        with TOKENS.lock:
            held = TOKENS.tokens.get(self._account)
            if held is not None and held[0] == token:
                del TOKENS.tokens[self._account]

    # -- delivery ------------------------------------------------------------------------------------
    def deliver(self, message: OutboundMessage) -> Delivery:
        sealed = message.event.get("sealed")
        if not isinstance(sealed, str):
            raise PermanentError(f"message {message.idempotency_key} is not a WeChat message (no sealed token)")
        try:
            openid, text = unseal(self.settings.seal_key.get_secret_value(), sealed)
            body = json.loads(text)
        except (Unsealable, ValueError) as exc:
            raise ConfigurationError(str(exc)) from exc
        template = message.event.get("template")
        for attempt in (1, 2):
            token = self.access_token()
            code, answer = self._send(token, body)
            if code == 0:
                log.info("wechat %s to %s for case %s sent", template, mask_openid(openid), message.case_number)
                return Delivery(detail=f"wechat {template} to {mask_openid(openid)} (msgid {answer.get('msgid')})")
            if code in TOKEN_EXPIRED:
                self._drop(token)
                if attempt == 1:
                    continue
                raise TransientError(f"WeChat refused a fresh access token too (errcode {code})", retry_after=30)
            if code in BUSY:
                raise TransientError(f"WeChat busy (errcode {code})", retry_after=60 if code == 45009 else 5)
            raise PermanentError(f"WeChat refused the template message to {mask_openid(openid)}: errcode {code} {str(answer.get('errmsg', ''))[:100]}")
        raise AssertionError("unreachable")

    # -- a follower's picture (channels/wechat.py: an attachment of their case) -----------------------
    def fetch_media(self, media_id: str, max_bytes: int) -> bytes:
        """The file of a temporary media (a picture a follower sent: its MediaId, kept by WeChat
        for 3 days) from `/cgi-bin/media/get`, read no further than `max_bytes`: MediaTooLarge
        past it. WeChat answers the file itself, or JSON with an errcode (40007 an unknown
        MediaId: PermanentError; the token ones: fetched anew once, as for sends)."""
        for attempt in (1, 2):
            token = self.access_token()
            try:
                with self._client.stream("GET", f"{self._base}/cgi-bin/media/get", params={"access_token": token, "media_id": media_id}) as response:
                    if not 200 <= response.status_code < 300:
                        response.read()  # classify_response quotes the body
                        classify_response(response, self.context.clock.now())
                    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
                    if kind in ("application/json", "text/plain", "text/json"):
                        response.read()
                        code, answer = _errcode(response)
                    else:
                        declared = response.headers.get("content-length")
                        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                            raise MediaTooLarge(max_bytes)
                        data = bytearray()
                        for chunk in response.iter_bytes():
                            data += chunk
                            if len(data) > max_bytes:
                                raise MediaTooLarge(max_bytes)
                        return bytes(data)
            except httpx.TimeoutException as exc:
                raise TransientError(f"WeChat media/get timed out: {type(exc).__name__}") from exc
            except httpx.TransportError as exc:
                raise TransientError(f"WeChat media/get transport failed: {type(exc).__name__}") from exc
            if code in TOKEN_EXPIRED and attempt == 1:
                self._drop(token)
                continue
            if code in BUSY or code in TOKEN_EXPIRED:
                raise TransientError(f"WeChat media/get: busy or token refused (errcode {code})", retry_after=5)
            raise PermanentError(f"WeChat media/get refused: errcode {code} {str(answer.get('errmsg', ''))[:100]}")
        raise AssertionError("unreachable")

    # -- the custom menu (channels/wechat_menu.py, `hotline-hub wechat menu --push`) -----------------
    def create_menu(self, body: dict) -> None:
        """Replace the account's custom menu (自定义菜单) with `body` (WeChat's menu/create)."""
        for attempt in (1, 2):
            token = self.access_token()
            code, answer = self._send(token, body, "/cgi-bin/menu/create")
            if code == 0:
                log.info("wechat: custom menu of %d buttons set", len(body.get("button", [])))
                return
            if code in TOKEN_EXPIRED and attempt == 1:
                self._drop(token)
                continue
            if code in BUSY or code in TOKEN_EXPIRED:
                raise TransientError(f"WeChat menu/create: busy or token refused (errcode {code})", retry_after=5)
            raise PermanentError(f"WeChat refused the menu: errcode {code} {str(answer.get('errmsg', ''))[:100]}")

    def _send(self, token: str, body: dict, path: str = "/cgi-bin/message/template/send") -> tuple[int, dict]:
        response = send(
            self._client,
            "POST",
            f"{self._base}{path}",
            label="WeChat: ",
            params={"access_token": token},
            content=json.dumps(body, ensure_ascii=False).encode(),
            headers={"content-type": "application/json; charset=utf-8"},
        )
        classify_response(response, self.context.clock.now())
        answer = _json(response)
        code = answer.get("errcode", 0)
        return (code if isinstance(code, int) else -1), answer

    def health(self) -> HealthReport:
        try:
            self.access_token()
        except (TransientError, PermanentError) as exc:
            return HealthReport(ok=False, detail=str(exc)[:200])
        return HealthReport(ok=True, detail="access token held")

    def close(self) -> None:
        self._client.close()


class MediaTooLarge(PermanentError):
    """The media is larger than the caller takes (it was not read further)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the media is larger than {limit} bytes")
        self.limit = limit


def _errcode(response: httpx.Response) -> tuple[int, dict]:
    answer = _json(response)
    code = answer.get("errcode", -1)
    return (code if isinstance(code, int) else -1), answer


def _json(response: httpx.Response) -> dict:
    try:
        answer = response.json()
    except ValueError:
        raise TransientError("WeChat answered something that is not JSON") from None
    if not isinstance(answer, dict):
        raise PermanentError("WeChat answered JSON that is not an object")
    return answer
