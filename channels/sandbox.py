"""`make run`: the sandbox SMS gateway and a web citizen at work. Every few demo rounds the
citizen files a case through the city portal's channel key; each round it reads the SMS the
gateway received, looks its cases up with the code from the receipt SMS, and rates a reply
once it may. Every other filing comes with a photo (附件). The log says what crossed:
`channel web: IN`, `channel web: PHOTO`, `sms: to 139****...`, `channel web: LOOKUP`,
`channel web: RATED`."""

from __future__ import annotations

import base64
import logging
import os
import random
import re
import secrets
import struct
import zlib
from datetime import UTC, datetime
from typing import Any

import httpx

from adapters.sms.sandbox import GatewayState, create_gateway, describe
from adapters.wechat.ids import mask_openid
from adapters.wechat.sandbox import Follower, ServerState, create_server
from hub.features import Peer

log = logging.getLogger("hub.sandbox.channels")

SANDBOX_PORT_OFFSET = 70  # the gateway listens on --port + 70
WECHAT_PORT_OFFSET = 71  # the sandbox WeChat API on --port + 71
WECHAT_APP_ID = "wx-sandbox-12345"
WECHAT_FILINGS = [
    "投诉 建设路口的红绿灯坏了两天，早晚高峰很堵，请尽快修复。",
    "求助 小区二期停水一天了，没有任何通知，老人孩子生活不便。",
    "咨询 新生儿医保怎么办理？需要带哪些材料？",
]
WECHAT_RECEIPT = re.compile(r"工单号(\d+)，提取码([A-Z0-9]{6})")
PORTAL_KEY = "hub_sandboxweb_" + "w" * 24  # the city portal's channel key (hub/sandbox/run.py KEYS)
RECEIPT = re.compile(r"工单号(\d+)，提取码([A-Z0-9]{6})")
FILINGS = [
    ("complaint", "0101", "网站留言：小区垃圾清运不及时", "小区垃圾已经三天没有清运，气味很大，请尽快处理。"),
    ("help", "0101", "网站留言：楼道灯坏了", "单元楼道灯坏了很久，老人晚上上下楼不安全。"),
    ("enquiry", "0301", "网站留言：医保异地备案怎么办", "想了解医保异地就医备案需要哪些材料。"),
]
RATINGS = ["satisfied", "basically_satisfied", "unsatisfied"]


