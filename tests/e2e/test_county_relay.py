"""Counties end to end through the real outbox relay, on SQLite and PostgreSQL: a case
dispatched to a county's unit goes out to that county's sandbox ticket system in the
county's own shape; later changes (督办, 预警 and 超期 from the scheduler, 重办, 办结) follow in
order under the county's own operation codes; the county's updates come back (pushed,
signed, or polled from its feed); a county endpoint failing 5xx or 429 is retried until it
answers."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from adapters.county.config import CountyConfig, load_counties
from adapters.county.mapping import format_date, get_path, set_path
from adapters.county.sandbox import CountySandboxState, create_app
from hub.domain.model import Role
from hub.settings import REPO_ROOT, OutboxSettings, Settings
from outbox.feature import OutboxHandle
from outbox.tables import DELIVERED, PENDING, OutboxMessageRow
from supervision.scheduler import Scheduler
from tests.support.factories import draft
from tests.support.live import LiveServer

pytestmark = pytest.mark.e2e

COUNTIES = load_counties(REPO_ROOT / "mappings")
SECRETS = {"HUB_COUNTY_YANJIANG_SECRET": "yj-secret-123", "HUB_COUNTY_ANYUE_SECRET": "ay-secret-456", "HUB_COUNTY_LINKONG_SECRET": "lk-secret-789"}


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


# The adapter gives up on an answer after TIMEOUT_SECONDS; the sandbox's "slow" fault answers
# later than that. Generous: on the hub's manual clock a timed-out delivery waits for its retry
# until the test moves the clock, so a busy machine's slow answer to a plain delivery would
# leave the rest of the case's messages behind it (drain stops when nothing is due).
TIMEOUT_SECONDS = 5.0
SLOW_SECONDS = 6.0


@pytest.fixture(scope="module")
def peers():
    """A sandbox ticket system per county, listening before the hub is built (its destinations
    point here); started once for the module, emptied before each test."""
    started: dict[str, tuple[CountySandboxState, LiveServer]] = {}
    try:
        for name, cfg in COUNTIES.items():
            state = CountySandboxState(cfg, slow_seconds=SLOW_SECONDS)
            started[name] = (state, LiveServer(create_app(state)).__enter__())
        yield started
    finally:
        for _, live in started.values():
            live.__exit__(None, None, None)


@pytest.fixture
def fresh_peers(peers):
    for state, _ in peers.values():
        with state.lock:
            for kept in (state.tickets, state.received, state.answers):
                kept.clear()
            state.order.clear()
            state.faults.clear()
            state.feed.clear()
            state.attempts = state.duplicates = state._seq = 0
    return peers


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


@pytest.fixture
def settings(db_url: str, fresh_peers) -> Settings:
    destinations = {}
    for name, (state, live) in fresh_peers.items():
        cfg = state.cfg
        county_settings = {"county": name, "url": live.url + _path(cfg.outbound.url), "timeout": TIMEOUT_SECONDS, "connect_timeout": TIMEOUT_SECONDS}
        if cfg.transport.poll_url:
            county_settings["poll_url"] = live.url + _path(cfg.transport.poll_url)
        # As docs/county.md configures a county: every case event offered, the adapter sends
        # what the county file lists for cases its units hold; the county's units call the citizen.
        destinations[f"county-{name}"] = {"adapter": "county", "settings": county_settings, "events": ["case.*"], "personal_data": True}
    return Settings(
        database_url=db_url,
        sqlite_synchronous="NORMAL",
        destinations=destinations,
        outbox=OutboxSettings(
            batch=20, concurrency=2, backoff_base_seconds=0.01, backoff_max_seconds=0.5, max_attempts=6, breaker_failures=50, lease_seconds=30
        ),
    )


@pytest.fixture
def counties(hub, server, clock, peers) -> dict[str, CountySandboxState]:
    """The sandbox counties, now holding their hub key (and secret), signing on the hub's clock."""
    out = {}
    for name, (state, _) in peers.items():
        cfg = state.cfg
        state.hub_url = server.url
        state.api_key = hub.keys.create(cfg.key_party, Role.COUNTY, clock.now(), divisions=list(cfg.divisions))
        state.secret = SECRETS.get(cfg.security.hmac_secret_env or "")
        state.clock = lambda: clock.now().timestamp()
        out[name] = state
    return out


def relay(hub):
    return hub.handles.get(OutboxHandle).relay()


def act(client, number: str, **action) -> dict:
    resp = client.post(f"/api/v1/cases/{number}/actions", json=action)
    assert resp.status_code == 200, resp.text
    return resp.json()


