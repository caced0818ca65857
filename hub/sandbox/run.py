"""`hotline-hub sandbox`: the hub on its embedded default (a SQLite file) with sandbox peers
on loopback and a little demo traffic, so a newcomer sees cases flow end to end.

Nothing here is used in production: the peers are simulators, the keys are fixed and
printed, and the demo agent makes up citizens.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable

import httpx

from hub.domain.clock import LOCAL_TZ
from hub.domain.model import Role

log = logging.getLogger("hub.sandbox")

# Fixed sandbox keys, so the README can show curl commands that work.
KEYS = {
    "agent": ("centre-agent", Role.AGENT, {}, "hub_sandboxagent_" + "a" * 24),
    "supervisor": ("centre-supervisor", Role.SUPERVISOR, {}, "hub_sandboxsuper_" + "s" * 24),
    "unit": ("ZY-SCJGJ", Role.UNIT, {"unit_code": "ZY-SCJGJ"}, "hub_sandboxunit_" + "u" * 24),
    "county": ("yanjiang", Role.COUNTY, {"divisions": ["512002"]}, "hub_sandboxyj_" + "y" * 24),
    "anyue": ("anyue", Role.COUNTY, {"divisions": ["512021"]}, "hub_sandboxay_" + "a" * 24),
    "lezhi": ("lezhi", Role.COUNTY, {"divisions": ["512022"]}, "hub_sandboxlz_" + "l" * 24),
    "gaoxin": ("gaoxin", Role.COUNTY, {"divisions": ["512071"]}, "hub_sandboxgx_" + "g" * 24),
    "linkong": ("linkong", Role.COUNTY, {"divisions": ["512072"]}, "hub_sandboxlk_" + "k" * 24),
}


@dataclass
class Peer:
    """A sandbox peer: its app, where it listens, and the destination config that points the hub at it."""

    name: str
    port: int
    app_factory: Callable[[], Any]
    destination: dict[str, Any] | None = None
    describe: str = ""


def peers(base_port: int) -> list[Peer]:
    from hub.sandbox.webhook_sink import create_sink

    found = [Peer("webhook-sink", base_port + 1, create_sink,
                  {"adapter": "webhook", "settings": {"url": f"http://127.0.0.1:{base_port + 1}/events", "system": "sink"},
                   "events": ["case.*"]},
                  "receives every case event as canonical JSON: GET /received")]
    found.extend(_feature_peers(base_port))
    return found


def _feature_peers(base_port: int) -> list[Peer]:
    """Peers contributed by features (province, counties, legacy lines)."""
    from hub.features import load_features

    extra: list[Peer] = []
    for feature in load_features():
        contribute = getattr(feature, "sandbox_peers", None)
        if contribute is not None:
            extra.extend(contribute(base_port))
    return extra


def _start_peer(peer: Peer) -> None:
    import uvicorn

    config = uvicorn.Config(peer.app_factory(), host="127.0.0.1", port=peer.port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, name=f"peer-{peer.name}", daemon=True).start()


def provisional_calendar(hub, horizon_days: int = 120) -> int:
    """The published calendar ends with the last year the State Council announced. For the
    sandbox only, days past it are filled Monday-to-Friday so demo deadlines can be computed;
    each is noted as provisional. A production hub never does this: it refuses and asks an
    operator for the real calendar."""
    from hub.domain.calendar import CalendarUnknown

    calendar = hub.calendars.calendar()
    today = hub.clock.now().astimezone(LOCAL_TZ).date()
    added = 0
    for offset in range(horizon_days):
        day = today + timedelta(days=offset)
        try:
            calendar.is_workday(day)
        except CalendarUnknown:
            hub.calendars.set(day, day.weekday() < 5, "sandbox: provisional Mon-Fri, not the official calendar", "sandbox", hub.clock.now())
            added += 1
    return added


TITLES = [
    ("complaint", "0101", "夜间施工噪音扰民", "小区旁工地夜间施工，噪音很大，影响休息。"),
    ("enquiry", "0301", "社保卡补办流程咨询", "社保卡丢失了，想知道在哪里补办，需要什么材料。"),
    ("help", "0101", "路灯损坏求助", "小区门口路灯坏了一周，晚上出行不安全。"),
    ("suggestion", "0101", "建议增设公交站点", "建议在新建小区附近增设公交站点，方便居民出行。"),
    ("report", "0202", "举报无证经营餐馆", "街边有餐馆无证经营，卫生条件差。"),
]


class DemoAgent(threading.Thread):
    """Registers a case every few seconds and moves older ones along their lifecycle."""

    STEPS = [
        ("agent", {"action": "accept"}),
        ("agent", {"action": "dispatch", "lead_unit": "ZY-SCJGJ"}),
        ("unit", {"action": "sign_off"}),
        ("unit", {"action": "reply", "text": "已安排执法人员现场处理，问题已解决。"}),
        ("supervisor", {"action": "review_reply", "approved": True}),
        ("agent", {"action": "follow_up", "reached": True, "resolved": True, "satisfaction": "satisfied"}),
    ]

    def __init__(self, base_url: str, interval: float = 4.0) -> None:
        super().__init__(name="demo-agent", daemon=True)
        self.base_url, self.interval = base_url, interval
        self.progress: dict[str, int] = {}
        self.adopted: queue.SimpleQueue[str] = queue.SimpleQueue()  # cases registered by others (the province)
        self.stopping = threading.Event()

    def adopt(self, number: str) -> None:
        """Move a case someone else registered (e.g. pulled from the province) along its lifecycle too."""
        self.adopted.put(number)

    def run(self) -> None:
        clients = {name: httpx.Client(base_url=self.base_url, headers={"X-API-Key": key}, timeout=10)
                   for name, (_, _, _, key) in KEYS.items()}
        rng = random.Random(12345)
        while not self.stopping.wait(self.interval):
            try:
                self._tick(clients, rng)
            except httpx.HTTPError as exc:
                log.warning("demo agent: %s", exc)

    def _tick(self, clients: dict[str, httpx.Client], rng: random.Random) -> None:
        kind, category, title, content = rng.choice(TITLES)
        body = {
            "intake": {"channel": "phone", "received_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())},
            "person": {"name": rng.choice(["张三", "李四", "王五"]), "phone": f"138{rng.randrange(10**8):08d}"},
            "request_type": kind, "category_code": category, "title": title, "content": content,
            "place": {"address": "雁江区建设路12号", "division_code": "512002"},
        }
        created = clients["agent"].post("/api/v1/cases", json=body)
        if created.status_code == 201:
            number = created.json()["number"]
            self.progress[number] = 0
            log.info("demo: registered %s (%s)", number, title)
        while not self.adopted.empty():
            self.progress.setdefault(self.adopted.get(), 0)
        for number, step in list(self.progress.items()):
            if step >= len(self.STEPS):
                del self.progress[number]
                continue
            who, action = self.STEPS[step]
            r = clients[who].post(f"/api/v1/cases/{number}/actions", json=action)
            if r.status_code == 200:
                self.progress[number] = step + 1
                log.info("demo: %s %s -> %s", number, action["action"], r.json()["state"])
            else:
                log.warning("demo: %s %s refused: %s", number, action["action"], r.json().get("detail"))
                del self.progress[number]


class ProvinceWatch(threading.Thread):
    """Says on the console what crosses the provincial exchange: city cases the relay reported
    up to the sandbox province, and cases the province assigned that the poller brought down
    (which the demo agent then dispatches, so their status changes go back up)."""

    def __init__(self, province_url: str, demo: DemoAgent | None = None, every: float = 1.0) -> None:
        super().__init__(name="province-watch", daemon=True)
        self.url, self.demo, self.every = province_url, demo, every
        self.stopping = threading.Event()
        self._reported: set[str] = set()
        self._acked: set[str] = set()
        self._pushed: dict[str, int] = {}

    def assign_one(self) -> str | None:
        """省转办 at once, so a newcomer sees a case come down without waiting for the province's timer."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                return str(httpx.post(f"{self.url}/sandbox/assign", json={}, timeout=5).json()["ProvinceCaseId"])
            except (httpx.HTTPError, ValueError, KeyError):
                time.sleep(0.2)  # the peer is still starting
        log.warning("sandbox province at %s did not answer; no case assigned", self.url)
        return None

    def run(self) -> None:
        while not self.stopping.wait(self.every):
            try:
                self.look()
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                log.warning("province watch: %s", exc)

    def look(self) -> None:
        state = httpx.get(f"{self.url}/sandbox/state", timeout=5).json()
        for province_id, order in state["reported"].items():
            if province_id not in self._reported:
                self._reported.add(province_id)
                log.info("province: UP   city case %s reported to the sandbox province (its id %s)", order["CityCaseNo"], province_id)
        for province_id, number in state["acks"].items():
            if province_id not in self._acked:
                self._acked.add(province_id)
                log.info("province: DOWN case %s assigned by the province, pulled once and acknowledged as hub case %s",
                         province_id, number)
                if self.demo is not None:
                    self.demo.adopt(number)
        for province_id, number in state["acks"].items():  # what the hub did with the province's cases goes back up
            pushes = state["statuses"].get(province_id, [])
            for push in pushes[self._pushed.get(province_id, 0):]:
                log.info("province: UP   status %s of province case %s (hub case %s)", push["StatusCode"], province_id, number)
            self._pushed[province_id] = len(pushes)