def _png(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (200, 60, 40)) -> bytes:
    """A small real PNG (one colour), the citizen's "photo" of the matter."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    )


PHOTO = _png()


class WebCitizen:
    def __init__(self, hub_url: str, gateway: GatewayState, file_every: int = 3) -> None:
        self.hub_url = hub_url
        self.gateway = gateway
        self.file_every = file_every
        self.rounds = 0
        self.filed = 0
        self.rng = random.Random(12345)
        self.codes: dict[str, str] = {}  # case number -> code, from the receipt SMS
        self.seen_sms = 0
        self.done: set[str] = set()
        self.status: dict[str, str] = {}  # what the citizen last read, so the log says only changes

    def act(self) -> list[tuple[str, str | None]]:
        self.rounds += 1
        brought: list[tuple[str, str | None]] = []
        with httpx.Client(base_url=self.hub_url, timeout=10) as client:
            if self.rounds % self.file_every == 1:
                number = self._file(client)
                if number:
                    brought.append((number, None))  # the demo agent walks it like its own
            self._read_sms()
            for number, code in list(self.codes.items()):
                if number not in self.done:
                    self._follow(client, number, code)
        return brought

    def _file(self, client: httpx.Client) -> str | None:
        kind, category, title, content = self.rng.choice(FILINGS)
        phone = "139" + "".join(str(self.rng.randrange(10)) for _ in range(8))
        body: dict[str, Any] = {
            "intake": {"channel": "web", "received_at": _now()},
            "person": {"name": "网友", "phone": phone, "kind": "person"},
            "request_type": kind,
            "category_code": category,
            "title": title,
            "content": content,
            "place": {"address": "雁江区建设路", "division_code": "512002"},
        }
        resp = client.post("/api/v1/channel/cases", json=body, headers={"X-API-Key": PORTAL_KEY})
        if resp.status_code != 201:
            log.warning("channel web: intake refused %s", resp.status_code)
            return None
        number = resp.json()["case"]["number"]
        log.info("channel web: IN %s filed through the city portal (the code went to the citizen by SMS)", number)
        self.filed += 1
        if self.filed % 2 == 1:  # every other filing (not from the rng: its sequence picks the filings and ratings)
            sent = client.post(
                f"/api/v1/channel/cases/{number}/attachments", headers={"X-API-Key": PORTAL_KEY}, files={"file": ("现场照片.png", PHOTO, "image/png")}
            )
            if sent.status_code == 201:
                log.info("channel web: PHOTO %s a photo of the matter, %d bytes (public)", number, len(PHOTO))
            else:
                log.warning("channel web: photo refused %s", sent.status_code)
        return number

    def _read_sms(self) -> None:
        with self.gateway.lock:
            new = self.gateway.messages[self.seen_sms :]
            self.seen_sms = len(self.gateway.messages)
        for message in new:
            log.info("%s", describe(message))
            found = RECEIPT.search(message["text"])
            if found:
                self.codes[found.group(1)] = found.group(2)

    def _follow(self, client: httpx.Client, number: str, code: str) -> None:
        resp = client.post(f"/api/v1/public/cases/{number}/lookup", json={"code": code})
        if resp.status_code != 200:
            return
        view = resp.json()
        if self.status.get(number) != view["status"]:
            self.status[number] = view["status"]
            log.info("channel web: LOOKUP %s %s", number, view["status"])
        if view["evaluation"]["open"]:
            rating = self.rng.choice(RATINGS)
            rated = client.post(f"/api/v1/public/cases/{number}/evaluation", json={"code": code, "satisfaction": rating})
            if rated.status_code == 200:
                log.info("channel web: RATED %s %s -> %s", number, rating, rated.json()["status"])
                self.done.add(number)
        elif view["status"] in ("已办结", "不予受理", "已转紧急热线处理", "已与同一诉求的工单合并办理"):
            self.done.add(number)


class WeChatFollower:
    """A follower of the account at work: files by message, reads the template messages the
    sandbox WeChat got for them, and asks for the status when one arrives."""

    def __init__(self, follower: Follower, server: ServerState, file_every: int = 4) -> None:
        self.follower = follower
        self.server = server
        self.file_every = file_every
        self.rounds = 0
        self.codes: dict[str, str] = {}
        self.seen = 0

    def act(self) -> list[tuple[str, str | None]]:
        self.rounds += 1
        brought: list[tuple[str, str | None]] = []
        with httpx.Client(timeout=10) as client:
            if self.rounds % self.file_every == 2:
                content = WECHAT_FILINGS[(self.rounds // self.file_every) % len(WECHAT_FILINGS)]
                try:
                    reply = self.follower.say(content, client)
                except httpx.HTTPError as exc:
                    log.warning("channel wechat: message refused (%s)", type(exc).__name__)
                    return brought
                found = WECHAT_RECEIPT.search(reply)
                if found:
                    self.codes[found.group(1)] = found.group(2)
                    brought.append((found.group(1), None))
                    log.info(
                        "channel wechat: IN %s filed by %s on the official account (code in the passive reply)",
                        found.group(1),
                        mask_openid(self.follower.openid),
                    )
                    # Then a photo of the matter, which becomes the case's attachment.
                    media_id = f"sandbox-photo-{self.rounds}"
                    with self.server.lock:
                        self.server.media[media_id] = (_png(rgb=(40, 120, 200)), "image/png")
                    try:
                        said = self.follower.send_picture(media_id, client)
                        log.info("channel wechat: PHOTO for %s: %s", found.group(1), said)
                    except httpx.HTTPError as exc:
                        log.warning("channel wechat: picture refused (%s)", type(exc).__name__)
            sent = self.server.to(self.follower.openid)
            for message in sent[self.seen :]:
                number = message["data"].get("keyword1", {}).get("value", "")
                log.info("wechat: template %s to %s about %s", message["template_id"], mask_openid(message["touser"]), number)
                if number in self.codes:
                    status = self.follower.say(f"查询 {number} {self.codes[number]}", client).splitlines()
                    log.info("channel wechat: LOOKUP %s %s", number, status[1] if len(status) > 1 else "")
            self.seen = len(sent)
        return brought


def _now() -> str:
    return datetime.now(UTC).isoformat()


def sandbox_peers(base_port: int) -> list[Any]:
    port = base_port + SANDBOX_PORT_OFFSET
    state = GatewayState()
    citizen = WebCitizen(f"http://127.0.0.1:{base_port}", state)
    # Named "sms": settings.channels.sms_destination. A seal key made up for this run: the sandbox's
    # outbox is its own (a restart strands only demo SMS).
    destination = {"adapter": "sms", "settings": {"url": f"http://127.0.0.1:{port}/send", "seal_key": secrets.token_urlsafe(24)}}
    sms = Peer(
        "sms",
        port,
        lambda: create_gateway(state),
        destination,
        "sandbox SMS gateway: receipts with codes, replies, invitations to rate, closings; GET /messages",
        act=citizen.act,
    )
    return [sms, _wechat_peer(base_port)]


def _wechat_peer(base_port: int) -> Any:
    """The sandbox WeChat API and a follower; the hub's account settings go in the environment
    (a HUB_CHANNELS__WECHAT__* you set yourself is kept)."""
    port = base_port + WECHAT_PORT_OFFSET
    token = os.environ.get("HUB_CHANNELS__WECHAT__TOKEN") or "sandbox" + secrets.token_hex(8)
    aes_key = os.environ.get("HUB_CHANNELS__WECHAT__ENCODING_AES_KEY") or base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    app_id = os.environ.get("HUB_CHANNELS__WECHAT__APP_ID") or WECHAT_APP_ID
    server = ServerState(app_id=app_id, app_secret=secrets.token_hex(16))
    follower = Follower(
        url=f"http://127.0.0.1:{base_port}/api/v1/channel/wechat", token=token, app_id=app_id, openid="oSandbox" + secrets.token_hex(10), aes_key=aes_key
    )
    destination = {
        "adapter": "wechat",
        "settings": {"api_base": f"http://127.0.0.1:{port}", "app_id": app_id, "app_secret": server.app_secret, "seal_key": secrets.token_urlsafe(24)},
    }
    env = {"HUB_CHANNELS__WECHAT__APP_ID": app_id, "HUB_CHANNELS__WECHAT__TOKEN": token, "HUB_CHANNELS__WECHAT__ENCODING_AES_KEY": aes_key}
    return Peer(
        "wechat",
        port,
        lambda: create_server(server),
        destination,
        "sandbox WeChat API: access tokens, the hub's template messages; GET /sandbox/state",
        act=WeChatFollower(follower, server).act,
        env=env,
    )