def dispatch_row(hub, destination: str, number: str) -> OutboxMessageRow:
    with hub.db.read() as s:
        return s.execute(
            select(OutboxMessageRow).where(
                OutboxMessageRow.destination == destination, OutboxMessageRow.case_number == number, OutboxMessageRow.event_type == "case.dispatched"
            )
        ).scalar_one()


def lead_unit(cfg: CountyConfig) -> str:
    return next(iter(cfg.codes.unit.values()))


def field_for(cfg: CountyConfig, source: str) -> str:
    """The county's path for a source (e.g. 'op', 'case.number') in its outbound.fields."""
    return next(target for target, spec in cfg.outbound.fields.items() if spec.source == source)


def received(state: CountySandboxState) -> list[dict]:
    with state.lock:
        return [state.received[k] for k in state.order]


def dispatch_to(api, cfg: CountyConfig, **changes) -> str:
    body = draft(**{"place.division_code": cfg.divisions[0], "place.address": f"{cfg.name_zh}某路1号", **changes})
    resp = api["agent"].post("/api/v1/cases", json=body)
    assert resp.status_code == 201, resp.text
    number = resp.json()["number"]
    act(api["agent"], number, action="accept")
    act(api["agent"], number, action="dispatch", lead_unit=lead_unit(cfg), co_units=["ZY-SCJGJ"])
    return number


def co_unit_replies(api, number: str) -> None:
    """协办: the city's co-unit (ZY-SCJGJ) signs off and replies its part, so the county's
    lead may reply the case."""
    act(api["unit"], number, action="sign_off_part")
    act(api["unit"], number, action="reply_part", text="已配合核查商家经营资质。")


class CountyDesk:
    """The county's side: its updates in its own shape, pushed (signed) or put in its feed and polled."""

    def __init__(self, hub, state: CountySandboxState, ticket_id: str) -> None:
        self.hub, self.state, self.cfg, self.ticket_id = hub, state, state.cfg, ticket_id
        self.kinds: dict[str, str] = {}
        for code, kind in self.cfg.codes.update_kind.items():
            self.kinds.setdefault(kind, code)
        self.n = 0

    def send(self, kind: str, when: datetime, text: str | None = None) -> None:
        f, self.n = self.cfg.update, self.n + 1
        update: dict = {}
        for path, value in [
            (f.kind, self.kinds[kind]),
            (f.at, format_date(self.cfg, when)),
            (f.ticket_id, self.ticket_id),
            (f.update_id, f"U{self.n}"),
            (f.text, text),
        ]:
            if path and value is not None:
                set_path(update, path, value)
        if self.cfg.transport.updates == "push":
            resp = self.state.push_update(self.ticket_id, update)
            assert resp.status_code == 200 and resp.json()["status"] == "applied", resp.text
            return
        with self.state.lock:
            self.state.feed.append(("updates", update))
        (poller,) = [w for w in self.hub.workers if getattr(w, "name", "") == f"county-poller-{self.cfg.county}"]
        result = poller.poll_once()
        assert result.updates == 1 and result.refused == [], result


def test_a_dispatched_case_reaches_only_its_county_in_the_county_shape(hub, api, counties) -> None:
    numbers = {name: dispatch_to(api, state.cfg) for name, state in counties.items()}
    city_only = api["agent"].post("/api/v1/cases", json=draft()).json()["number"]  # in 雁江区, but a city unit handles it
    act(api["agent"], city_only, action="accept")
    act(api["agent"], city_only, action="dispatch", lead_unit="ZY-SCJGJ")
    relay(hub).drain(120)

    for name, state in counties.items():
        cfg, number = state.cfg, numbers[name]
        (sent,) = received(state)  # its own case only; nothing of the other counties' or the city's
        assert get_path(sent, field_for(cfg, "op")) == cfg.outbound.events["case.dispatched"]
        assert get_path(sent, field_for(cfg, "case.number")) == number
        assert get_path(sent, field_for(cfg, "case.handling.lead_unit")) == cfg.reverse("unit")[lead_unit(cfg)]
        assert get_path(sent, field_for(cfg, "case.state")) == cfg.codes.status["awaiting_sign_off"]
        assert get_path(sent, field_for(cfg, "case.category_code")) == cfg.reverse("category")["0101"]
        assert get_path(sent, field_for(cfg, "case.request_type")) == cfg.reverse("request_type")["complaint"]
        ticket_id = get_path(sent, field_for(cfg, "ticket_id"))
        assert ticket_id and state.answers[state.order[0]] == ticket_id
        # Each side keeps the other's id: the county's answer is on the case, readable by the county.
        case = api["agent"].get(f"/api/v1/cases/{number}").json()
        assert {"system": cfg.system, "external_id": ticket_id} in [{k: r[k] for k in ("system", "external_id")} for r in case["external_refs"]]
        read = httpx.get(f"{state.hub_url}/api/v1/counties/{name}/tickets/{ticket_id}", headers={"X-API-Key": state.api_key})
        assert read.status_code == 200 and read.json()["case_number"] == number, read.text
    yj = counties["yanjiang"]
    sent = received(yj)[0]
    assert sent["caller"] == {"name": "张三", "mobile": "13800138000", "secret": False}
    assert sent["handle"]["coUnits"] == ["ZY-SCJGJ"] and sent["opTime"] == "2025-09-26 10:00:00"
    with hub.db.read() as s:
        statuses = set(s.execute(select(OutboxMessageRow.status).where(OutboxMessageRow.case_number == city_only)).scalars())
    assert statuses == {DELIVERED}  # offered to every county, sent to none (the adapter's "not sent")