def run_sandbox(port: int, data_dir: Path, demo_interval: float = 4.0) -> int:
    import uvicorn

    from hub.api.app import create_app
    from hub.db.migrate import upgrade
    from hub.logmask import configure_logging
    from hub.runtime import build_hub
    from hub.settings import DestinationConfig, Settings

    configure_logging("INFO")
    data_dir.mkdir(parents=True, exist_ok=True)
    sandbox_peers = peers(port)
    destinations = {p.name: DestinationConfig.model_validate(p.destination) for p in sandbox_peers if p.destination}
    settings = Settings(database_url=f"sqlite:///{data_dir / 'hub.db'}", port=port, destinations=destinations)
    for peer in sandbox_peers:
        _start_peer(peer)
    hub = build_hub(settings)
    upgrade(hub.db.writer)
    existing = {k.party for k in hub.keys.list()}
    for party, role, scope, key in KEYS.values():
        if party not in existing:
            hub.keys.create(party, role, hub.clock.now(), note="sandbox", key=key, **scope)
    added = provisional_calendar(hub)
    if added:
        log.warning("sandbox: %d days past the published calendar were filled Mon-Fri (provisional)", added)
    app = create_app(hub)
    demo = DemoAgent(f"http://127.0.0.1:{port}", interval=demo_interval)
    province = next((p for p in sandbox_peers if p.name == "province"), None)
    watch = ProvinceWatch(f"http://127.0.0.1:{province.port}", demo) if province is not None else None
    if watch is not None:
        # The sandbox province starts with an empty list each run; a cursor kept in var/ from the
        # last run would skip its first cases.
        for poller in hub.extras.get("province.pollers", []):
            poller.reset_cursor()
        watch.assign_one()  # before the poller's first round, which then brings it down at once
    for worker in hub.workers:
        worker.start()
    demo.start()
    if watch is not None:
        watch.start()
    _banner(port, sandbox_peers)
    try:
        uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    finally:
        demo.stopping.set()
        if watch is not None:
            watch.stopping.set()
        for worker in reversed(hub.workers):
            worker.stop()
        hub.close()
    return 0


def _banner(port: int, sandbox_peers: list[Peer]) -> None:
    lines = [
        "",
        f"12345 hub sandbox: http://127.0.0.1:{port}/api/v1/docs  (SQLite file under var/sandbox/)",
        "keys (sandbox only):",
        *[f"  {name:<10} {key}" for name, (_, _, _, key) in KEYS.items()],
        "peers:",
        *[f"  {p.name:<14} http://127.0.0.1:{p.port}  {p.describe}" for p in sandbox_peers],
        f"try: curl -H 'X-API-Key: {KEYS['agent'][3]}' http://127.0.0.1:{port}/api/v1/cases",
        "watch the log: 'province: UP' lines are city cases reported to the province, 'province: DOWN' lines cases it assigned",
        "",
    ]
    print("\n".join(lines), flush=True)
