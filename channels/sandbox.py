"""`make run`: the sandbox SMS gateway and a web citizen at work. Every few demo rounds the
citizen files a case through the city portal's channel key; each round it reads the SMS the
gateway received, looks its cases up with the code from the receipt SMS, and rates a reply
once it may. The log says what crossed: `channel web: IN`, `sms: to 139****...`,
`channel web: LOOKUP`, `channel web: RATED`."""

from __future__ import annotations

import logging
import random
import re
import secrets
from datetime import datetime, timezone
from typing import Any

import httpx

from adapters.sms.sandbox import GatewayState, create_gateway, describe
from hub.features import Peer

log = logging.getLogger("hub.sandbox.channels")

SANDBOX_PORT_OFFSET = 70  # the gateway listens on --port + 70
PORTAL_KEY = "hub_sandboxweb_" + "w" * 24  # the city portal's channel key (hub/sandbox/run.py KEYS)
RECEIPT = re.compile(r"工单号(\d+)，提取码([A-Z0-9]{6})")
FILINGS = [
    ("complaint", "0101", "网站留言：小区垃圾清运不及时", "小区垃圾已经三天没有清运，气味很大，请尽快处理。"),
    ("help", "0101", "网站留言：楼道灯坏了", "单元楼道灯坏了很久，老人晚上上下楼不安全。"),
    ("enquiry", "0301", "网站留言：医保异地备案怎么办", "想了解医保异地就医备案需要哪些材料。"),
]
RATINGS = ["satisfied", "basically_satisfied", "unsatisfied"]


class WebCitizen:
    def __init__(self, hub_url: str, gateway: GatewayState, file_every: int = 3) -> None:
        self.hub_url = hub_url
        self.gateway = gateway
        self.file_every = file_every
        self.rounds = 0
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
            "intake": {"channel": "web", "received_at": _now()}, "person": {"name": "网友", "phone": phone, "kind": "person"},
            "request_type": kind, "category_code": category, "title": title, "content": content,
            "place": {"address": "雁江区建设路", "division_code": "512002"}}
        resp = client.post("/api/v1/channel/cases", json=body, headers={"X-API-Key": PORTAL_KEY})
        if resp.status_code != 201:
            log.warning("channel web: intake refused %s", resp.status_code)
            return None
        number = resp.json()["case"]["number"]
        log.info("channel web: IN %s filed through the city portal (the code went to the citizen by SMS)", number)
        return number

    def _read_sms(self) -> None:
        with self.gateway.lock:
            new = self.gateway.messages[self.seen_sms:]
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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def sandbox_peers(base_port: int) -> list[Any]:
    port = base_port + SANDBOX_PORT_OFFSET
    state = GatewayState()
    citizen = WebCitizen(f"http://127.0.0.1:{base_port}", state)
    # Named "sms": settings.channels.sms_destination. A seal key made up for this run: the sandbox's
    # outbox is its own (a restart strands only demo SMS).
    destination = {"adapter": "sms", "settings": {"url": f"http://127.0.0.1:{port}/send", "seal_key": secrets.token_urlsafe(24)}}
    return [Peer("sms", port, lambda: create_gateway(state), destination,
                 "sandbox SMS gateway: receipts with codes, replies, invitations to rate, closings; GET /messages",
                 act=citizen.act)]
