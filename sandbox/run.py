"""`hotline-hub sandbox`: the hub on its embedded default (a SQLite file) with sandbox peers
on loopback and a little demo traffic, so a newcomer sees cases flow end to end.

Nothing here is used in production: the peers are simulators, the keys (and the signing
counties' secrets, unless the environment has them) are fixed and printed, and the demo
agent makes up citizens. Each peer's own system acts now and then (a county answers what was
dispatched to it and pushes tickets, a 双号并行 line takes calls), and the console says what
crossed: 'province: UP/DOWN', 'county <id>: DOWN/UP', 'legacy <line>: OUT/IN'.

About 400 lines on purpose: the start, the demo agent and the peers' rounds are one run read
top to bottom; the peers themselves live with their features (`sandbox_peers`).
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from adapters.province.handle import ProvincePollers
from console.accounts import Accounts
from hub.api.app import create_app
from hub.db.migrate import upgrade
from hub.domain.model import Role
from hub.features import Peer, PeerUnit, load_features
from hub.logmask import configure_logging
from hub.runtime import build_hub
from hub.settings import DestinationConfig, Settings
from sandbox.webhook_sink import create_sink

log = logging.getLogger("hub.sandbox")

# Fixed sandbox keys, so the README can show curl commands that work.
KEYS: dict[str, tuple[str, Role, dict[str, Any], str]] = {
    "agent": ("centre-agent", Role.AGENT, {}, "hub_sandboxagent_" + "a" * 24),
    "supervisor": ("centre-supervisor", Role.SUPERVISOR, {}, "hub_sandboxsuper_" + "s" * 24),
    "unit": ("ZY-SCJGJ", Role.UNIT, {"unit_code": "ZY-SCJGJ"}, "hub_sandboxunit_" + "u" * 24),
    "county": ("yanjiang", Role.COUNTY, {"divisions": ["512002"]}, "hub_sandboxyj_" + "y" * 24),
    "anyue": ("anyue", Role.COUNTY, {"divisions": ["512021"]}, "hub_sandboxay_" + "a" * 24),
    "lezhi": ("lezhi", Role.COUNTY, {"divisions": ["512022"]}, "hub_sandboxlz_" + "l" * 24),
    "gaoxin": ("gaoxin", Role.COUNTY, {"divisions": ["512071"]}, "hub_sandboxgx_" + "g" * 24),
    "linkong": ("linkong", Role.COUNTY, {"divisions": ["512072"]}, "hub_sandboxlk_" + "k" * 24),
    "health": ("ZY-WJW", Role.UNIT, {"unit_code": "ZY-WJW"}, "hub_sandboxwjw_" + "w" * 24),
    "portal": ("city-portal", Role.CHANNEL, {"channel": "web"}, "hub_sandboxweb_" + "w" * 24),  # channels/sandbox.py
}

# Console accounts (sandbox only): a person per kind of desk, one shared password.
CONSOLE_PASSWORD = "sandbox-12345"
CONSOLE_ACCOUNTS: dict[str, tuple[str, Role, dict[str, Any]]] = {
    "demo-agent": ("话务员 演示", Role.AGENT, {}),
    "demo-supervisor": ("班长 演示", Role.SUPERVISOR, {}),
    "demo-unit": ("市场监管局 演示", Role.UNIT, {"unit_code": "ZY-SCJGJ"}),
}

# Key name of each unit that has a sandbox key, by unit code.
UNIT_KEYS = {scope["unit_code"]: name for name, (_, role, scope, _) in KEYS.items() if role is Role.UNIT}


def run_stamp() -> str:
    """Six characters unique to this run. Sandbox peers start empty each run while the hub's
    SQLite file keeps what earlier runs left: ids a peer makes up (a county's ticket numbers,
    a line's case ids) carry the stamp so they never collide with an earlier run's."""
    n, out = int(time.time()), ""
    while n:
        n, digit = divmod(n, 36)
        out = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[digit] + out
    return out[-6:]


def peers(base_port: int) -> list[Peer]:
    found = [
        Peer(
            "webhook-sink",
            base_port + 1,
            create_sink,
            {"adapter": "webhook", "settings": {"url": f"http://127.0.0.1:{base_port + 1}/events", "system": "sink"}, "events": ["case.*"]},
            "receives every case event as canonical JSON: GET /received",
        )
    ]
    found.extend(_feature_peers(base_port))
    return found


def _feature_peers(base_port: int) -> list[Peer]:
    """Peers contributed by features (province, counties, legacy lines)."""
    return [peer for feature in load_features() for peer in feature.sandbox_peers(base_port)]


def _start_peer(peer: Peer) -> None:
    # log_config=None: uvicorn would otherwise install its own handlers on its loggers (a race
    # with the peers starting in other threads printed some lines in its own format).
    config = uvicorn.Config(peer.app_factory(), host="127.0.0.1", port=peer.port, log_config=None, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, name=f"peer-{peer.name}", daemon=True).start()


# In this order the first few cases show every kind of traffic: a market-regulation case
# (双号并行 line 12315) and a health case (12320) among the first three.
TITLES = [
    ("complaint", "0101", "夜间施工噪音扰民", "小区旁工地夜间施工，噪音很大，影响休息。"),
    ("report", "0202", "举报无证经营餐馆", "街边有餐馆无证经营，卫生条件差。"),
    ("complaint", "0601", "医院收费不透明", "某医院检查收费与公示价格不符，请求核查。"),
    ("enquiry", "0301", "社保卡补办流程咨询", "社保卡丢失了，想知道在哪里补办，需要什么材料。"),
    ("help", "0101", "路灯损坏求助", "小区门口路灯坏了一周，晚上出行不安全。"),
    ("suggestion", "0101", "建议增设公交站点", "建议在新建小区附近增设公交站点，方便居民出行。"),
]
CITY_UNIT = "ZY-SCJGJ"  # the city unit the demo dispatches to, unless CATEGORY_UNITS names another
CATEGORY_UNITS = {"06": "ZY-WJW"}  # category group -> the city unit the demo dispatches it to
WAIT_LIMIT = 300.0  # seconds the demo waits for a county's reply before it lets the case be

Step = tuple[str, dict[str, Any]]  # (sandbox key name, action body); key "wait": until the case is in body["state"]


def city_steps(unit: str) -> list[Step]:
    """A city unit's case: the demo plays the centre and the unit."""
    who = UNIT_KEYS[unit]
    return [
        ("agent", {"action": "accept"}),
        ("agent", {"action": "dispatch", "lead_unit": unit}),
        (who, {"action": "sign_off"}),
        (who, {"action": "reply", "text": "已安排执法人员现场处理，问题已解决。"}),
        ("supervisor", {"action": "review_reply", "approved": True}),
        ("agent", {"action": "follow_up", "reached": True, "resolved": True, "satisfaction": "satisfied"}),
    ]


def county_steps(unit: str) -> list[Step]:
    """A county unit's case: the demo plays the centre; the county's own system (its sandbox)
    receives the dispatch through the outbox and sends its sign-off and reply back."""
    return [
        ("agent", {"action": "accept"}),
        ("agent", {"action": "dispatch", "lead_unit": unit}),
        ("wait", {"state": "replied"}),
        ("supervisor", {"action": "review_reply", "approved": True}),
        ("agent", {"action": "follow_up", "reached": True, "resolved": True, "satisfaction": "satisfied"}),
    ]


def city_unit(category: str) -> str:
    return next((u for prefix, u in CATEGORY_UNITS.items() if category.startswith(prefix)), CITY_UNIT)


@dataclass
class Plan:
    steps: list[Step]
    at: int = 0
    since: float = field(default_factory=time.monotonic)  # when the current step began (for waits)


class DemoAgent(threading.Thread):
    """Registers a case every few seconds and moves older ones along their lifecycle. Every
    second case goes to a county unit (when sandbox counties run), in turn; the others to a
    city unit."""

    def __init__(self, base_url: str, interval: float = 4.0, county_units: list[PeerUnit] | None = None) -> None:
        super().__init__(name="demo-agent", daemon=True)
        self.base_url, self.interval = base_url, interval
        self.county_units = list(county_units or [])
        self.progress: dict[str, Plan] = {}
        self.registered = 0
        # cases registered by others (the province, a county, a legacy line): (number, unit or None)
        self.adopted: queue.SimpleQueue[tuple[str, str | None]] = queue.SimpleQueue()
        self.stopping = threading.Event()

    def adopt(self, number: str, unit: str | None = None) -> None:
        """Move a case someone else registered along its lifecycle too: dispatched to `unit`,
        or to the city unit for its category."""
        self.adopted.put((number, unit))

    def run(self) -> None:
        clients = {name: httpx.Client(base_url=self.base_url, headers={"X-API-Key": key}, timeout=10) for name, (_, _, _, key) in KEYS.items()}
        rng = random.Random(12345)
        while not self.stopping.wait(self.interval):
            try:
                self._tick(clients, rng)
            except httpx.HTTPError as exc:
                log.warning("demo agent: %s", exc)

    def _steps(self, unit: str) -> list[Step]:
        return county_steps(unit) if any(u.unit == unit for u in self.county_units) else city_steps(unit)

    def _register(self, clients: dict[str, httpx.Client], rng: random.Random) -> None:
        n, self.registered = self.registered, self.registered + 1
        kind, category, title, content = TITLES[(n // 2) % len(TITLES)]
        place, unit = {"address": "雁江区建设路12号", "division_code": "512002"}, city_unit(category)
        if self.county_units and n % 2 == 1:
            target = self.county_units[(n // 2) % len(self.county_units)]
            place, unit = {"address": f"{target.area}人民路{rng.randrange(1, 200)}号", "division_code": target.division}, target.unit
        body = {
            "intake": {"channel": "phone", "received_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())},
            "person": {"name": rng.choice(["张三", "李四", "王五"]), "phone": f"138{rng.randrange(10**8):08d}"},
            "request_type": kind,
            "category_code": category,
            "title": title,
            "content": content,
            "place": place,
        }
        created = clients["agent"].post("/api/v1/cases", json=body)
        if created.status_code == 201:
            number = created.json()["number"]
            self.progress[number] = Plan(self._steps(unit))
            log.info("demo: registered %s (%s), for %s", number, title, unit)

    def _adopt_waiting(self, clients: dict[str, httpx.Client]) -> None:
        while not self.adopted.empty():
            number, unit = self.adopted.get()
            if number in self.progress:
                continue
            if unit is None:
                r = clients["agent"].get(f"/api/v1/cases/{number}")
                if r.status_code != 200:
                    log.warning("demo: cannot read adopted case %s: %s", number, r.status_code)
                    continue
                unit = city_unit(str(r.json().get("category_code", "")))
            self.progress[number] = Plan(self._steps(unit))

    def _tick(self, clients: dict[str, httpx.Client], rng: random.Random) -> None:
        self._register(clients, rng)
        self._adopt_waiting(clients)
        for number, plan in list(self.progress.items()):
            if plan.at >= len(plan.steps):
                del self.progress[number]
                continue
            who, action = plan.steps[plan.at]
            if who == "wait":
                state = clients["agent"].get(f"/api/v1/cases/{number}").json().get("state")
                if state == action["state"]:
                    plan.at, plan.since = plan.at + 1, time.monotonic()
                elif time.monotonic() - plan.since > WAIT_LIMIT:
                    log.warning("demo: %s still %s after %.0f s, not %s; the demo leaves it", number, state, WAIT_LIMIT, action["state"])
                    del self.progress[number]
                continue
            r = clients[who].post(f"/api/v1/cases/{number}/actions", json=action)
            if r.status_code == 200:
                plan.at, plan.since = plan.at + 1, time.monotonic()
                log.info("demo: %s %s -> %s", number, action["action"], r.json()["state"])
            elif r.status_code == 409 and action["action"] == "follow_up":
                # The citizen rated the reply first, through the public route (channels/sandbox.py).
                log.info("demo: %s followed up already (the citizen's own rating)", number)
                del self.progress[number]
            else:
                log.warning("demo: %s %s refused: %s", number, action["action"], r.json().get("detail"))
                del self.progress[number]


class PeersAtWork(threading.Thread):
    """Lets each sandbox peer's own system act once per demo round (a county answers what was
    dispatched to it or pushes a ticket, a line takes a call) and hands the cases they brought
    into the hub to the demo agent."""

    def __init__(self, acts: list[Callable[[], list[tuple[str, str | None]]]], demo: DemoAgent, every: float) -> None:
        super().__init__(name="sandbox-peers-at-work", daemon=True)
        self.acts, self.demo, self.every = acts, demo, every
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.every):
            for act in self.acts:
                try:
                    for number, unit in act():
                        self.demo.adopt(number, unit)
                except (httpx.HTTPError, ValueError) as exc:  # a peer's call to the hub failed or answered no JSON
                    log.warning("sandbox peer: %s", exc)


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
                log.info("province: DOWN case %s assigned by the province, pulled once and acknowledged as hub case %s", province_id, number)
                if self.demo is not None:
                    self.demo.adopt(number)
        for province_id, number in state["acks"].items():  # what the hub did with the province's cases goes back up
            pushes = state["statuses"].get(province_id, [])
            for push in pushes[self._pushed.get(province_id, 0) :]:
                log.info("province: UP   status %s of province case %s (hub case %s)", push["StatusCode"], province_id, number)
            self._pushed[province_id] = len(pushes)


def run_sandbox(port: int, data_dir: Path, demo_interval: float = 4.0) -> int:
    configure_logging("INFO")
    data_dir.mkdir(parents=True, exist_ok=True)
    # One line per step of the start (several seconds in all), so it is never silent for long.
    log.info("sandbox: loading the features and their sandbox peers")
    sandbox_peers = peers(port)
    env = {name: value for p in sandbox_peers for name, value in p.env.items()}
    made_up = {name: value for name, value in env.items() if name not in os.environ}
    os.environ.update(made_up)  # this process only: `serve` never sees these
    destinations = {p.name: DestinationConfig.model_validate(p.destination) for p in sandbox_peers if p.destination}
    settings = Settings(database_url=f"sqlite:///{data_dir / 'hub.db'}", port=port, destinations=destinations)
    log.info("sandbox: starting %d peers on ports %d-%d", len(sandbox_peers), min(p.port for p in sandbox_peers), max(p.port for p in sandbox_peers))
    for peer in sandbox_peers:
        _start_peer(peer)
    log.info("sandbox: opening the hub on %s and bringing its schema up to date", data_dir / "hub.db")
    hub = build_hub(settings)
    upgrade(hub.db.writer)
    log.info("sandbox: sandbox keys and console accounts")
    existing = {k.party for k in hub.keys.list()}
    for party, role, scope, key in KEYS.values():
        if party not in existing:
            hub.keys.create(party, role, hub.clock.now(), note="sandbox", key=key, **scope)
    accounts = hub.handles.get(Accounts)
    have = {o.username for o in accounts.list()}
    for username, (name, role, scope) in CONSOLE_ACCOUNTS.items():
        if username not in have:
            accounts.create(username, role, CONSOLE_PASSWORD, name, **scope)
    log.info("sandbox: building the API and the console")
    app = create_app(hub)
    # County units in turn, one county after another, so every county sees a case early.
    county_units = [u for round_ in itertools.zip_longest(*(p.units for p in sandbox_peers)) for u in round_ if u]
    demo = DemoAgent(f"http://127.0.0.1:{port}", interval=demo_interval, county_units=county_units)
    at_work = PeersAtWork([p.act for p in sandbox_peers if p.act is not None], demo, every=demo_interval)
    province = next((p for p in sandbox_peers if p.name == "province"), None)
    watch = ProvinceWatch(f"http://127.0.0.1:{province.port}", demo) if province is not None else None
    if watch is not None:
        log.info("sandbox: the sandbox province assigns a first case")
        # The sandbox province starts with an empty list each run; a cursor kept in var/ from the
        # last run would skip its first cases.
        for poller in hub.handles.get(ProvincePollers).pollers:
            poller.reset_cursor()
        watch.assign_one()  # before the poller's first round, which then brings it down at once
    for peer in sandbox_peers:
        if peer.prepare is not None:
            peer.prepare(hub)
    log.info("sandbox: starting %d workers (relays, pollers, scheduler) and the demo traffic", len(hub.workers))
    for worker in hub.workers:
        worker.start()
    demo.start()
    at_work.start()
    if watch is not None:
        watch.start()
    _banner(port, sandbox_peers, made_up, sorted(set(env) - set(made_up)))
    try:
        uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    finally:
        demo.stopping.set()
        at_work.stopping.set()
        if watch is not None:
            watch.stopping.set()
        for worker in reversed(hub.workers):
            worker.stop()
        hub.close()
    return 0


def _banner(port: int, sandbox_peers: list[Peer], made_up: dict[str, str], kept: list[str]) -> None:
    lines = [
        "",
        f"12345 hub sandbox: http://127.0.0.1:{port}/api/v1/docs  (SQLite file under var/sandbox/)",
        f"console: http://127.0.0.1:{port}/console/  sign in as {', '.join(CONSOLE_ACCOUNTS)}, password {CONSOLE_PASSWORD} (sandbox only)",
        "keys (sandbox only):",
        *[f"  {name:<10} {key}" for name, (_, _, _, key) in KEYS.items()],
        *(["signing secrets, set for this sandbox process only:"] if made_up else []),
        *[f"  {name}={value}" for name, value in made_up.items()],
        *[f"  {name} kept from the environment" for name in kept],
        "peers:",
        *[f"  {p.name:<14} http://127.0.0.1:{p.port}  {p.describe}" for p in sandbox_peers],
        f"try: curl -H 'X-API-Key: {KEYS['agent'][3]}' http://127.0.0.1:{port}/api/v1/cases",
        "watch the log:",
        "  'province: UP'         city cases and their status changes reported to the province",
        "  'province: DOWN'       cases the province assigned, pulled into the hub",
        "  'county <id>: DOWN'    cases dispatched to a county's unit, received by its system in its own shape",
        "  'county <id>: UP'      tickets a county registered itself and its sign-offs and replies, pushed or polled",
        "  'legacy <line>: OUT'   12345 cases in a 双号并行 line's domain handed over, and status changes pushed to it",
        "  'legacy <line>: IN'    cases the line took itself, pulled into the hub",
        "  'channel web: IN'      a citizen's case filed through the city portal; 'sms: to …' what the SMS gateway got;",
        "                         'channel web: LOOKUP' / 'RATED' the citizen looking it up and rating the reply with the code",
        "",
    ]
    print("\n".join(lines), flush=True)