@pytest.mark.parametrize("name", ["yanjiang", "lezhi"])  # pushes signed updates / is polled for them
def test_later_changes_follow_in_order_and_the_county_updates_come_back(hub, api, counties, clock, name) -> None:
    state = counties[name]
    cfg = state.cfg
    number = dispatch_to(api, cfg)
    r = relay(hub)
    r.drain(120)
    ticket_id = get_path(received(state)[0], field_for(cfg, "ticket_id"))
    desk = CountyDesk(hub, state, ticket_id)
    supervisor, agent = api["supervisor"], api["agent"]

    act(supervisor, number, action="supervise", reason="群众多次来电，请加快办理")
    case = agent.get(f"/api/v1/cases/{number}").json()
    due = datetime.fromisoformat(case["handling"]["sign_off_due"])
    scheduler = Scheduler(hub)
    clock.set(due - timedelta(minutes=1))
    assert scheduler.run_once().warned == [f"{number}:sign_off"]  # 预警
    clock.set(due + timedelta(minutes=1))
    assert scheduler.run_once().overdue == [f"{number}:sign_off"]  # 超期

    desk.send("sign_off", clock.now())
    co_unit_replies(api, number)
    desk.send("reply", clock.now() + timedelta(minutes=5), "已联系商家整改。")
    clock.advance(timedelta(minutes=10))
    assert agent.get(f"/api/v1/cases/{number}").json()["state"] == "replied"
    act(supervisor, number, action="review_reply", approved=True)
    act(agent, number, action="follow_up", reached=True, resolved=False, satisfaction="unsatisfied")
    assert act(agent, number, action="redo")["state"] == "accepted"  # 重办
    act(agent, number, action="dispatch", lead_unit=lead_unit(cfg))
    desk.send("sign_off", clock.now() + timedelta(minutes=1))
    desk.send("reply", clock.now() + timedelta(minutes=2), "已督促商家退款，群众认可。")
    clock.advance(timedelta(minutes=5))
    act(supervisor, number, action="review_reply", approved=True)
    act(agent, number, action="follow_up", reached=False)  # the citizen cannot be reached: the supervisor closes (办结)
    assert act(supervisor, number, action="close")["state"] == "closed"
    r.drain(120)

    ops = cfg.outbound.events
    expected = [
        "case.dispatched",
        "case.supervised",
        "case.warned",
        "case.overdue",
        "case.reply_reviewed",
        "case.redo",
        "case.dispatched",
        "case.reply_reviewed",
        "case.closed",
    ]
    got = received(state)
    assert [get_path(m, field_for(cfg, "op")) for m in got] == [ops[e] for e in expected if e in ops]
    assert {get_path(m, field_for(cfg, "ticket_id")) for m in got} == {ticket_id}
    assert get_path(got[-1], field_for(cfg, "case.state")) == cfg.codes.status["closed"]
    with hub.db.read() as s:
        rows = list(
            s.execute(
                select(OutboxMessageRow)
                .where(OutboxMessageRow.destination == f"county-{name}", OutboxMessageRow.case_number == number)
                .order_by(OutboxMessageRow.sequence)
            ).scalars()
        )
    assert {m.status for m in rows} == {DELIVERED} and [m.sequence for m in rows] == list(range(1, len(rows) + 1))
    history = [h["action"] for h in agent.get(f"/api/v1/cases/{number}/history").json()]
    assert history.count("sign_off") == 2 and history.count("reply") == 2
    # No other county heard of it.
    assert all(received(other) == [] for other_name, other in counties.items() if other_name != name)


def test_a_county_failing_5xx_and_429_is_retried_until_it_answers(hub, api, counties, clock) -> None:
    state = counties["anyue"]
    with state.lock:
        state.faults = ["500", "503", "429", "slow"]
    number = dispatch_to(api, state.cfg)
    r = relay(hub)
    errors, waits = [], []
    for _ in range(4):
        r.drain(120)
        row = dispatch_row(hub, "county-anyue", number)
        assert row.status == PENDING, row.last_error
        errors.append(row.last_error)
        waits.append((row.available_at - clock.now()).total_seconds())
        clock.advance(timedelta(seconds=max(waits[-1], 0) + 0.1))
    assert "500" in errors[0] and "503" in errors[1] and "429" in errors[2] and "timed out" in errors[3].lower()
    assert waits[2] >= 2.0 and max(waits[0], waits[1], waits[3]) <= 0.5  # the county's Retry-After: 2 is a floor
    r.drain(120)
    row = dispatch_row(hub, "county-anyue", number)
    assert (row.status, row.attempts) == (DELIVERED, 5)
    # The slow answer was applied after we gave up on it; the retry carried the same key: one ticket.
    assert len(state.tickets) == 1 and len(state.order) == 1 and state.attempts == 5
    ticket_id = next(iter(state.tickets))
    case = api["agent"].get(f"/api/v1/cases/{number}").json()
    assert any(r["system"] == "county.anyue" and r["external_id"] == ticket_id for r in case["external_refs"])


def test_a_case_closed_by_a_satisfied_follow_up_is_closed_at_the_county(hub, api, counties) -> None:
    state = counties["yanjiang"]
    number = dispatch_to(api, state.cfg)
    r = relay(hub)
    r.drain(120)
    desk = CountyDesk(hub, state, get_path(received(state)[0], "ticketNo"))
    now = hub.clock.now()
    desk.send("sign_off", now + timedelta(minutes=1))
    co_unit_replies(api, number)
    desk.send("reply", now + timedelta(minutes=2), "已处理。")
    act(api["supervisor"], number, action="review_reply", approved=True)
    assert act(api["agent"], number, action="follow_up", reached=True, resolved=True, satisfaction="satisfied")["state"] == "closed"
    r.drain(120)
    assert [m["opType"] for m in received(state)] == ["PF", "HFSH", "BJ"]


def test_the_county_dispatches_on_to_its_township_and_replies_up(hub, api, counties, clock) -> None:
    """二次派单 through Yanjiang's own system: the sandbox county signs off the case the centre
    dispatched to 雁江区人民政府, dispatches it on to 松涛镇 (its code YJ1105) inside its own
    deadline, reports the township's sign-off and reply, then replies the case up."""
    state = counties["yanjiang"]
    cfg = state.cfg
    body = draft(**{"place.division_code": "512002105", "place.address": "雁江区松涛镇某村"})
    number = api["agent"].post("/api/v1/cases", json=body).json()["number"]
    act(api["agent"], number, action="accept")
    act(api["agent"], number, action="dispatch", lead_unit="YJ-GOV")
    relay(hub).drain(120)
    ticket_id = get_path(received(state)[0], field_for(cfg, "ticket_id"))
    desk = CountyDesk(hub, state, ticket_id)
    due = datetime.fromisoformat(api["agent"].get(f"/api/v1/cases/{number}").json()["handling"]["due_at"])
    now = clock.now()
    desk.send("sign_off", now + timedelta(minutes=1))
    forward = {
        "opType": "ECPD",
        "opTime": format_date(cfg, now + timedelta(minutes=2)),
        "opId": "F1",
        "toUnit": "YJ1105",
        "dueTime": format_date(cfg, due - timedelta(days=2)),
    }
    resp = state.push_update(ticket_id, forward)
    assert resp.status_code == 200 and resp.json()["status"] == "applied", resp.text
    seen = api["agent"].get(f"/api/v1/cases/{number}").json()["handling"]
    assert (seen["lead_unit"], seen["holder"], seen["cascade"][0]["unit_code"]) == ("YJ-GOV", "YJ-STZ", "YJ-STZ")
    # The county's own reply is refused while its township holds the case.
    early = state.push_update(ticket_id, {"opType": "HF", "opTime": format_date(cfg, now + timedelta(minutes=3)), "opId": "R0", "content": "太早"})
    assert early.status_code == 409, early.text
    desk.send("township_sign_off", now + timedelta(minutes=4))
    desk.send("township_reply", now + timedelta(minutes=5), "松涛镇已到现场处理。")
    desk.send("reply", now + timedelta(minutes=6), "经松涛镇现场处理，问题已解决。")
    case = api["agent"].get(f"/api/v1/cases/{number}").json()
    assert case["state"] == "replied" and case["handling"]["holder"] == "YJ-GOV"
    assert case["handling"]["cascade"][0]["state"] == "replied"
    history = [h["action"] for h in api["agent"].get(f"/api/v1/cases/{number}/history").json()]
    assert history[-5:] == ["sign_off", "forward", "sign_off_forward", "reply_forward", "reply"]
